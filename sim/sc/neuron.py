"""``StochasticLIFNeuron``: the leaky integrate-and-fire neuron of the SC layer.

Per step of ``dt`` (ms), with input current ``I`` and ``xi ~ N(0, 1)``::

    if refractory > 0:  refractory -= 1; v = v_reset; spike = 0
    else:
        v = v + dt * (-(v - v_rest) / tau_mem + resistance * I) + noise_std * sqrt(dt) * xi
        spike = v >= v_threshold
        if spike: v = v_reset; refractory = refractory_period

``LIFPopulation`` runs the same update vectorised over many neurons; the
single neuron is a population of one, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["StochasticLIFNeuron", "LIFPopulation"]


class LIFPopulation:
    """``n`` independent stochastic LIF neurons updated together (see module docstring).

    Parameters are those of :class:`StochasticLIFNeuron`; ``seed`` seeds one
    shared noise generator (re-seeded by :meth:`reset_state`).
    """

    def __init__(self, n: int, v_rest: float = 0.0, v_reset: float = 0.0, v_threshold: float = 1.0,
                 tau_mem: float = 20.0, dt: float = 1.0, noise_std: float = 0.0,
                 resistance: float = 1.0, refractory_period: int = 0, seed: int | None = None) -> None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        for name, value in (("tau_mem", tau_mem), ("dt", dt)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not (np.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
        if not isinstance(refractory_period, (int, np.integer)) or refractory_period < 0:
            raise ValueError(f"refractory_period must be an int >= 0 (steps), got {refractory_period!r}")
        self.n = int(n)
        self.v_rest, self.v_reset, self.v_threshold = float(v_rest), float(v_reset), float(v_threshold)
        self.tau_mem, self.dt, self.noise_std = float(tau_mem), float(dt), float(noise_std)
        self.resistance, self.refractory_period = float(resistance), int(refractory_period)
        self.seed = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        self.reset_state()

    def reset_state(self) -> None:
        """Membrane to ``v_rest``, no refractory time, noise generator re-seeded."""
        self.v = np.full(self.n, self.v_rest)
        self.refractory = np.zeros(self.n, dtype=np.int64)
        self._rng = np.random.default_rng(self.seed)

    def step(self, current: np.ndarray | float) -> np.ndarray:
        """Advance one ``dt`` with input ``current`` (scalar or ``(n,)``); returns spikes uint8 ``(n,)``."""
        current = np.broadcast_to(np.asarray(current, dtype=np.float64), (self.n,))
        blocked = self.refractory > 0
        dv = self.dt * (-(self.v - self.v_rest) / self.tau_mem + self.resistance * current)
        if self.noise_std > 0:
            dv = dv + self.noise_std * np.sqrt(self.dt) * self._rng.standard_normal(self.n)
        v = np.where(blocked, self.v_reset, self.v + dv)
        spikes = (~blocked) & (v >= self.v_threshold)
        self.v = np.where(spikes, self.v_reset, v)
        self.refractory = np.where(spikes, self.refractory_period, np.maximum(self.refractory - 1, 0))
        return spikes.astype(np.uint8)


class StochasticLIFNeuron:
    """One stochastic LIF neuron (equations in the module docstring).

    Parameters:
        v_rest, v_reset, v_threshold: potentials.
        tau_mem: membrane time constant (ms).
        dt: step (ms).
        noise_std: standard deviation of the Gaussian membrane noise per sqrt(ms).
        resistance: membrane resistance (current -> voltage).
        refractory_period: steps held at ``v_reset`` after a spike.
        seed: noise seed (``None``: fresh entropy); the same seed reproduces exactly.
    """

    def __init__(self, v_rest: float = 0.0, v_reset: float = 0.0, v_threshold: float = 1.0,
                 tau_mem: float = 20.0, dt: float = 1.0, noise_std: float = 0.0,
                 resistance: float = 1.0, refractory_period: int = 0, seed: int | None = None) -> None:
        self._pop = LIFPopulation(1, v_rest, v_reset, v_threshold, tau_mem, dt, noise_std,
                                  resistance, refractory_period, seed)

    def step(self, I: float) -> int:  # noqa: N803 (the seed's name for the current)
        """Advance one step with input current ``I``; returns 1 on a spike, else 0."""
        if not np.isfinite(I):
            raise ValueError(f"input current must be finite, got {I!r}")
        return int(self._pop.step(float(I))[0])

    def reset_state(self) -> None:
        """Back to the initial state (membrane at rest, same noise sequence again)."""
        self._pop.reset_state()

    def get_state(self) -> dict[str, Any]:
        """``{"v", "refractory_counter"}`` of the neuron now."""
        return {"v": float(self._pop.v[0]), "refractory_counter": int(self._pop.refractory[0])}

    def process_bitstream(self, bits: np.ndarray, input_scale: float = 1.0) -> np.ndarray:
        """Feed each bit (times ``input_scale``) as the current of one step; returns the spikes (uint8).

        The membrane is sequential, so this steps once per bit; the SC
        arithmetic that produces the bits is vectorised.
        """
        bits = np.asarray(bits)
        if bits.ndim != 1:
            raise ValueError(f"bits must be a 1-D 0/1 array, got shape {bits.shape}")
        if bits.size and not np.all((bits == 0) | (bits == 1)):
            raise ValueError("bits must contain only 0 and 1")
        currents = bits.astype(np.float64) * float(input_scale)
        return np.fromiter((self._pop.step(c)[0] for c in currents), dtype=np.uint8, count=bits.size)

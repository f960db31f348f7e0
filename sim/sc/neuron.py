"""``StochasticLIFNeuron``: the leaky integrate-and-fire neuron of the SC layer.

Per step of ``dt`` (ms), with input current ``I`` and ``xi ~ N(0, 1)``::

    if refractory > 0:  refractory -= 1; v = v_reset; spike = 0
    else:
        v = v + dt * (-(v - v_rest) / tau_mem + resistance * I) + noise_std * sqrt(dt) * xi
        spike = v >= v_threshold
        if spike: v = v_reset; refractory = refractory_period

``LIFPopulation`` runs the same update vectorised over many neurons; the
single neuron is a population of one, so the two cannot drift.  ``v_rest``,
``v_reset`` and ``v_threshold`` are per neuron, so a neuron of a layer
(``SCDenseLayer.neurons[j]``) can be tuned on its own.

The noise comes from a seeded ``numpy`` generator, or from an
``entropy_source`` (the seed's hook for external entropy): any object with
``sample_normal(mean, std) -> float`` (called once per neuron and step) or
with numpy's ``normal(loc, scale, size)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["StochasticLIFNeuron", "LIFPopulation", "LayerNeuron"]


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_entropy(source: Any) -> None:
    if source is not None and not (callable(getattr(source, "sample_normal", None))
                                   or callable(getattr(source, "normal", None))):
        raise TypeError("entropy_source needs a sample_normal(mean, std) or normal(loc, scale, size) "
                        f"method, got {type(source).__name__}")


class LIFPopulation:
    """``n`` independent stochastic LIF neurons updated together (see module docstring).

    Parameters are those of :class:`StochasticLIFNeuron`; ``seed`` seeds one
    shared noise generator (re-seeded by :meth:`reset_state`).
    """

    def __init__(self, n: int, v_rest: float = 0.0, v_reset: float = 0.0, v_threshold: float = 1.0,
                 tau_mem: float = 20.0, dt: float = 1.0, noise_std: float = 0.0,
                 resistance: float = 1.0, refractory_period: int = 0, seed: int | None = None,
                 entropy_source: Any | None = None) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        for name, value in (("tau_mem", tau_mem), ("dt", dt), ("resistance", resistance)):
            if _finite(name, value) <= 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if _finite("noise_std", noise_std) < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
        if (isinstance(refractory_period, bool) or not isinstance(refractory_period, (int, np.integer))
                or refractory_period < 0):
            raise ValueError(f"refractory_period must be an int >= 0 (steps), got {refractory_period!r}")
        _check_entropy(entropy_source)
        self.n = int(n)
        self.v_rest = np.full(self.n, _finite("v_rest", v_rest))
        self.v_reset = np.full(self.n, _finite("v_reset", v_reset))
        self.v_threshold = np.full(self.n, _finite("v_threshold", v_threshold))
        self.tau_mem, self.dt, self.noise_std = float(tau_mem), float(dt), float(noise_std)
        self.resistance, self.refractory_period = float(resistance), int(refractory_period)
        self.seed = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        self.entropy_source = entropy_source
        self.reset_state()

    def reset_state(self) -> None:
        """Membrane to ``v_rest``, no refractory time, noise generator re-seeded."""
        self.v = self.v_rest.copy()
        self.refractory = np.zeros(self.n, dtype=np.int64)
        self._rng = np.random.default_rng(self.seed)

    def _noise(self) -> np.ndarray:
        scale = self.noise_std * math.sqrt(self.dt)
        src = self.entropy_source
        if src is None:
            return scale * self._rng.standard_normal(self.n)
        if callable(getattr(src, "sample_normal", None)):
            xi = np.array([float(src.sample_normal(0.0, scale)) for _ in range(self.n)])
        else:
            xi = np.asarray(src.normal(0.0, scale, self.n), dtype=np.float64).reshape(self.n)
        if not np.all(np.isfinite(xi)):
            raise ValueError("entropy_source returned a non-finite noise sample")
        return xi

    def step(self, current: np.ndarray | float) -> np.ndarray:
        """Advance one ``dt`` with input ``current`` (scalar or ``(n,)``); returns spikes uint8 ``(n,)``."""
        current = np.broadcast_to(np.asarray(current, dtype=np.float64), (self.n,))
        blocked = self.refractory > 0
        dv = self.dt * (-(self.v - self.v_rest) / self.tau_mem + self.resistance * current)
        if self.noise_std > 0:
            dv = dv + self._noise()
        v = np.where(blocked, self.v_reset, self.v + dv)
        spikes = (~blocked) & (v >= self.v_threshold)
        self.v = np.where(spikes, self.v_reset, v)
        self.refractory = np.where(spikes, self.refractory_period, np.maximum(self.refractory - 1, 0))
        return spikes.astype(np.uint8)


class _NeuronState:
    """Per-neuron views (``v``, ``v_threshold``, ``v_rest``, ``v_reset``, refractory counter)
    of neuron ``_j`` of the population ``_pop``."""

    _pop: LIFPopulation
    _j: int

    def _get(self, name: str) -> float:
        return float(getattr(self._pop, name)[self._j])

    def _set(self, name: str, value: float) -> None:
        getattr(self._pop, name)[self._j] = _finite(name, value)

    v = property(lambda self: self._get("v"), lambda self, x: self._set("v", x),
                 doc="Membrane potential now (settable).")
    v_threshold = property(lambda self: self._get("v_threshold"),
                           lambda self, x: self._set("v_threshold", x), doc="Firing threshold (settable).")
    v_rest = property(lambda self: self._get("v_rest"), lambda self, x: self._set("v_rest", x),
                      doc="Resting potential (settable; the leak pulls ``v`` towards it).")
    v_reset = property(lambda self: self._get("v_reset"), lambda self, x: self._set("v_reset", x),
                       doc="Potential after a spike (settable).")

    @property
    def refractory_counter(self) -> int:
        """Steps left in the refractory period."""
        return int(self._pop.refractory[self._j])

    def get_state(self) -> dict[str, Any]:
        """``{"v", "refractory_counter", "refractory"}`` now (``refractory`` is the seed's key)."""
        return {"v": self.v, "refractory_counter": self.refractory_counter,
                "refractory": self.refractory_counter}


class LayerNeuron(_NeuronState):
    """Neuron ``j`` of a layer's population (``SCDenseLayer.neurons[j]``): read and tune its
    state and potentials; the layer steps all neurons together."""

    def __init__(self, pop: LIFPopulation, j: int) -> None:
        self._pop, self._j = pop, int(j)

    def __getattr__(self, name: str) -> Any:  # tau_mem, dt, noise_std, resistance, ...: the layer's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._pop, name)

    def __repr__(self) -> str:
        return f"LayerNeuron(j={self._j}, v={self.v:.4g}, v_threshold={self.v_threshold:.4g})"


class StochasticLIFNeuron(_NeuronState):
    """One stochastic LIF neuron (equations in the module docstring).

    Parameters:
        v_rest, v_reset, v_threshold: potentials.
        tau_mem: membrane time constant (ms).
        dt: step (ms).
        noise_std: standard deviation of the Gaussian membrane noise per sqrt(ms).
        resistance: membrane resistance (current -> voltage), > 0.
        refractory_period: steps held at ``v_reset`` after a spike (an int >= 0).
        seed: noise seed (``None``: fresh entropy); the same seed reproduces exactly.
        entropy_source: external noise (module docstring); replaces the seeded generator.

    ``v``, ``v_threshold``, ``v_rest`` and ``v_reset`` are attributes (settable).

    Raises:
        ValueError / TypeError: a parameter out of range or of the wrong type.
    """

    def __init__(self, v_rest: float = 0.0, v_reset: float = 0.0, v_threshold: float = 1.0,
                 tau_mem: float = 20.0, dt: float = 1.0, noise_std: float = 0.0,
                 resistance: float = 1.0, refractory_period: int = 0, seed: int | None = None,
                 entropy_source: Any | None = None) -> None:
        self._pop = LIFPopulation(1, v_rest, v_reset, v_threshold, tau_mem, dt, noise_std,
                                  resistance, refractory_period, seed, entropy_source)
        self._j = 0

    tau_mem = property(lambda self: self._pop.tau_mem)
    dt = property(lambda self: self._pop.dt)
    noise_std = property(lambda self: self._pop.noise_std)
    resistance = property(lambda self: self._pop.resistance)
    refractory_period = property(lambda self: self._pop.refractory_period)
    seed = property(lambda self: self._pop.seed)
    entropy_source = property(lambda self: self._pop.entropy_source)

    def step(self, I: float) -> int:  # noqa: N803 (the seed's name for the current)
        """Advance one step with input current ``I``; returns 1 on a spike, else 0."""
        return int(self._pop.step(_finite("input current", I))[0])

    def reset_state(self) -> None:
        """Back to the initial state (membrane at rest, same noise sequence again)."""
        self._pop.reset_state()

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
        if _finite("input_scale", input_scale) < 0:
            raise ValueError(f"input_scale must be >= 0, got {input_scale!r}")
        currents = bits.astype(np.float64) * float(input_scale)
        return np.fromiter((self._pop.step(c)[0] for c in currents), dtype=np.uint8, count=bits.size)

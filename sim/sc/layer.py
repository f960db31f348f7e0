"""``SCDenseLayer``: a population of stochastic LIF neurons fed by SC dot products.

Each step (``dt_ms``) and neuron ``j``: the inputs ``x_i`` in ``[x_min, x_max]``
and weights ``w_ji`` in ``[w_min, w_max]`` become probabilities
(``(v - min) / (max - min)``), are multiplied bit by bit (AND, or XNOR for
``mode="bipolar"``) and popcounted over ``length`` bits; the normalised
result ``y = count / (length * n_inputs)`` (bipolar: ``(2 y - 1 + 1) / 2``,
i.e. the same ``[0, 1]`` scale) sets the current
``I = y_min + (y_max - y_min) * y`` of a :class:`StochasticLIFNeuron`.
Input SNGs are per input, weight SNGs per synapse, so neurons that share
weights still see independent streams; streams run free from step to step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sim.sc.bitstream import to_probability
from sim.sc.matvec import SCMatVec
from sim.sc.neuron import LayerNeuron, LIFPopulation
from sim.sc.recorder import SpikeRecorder

__all__ = ["SCDenseLayer"]

_NEURON_KEYS = ("v_rest", "v_reset", "v_threshold", "tau_mem", "noise_std", "resistance",
                "refractory_period", "seed")


class SCDenseLayer:
    """Dense layer of stochastic LIF neurons computed with bitstreams.

    Parameters:
        n_neurons: neurons in the layer.
        x_inputs: ``n_inputs`` input values in ``[x_min, x_max]``.
        weight_values: ``n_inputs`` weights shared by every neuron, or
            ``(n_neurons, n_inputs)``; values in ``[w_min, w_max]``.
        x_min, x_max, w_min, w_max: value ranges mapped to probability 0 and 1.
        length: bitstream length per step.
        y_min, y_max: current for a product mean of 0 and 1.
        dt_ms: step in ms (the neurons' ``dt``).
        neuron_params: extra :class:`StochasticLIFNeuron` parameters
            (``v_threshold``, ``tau_mem``, ``noise_std``, ...).
        base_seed: seeds the SNGs and the neuron noise; ``None`` = fresh entropy.
        sng: ``"lfsr"`` (default) or ``"sobol"``; width: SNG width in bits;
        mode: ``"unipolar"`` (AND, default) or ``"bipolar"`` (XNOR).

    Attributes:
        neurons: one :class:`~sim.sc.neuron.LayerNeuron` per neuron (``v``,
            ``v_threshold``, ``v_rest`` readable and settable per neuron).
        recorders: one :class:`~sim.sc.recorder.SpikeRecorder` per neuron.

    ``n_neurons=0`` is allowed: ``run`` then returns an empty ``(0, steps)`` array.

    Raises:
        ValueError: inputs and weights differ in length, a value is outside its
            range, or a parameter is invalid.
    """

    def __init__(self, n_neurons: int, x_inputs: Sequence[float], weight_values: Sequence[float] | np.ndarray,
                 x_min: float, x_max: float, w_min: float, w_max: float, length: int = 2048,
                 y_min: float = 0.0, y_max: float = 0.1, dt_ms: float = 1.0,
                 neuron_params: dict[str, Any] | None = None, base_seed: int | None = None, *,
                 sng: str = "lfsr", width: int = 16, mode: str = "unipolar") -> None:
        if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)) or n_neurons < 0:
            raise ValueError(f"n_neurons must be an int >= 0, got {n_neurons!r}")
        x = np.asarray(x_inputs, dtype=np.float64).reshape(-1)
        w = np.asarray(weight_values, dtype=np.float64)
        if x.size == 0:
            raise ValueError("x_inputs is empty")
        if w.ndim == 1:
            if w.size != x.size:
                raise ValueError(f"x_inputs has {x.size} values but weight_values has {w.size}")
            w = np.broadcast_to(w, (n_neurons, x.size))
        elif w.shape != (n_neurons, x.size):
            raise ValueError(f"weight_values must have {x.size} values or shape ({n_neurons}, {x.size}), "
                             f"got {w.shape}")
        if not (np.isfinite(y_min) and np.isfinite(y_max)):
            raise ValueError("y_min and y_max must be finite")
        params = dict(neuron_params or {})
        unknown = set(params) - set(_NEURON_KEYS)
        if unknown:
            raise ValueError(f"unknown neuron_params {sorted(unknown)}; known: {', '.join(_NEURON_KEYS)}")
        self.n_neurons, self.n_inputs = int(n_neurons), int(x.size)
        self.length, self.mode = int(length), mode
        self.y_min, self.y_max, self.dt_ms = float(y_min), float(y_max), float(dt_ms)
        self.base_seed = (base_seed if base_seed is not None
                          else int(np.random.SeedSequence().generate_state(1)[0]))
        self.x_prob = to_probability(x, x_min, x_max, "x_inputs")[None, :]
        w_prob = to_probability(w, w_min, w_max, "weight_values")
        self._matvec = (SCMatVec(w_prob, length=self.length, sng=sng, width=width, mode=mode,
                                 base_seed=self.base_seed, key=(0,)) if self.n_neurons else None)
        params.setdefault("seed", self.base_seed)
        self._neurons = LIFPopulation(self.n_neurons, dt=self.dt_ms, **params)
        self.neurons = [LayerNeuron(self._neurons, j) for j in range(self.n_neurons)]
        self.recorders = [SpikeRecorder(self.get_spike_trains, j, self.dt_ms)
                          for j in range(self.n_neurons)]
        self.reset()

    def reset(self) -> None:
        """Neurons to rest, spike record cleared, SNGs back to their seeds."""
        self._neurons.reset_state()
        self._step = 0
        self._spikes: list[np.ndarray] = []

    def currents(self, step: int) -> np.ndarray:
        """Input currents ``(n_neurons,)`` of step ``step`` (SC dot products mapped to ``[y_min, y_max]``)."""
        if self.n_neurons == 0:
            return np.zeros(0)
        return self._current(self._matvec.counts(self.x_prob, step)[0])

    def _current(self, count: np.ndarray) -> np.ndarray:
        y = count / (self.length * self.n_inputs)  # unipolar: mean of p_x p_w; bipolar: (u + 1) / 2
        return self.y_min + (self.y_max - self.y_min) * y

    def run(self, T: int) -> np.ndarray:  # noqa: N803 (the seed's name)
        """Run ``T`` more steps; returns all spike trains so far, ``(n_neurons, steps)`` uint8."""
        if not isinstance(T, (int, np.integer)) or T < 0:
            raise ValueError(f"T must be an int >= 0, got {T!r}")
        if self.n_neurons == 0:
            self._step += int(T)
            return self.get_spike_trains()
        block = self._matvec.block_steps
        bar = None
        if T * self.n_neurons * self.n_inputs * self.length > 4e10:
            from tqdm import tqdm
            bar = tqdm(total=int(T), desc="SCDenseLayer", unit="step")
        for lo in range(0, int(T), block):
            k = min(block, int(T) - lo)
            counts = self._matvec.counts_steps(self.x_prob[0], self._step, k)
            for cur in self._current(counts):
                self._spikes.append(self._neurons.step(cur))
            self._step += k
            if bar is not None:
                bar.update(k)
        if bar is not None:
            bar.close()
        return self.get_spike_trains()

    def get_spike_trains(self) -> np.ndarray:
        """Spikes so far, ``(n_neurons, steps)`` uint8."""
        if not self._spikes or self.n_neurons == 0:
            return np.zeros((self.n_neurons, self._step if self.n_neurons == 0 else 0), dtype=np.uint8)
        return np.stack(self._spikes, axis=1)

    def summary(self) -> dict[str, Any]:
        """``{"n_neurons", "stats": [{"neuron", "total_spikes", "firing_rate_hz"}], "avg_firing_rate_hz"}``."""
        trains = self.get_spike_trains()
        seconds = trains.shape[1] * self.dt_ms / 1000.0
        totals = trains.sum(axis=1, dtype=np.int64)
        rates = totals / seconds if seconds > 0 else np.zeros(self.n_neurons)
        return {
            "n_neurons": self.n_neurons,
            "stats": [{"neuron": j, "total_spikes": int(totals[j]), "firing_rate_hz": float(rates[j])}
                      for j in range(self.n_neurons)],
            "avg_firing_rate_hz": float(rates.mean()) if self.n_neurons else 0.0,
        }

"""``SpikeRecorder``: one neuron's spike train in a layer, with the seed's recorder API.

``SCDenseLayer.recorders[j]`` is a read-only view of row ``j`` of the
layer's spike record (``spikes``, ``as_array``, ``total_spikes``,
``firing_rate_hz``, ``isi_histogram``), so it never disagrees with
``get_spike_trains``; clearing goes through ``SCDenseLayer.reset``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["SpikeRecorder"]


class SpikeRecorder:
    """Spike train of neuron ``index`` of a layer.

    Parameters:
        trains: callable returning the layer's ``(n_neurons, steps)`` uint8 spikes.
        index: the neuron.
        dt_ms: step length (ms).
    """

    def __init__(self, trains: Callable[[], np.ndarray], index: int, dt_ms: float) -> None:
        self._trains, self.index, self.dt_ms = trains, int(index), float(dt_ms)

    @property
    def spikes(self) -> list[int]:
        """The spikes so far, one 0/1 per step."""
        return self.as_array().tolist()

    def as_array(self) -> np.ndarray:
        """The spikes so far, ``(steps,)`` uint8."""
        return self._trains()[self.index].copy()

    def total_spikes(self) -> int:
        return int(self.as_array().sum(dtype=np.int64))

    def firing_rate_hz(self) -> float:
        """Spikes per second of simulated time (0 before the first step)."""
        n = self.as_array().size
        return self.total_spikes() / (n * self.dt_ms / 1000.0) if n and self.dt_ms > 0 else 0.0

    def isi_histogram(self, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Histogram of inter-spike intervals in ms (zeros on ``[0, 1]`` with fewer than two spikes)."""
        idx = np.flatnonzero(self.as_array())
        if idx.size < 2:
            return np.zeros(bins, dtype=int), np.linspace(0, 1, bins + 1)
        return np.histogram(np.diff(idx) * self.dt_ms, bins=bins)

    def __repr__(self) -> str:
        return f"SpikeRecorder(index={self.index}, steps={self.as_array().size})"

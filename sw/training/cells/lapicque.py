"""Lapicque cell: LIF written with explicit RC parameters.

Equations (``CELL_EQUATIONS["lapicque"]``)::

    v = v + (dt / tau) * (v_rest - v + r * I)
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_linear import LapicqueScan
from sw.training.surrogates import atan_surrogate


class LapicqueCell(SpikingCell):
    """RC membrane: ``forward(current, v) -> (spike, v)``.

    Args:
        tau: membrane time constant (> 0, same unit as ``dt``).
        r: membrane resistance.
        dt: timestep (``dt / tau`` in (0, 1]).
        threshold: firing threshold (trainable if ``learn_threshold``).
        v_rest: resting potential.
    """

    EQUATIONS = CELL_EQUATIONS["lapicque"]
    _FUSED_ANY_RESET = True

    def __init__(self, tau: float = 20.0, r: float = 1.0, dt: float = 1.0,
                 threshold: float = 1.0, v_rest: float = 0.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        if tau <= 0 or dt <= 0 or dt > tau:
            raise ValueError(f"LapicqueCell: need 0 < dt <= tau, got dt={dt}, tau={tau}")
        self._add_plain("tau", tau)
        self._add_plain("r", r)
        self._add_plain("dt", dt)
        self._add_plain("v_rest", v_rest)

    def _step(self, inputs, states):
        (current,), (v,) = inputs, states
        v = v + (self.dt / self.tau) * (self.v_rest - v + self.r * current)
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (v,)

    def _fused_sequence(self, seqs, states):
        (current,), (v,) = seqs, states
        # r is a buffer: with the usual r = 1 the product (and its backward) is the input itself
        r_current = current if float(self.r) == 1.0 else self.r * current
        spikes, v_all = LapicqueScan.apply(r_current, v, self.dt / self.tau, self.v_rest,
                                           self.threshold, *self._surrogate_args(), self.reset,
                                           self.detach_reset)
        return spikes, (v_all,)

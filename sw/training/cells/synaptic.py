"""Synaptic (current-based, dual-exponential) LIF cell.

Equations (``CELL_EQUATIONS["synaptic"]``)::

    i_syn = alpha * i_syn + I
    v = beta * v + i_syn
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_linear import LinearScan, MembraneScan
from sw.training.surrogates import atan_surrogate


class SynapticCell(SpikingCell):
    """LIF with a filtered synaptic current: ``forward(current, i_syn, v) -> (spike, i_syn, v)``.

    Args:
        alpha: synaptic current decay in (0, 1] (trainable if ``learn_alpha``).
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
    """

    EQUATIONS = CELL_EQUATIONS["synaptic"]
    _FUSED_ANY_RESET = True

    def __init__(self, alpha: float = 0.9, beta: float = 0.8, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True,
                 learn_alpha: bool = False) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        self._add_decay("alpha", alpha, learn_alpha)
        self._add_decay("beta", beta, learn_beta)

    def _step(self, inputs, states):
        (current,), (i_syn, v) = inputs, states
        i_syn = self.alpha * i_syn + current
        v = self.beta * v + i_syn
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (i_syn, v)

    def _fused_sequence(self, seqs, states):
        (current,), (i_syn, v) = seqs, states
        i_syn_all = LinearScan.apply(current, self.alpha, i_syn)
        spikes, v_all = MembraneScan.apply(i_syn_all, None, v, self.beta, self.threshold,
                                           *self._surrogate_args(), self.reset, self.detach_reset)
        return spikes, (i_syn_all, v_all)

"""Second-order LIF cell (Dayan & Abbott 2001): an inertial input term.

Equations (``CELL_EQUATIONS["second_order_lif"]``)::

    a = alpha * a + I
    v = beta * v + a
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


class SecondOrderLIFCell(SpikingCell):
    """``forward(current, a, v) -> (spike, a, v)``.

    Args:
        alpha: decay of the acceleration term ``a`` in (0, 1].
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
    """

    EQUATIONS = CELL_EQUATIONS["second_order_lif"]
    _FUSED_ANY_RESET = True

    def __init__(self, alpha: float = 0.95, beta: float = 0.9, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        self._add_decay("alpha", alpha)
        self._add_decay("beta", beta, learn_beta)

    def _step(self, inputs, states):
        (current,), (a, v) = inputs, states
        a = self.alpha * a + current
        v = self.beta * v + a
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (a, v)

    def _fused_sequence(self, seqs, states):
        (current,), (a, v) = seqs, states
        a_all = LinearScan.apply(current, self.alpha, a)
        spikes, v_all = MembraneScan.apply(a_all, None, v, self.beta, self.threshold,
                                           *self._surrogate_args(), self.reset, self.detach_reset)
        return spikes, (a_all, v_all)

"""Adaptive LIF cell (Bellec et al. 2020): threshold rises with each spike.

Equations (``CELL_EQUATIONS["alif"]``)::

    v = beta * v + I
    theta = threshold + beta_adapt * a
    spike = v > theta
    v = v - spike * theta
    a = rho * a + spike
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_adaptive import ALIFScan
from sw.training.surrogates import atan_surrogate


class ALIFCell(SpikingCell):
    """Adaptive-threshold LIF: ``forward(current, v, a) -> (spike, v, a)``.

    Args:
        beta: membrane decay in [0, 1], 0 = no memory (trainable if ``learn_beta``, then in (0, 1)).
        threshold: baseline threshold (trainable if ``learn_threshold``).
        rho: adaptation decay in (0, 1].
        beta_adapt: threshold increase per unit of adaptation ``a``.
    """

    EQUATIONS = CELL_EQUATIONS["alif"]

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, rho: float = 0.99,
                 beta_adapt: float = 1.8,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        self._add_decay("beta", beta, learn_beta)
        self._add_decay("rho", rho)
        self._add_plain("beta_adapt", beta_adapt)

    def _step(self, inputs, states):
        (current,), (v, a) = inputs, states
        v = self.beta * v + current
        theta = self.threshold + self.beta_adapt * a
        spike = self._spike(v - theta)
        v = self._reset(v, spike, theta)
        a = self.rho * a + spike
        return spike, (v, a)

    def _fused_sequence(self, seqs, states):
        (current,), (v, a) = seqs, states
        spikes, v_all, a_all = ALIFScan.apply(current, v, a, self.beta, self.threshold, self.rho,
                                              self.beta_adapt, *self._surrogate_args())
        return spikes, (v_all, a_all)

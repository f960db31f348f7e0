"""Adaptive exponential integrate-and-fire cell (Brette & Gerstner 2005).

Equations (``CELL_EQUATIONS["adex"]``)::

    v = beta * v + (1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4.0)) - w + I
    w = rho * w + a * (v - v_rest)
    spike = v > threshold
    v = v - spike * threshold
    w = w + b * spike
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.cells.expif import add_upstroke_params, exp_upstroke
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_adaptive import ExpScan
from sw.training.surrogates import atan_surrogate


class AdExCell(SpikingCell):
    """AdEx: ``forward(current, v, w) -> (spike, v, w)``.

    Args:
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
        delta_t, v_rh: exponential upstroke slope (> 0) and rheobase.
        a: subthreshold adaptation coupling; b: spike-triggered adaptation jump.
        rho: adaptation decay in (0, 1]; v_rest: resting potential seen by ``w``.
    """

    EQUATIONS = CELL_EQUATIONS["adex"]

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, delta_t: float = 0.5,
                 v_rh: float = 0.8, a: float = 0.01, b: float = 0.1, rho: float = 0.99,
                 v_rest: float = 0.0, surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        add_upstroke_params(self, beta, learn_beta, delta_t, v_rh)
        self._add_plain("a", a)
        self._add_plain("b", b)
        self._add_decay("rho", rho)
        self._add_plain("v_rest", v_rest)

    def _step(self, inputs, states):
        (current,), (v, w) = inputs, states
        beta = self.beta
        v = beta * v + exp_upstroke(v, beta, self.delta_t, self.v_rh) - w + current
        w = self.rho * w + self.a * (v - self.v_rest)
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        w = w + self.b * spike
        return spike, (v, w)

    def _fused_sequence(self, seqs, states):
        (current,), (v, w) = seqs, states
        spikes, v_all, w_all = ExpScan.apply(current, v, w, self.beta, self.threshold,
                                             self.delta_t, self.v_rh, self.a, self.b, self.rho,
                                             self.v_rest, *self._surrogate_args())
        return spikes, (v_all, w_all)

"""Exponential integrate-and-fire cell (Fourcaud-Trocme et al. 2003).

Equations (``CELL_EQUATIONS["expif"]``)::

    v = beta * v + (1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4.0)) + I
    spike = v > threshold
    v = v - spike * threshold

The exponent is capped at 4 so the upstroke stays finite (and fits Q8.8).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_adaptive import ExpScan
from sw.training.surrogates import atan_surrogate


def exp_upstroke(v: Tensor, beta: Tensor, delta_t: Tensor, v_rh: Tensor) -> Tensor:
    """``(1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4.0))``, in the text's order."""
    return (1 - beta) * delta_t * torch.exp(torch.clamp((v - v_rh) / delta_t, max=4.0))


def add_upstroke_params(cell: SpikingCell, beta: float, learn_beta: bool, delta_t: float,
                        v_rh: float) -> None:
    """Register ``exp_upstroke``'s parameters on ``cell`` (``ExpIFCell``, ``AdExCell``):
    ``beta`` (decay), ``delta_t`` (> 0) and ``v_rh``."""
    if delta_t <= 0:
        raise ValueError(f"{type(cell).__name__}: delta_t must be > 0, got {delta_t}")
    cell._add_decay("beta", beta, learn_beta)
    cell._add_plain("delta_t", delta_t)
    cell._add_plain("v_rh", v_rh)


class ExpIFCell(SpikingCell):
    """Exponential IF: ``forward(current, v) -> (spike, v)``.

    Args:
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
        delta_t: slope factor of the exponential (> 0).
        v_rh: rheobase potential where the upstroke takes over.
    """

    EQUATIONS = CELL_EQUATIONS["expif"]

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, delta_t: float = 0.5,
                 v_rh: float = 0.8, surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        add_upstroke_params(self, beta, learn_beta, delta_t, v_rh)

    def _step(self, inputs, states):
        (current,), (v,) = inputs, states
        beta = self.beta
        v = beta * v + exp_upstroke(v, beta, self.delta_t, self.v_rh) + current
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (v,)

    def _fused_sequence(self, seqs, states):
        (current,), (v,) = seqs, states
        zero = torch.zeros((), dtype=current.dtype, device=current.device)
        spikes, v_all, _ = ExpScan.apply(current, v, None, self.beta, self.threshold,
                                         self.delta_t, self.v_rh, zero, zero, zero, zero,
                                         *self._surrogate_args())
        return spikes, (v_all,)

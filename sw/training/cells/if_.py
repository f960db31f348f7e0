"""Integrate-and-fire cell: LIF without leak.

Equations (``CELL_EQUATIONS["if"]``)::

    v = v + I
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_linear import MembraneScan
from sw.training.surrogates import atan_surrogate


class IFCell(SpikingCell):
    """Integrate-and-fire neuron: ``forward(current, v) -> (spike, v)``.

    Args:
        threshold: firing threshold (trainable if ``learn_threshold``).
        surrogate_fn: spike function with surrogate gradient.
    """

    EQUATIONS = CELL_EQUATIONS["if"]
    _FUSED_ANY_RESET = True

    def __init__(self, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)

    def _step(self, inputs, states):
        (current,), (v,) = inputs, states
        v = v + current
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (v,)

    def _fused_sequence(self, seqs, states):
        one = torch.ones((), dtype=seqs[0].dtype, device=seqs[0].device)
        spikes, v = MembraneScan.apply(seqs[0], None, states[0], one, self.threshold,
                                       *self._surrogate_args(), self.reset, self.detach_reset)
        return spikes, (v,)

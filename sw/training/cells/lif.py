"""Leaky integrate-and-fire cell (Lapicque 1907), subtract reset.

Equations (``CELL_EQUATIONS["lif"]``)::

    v = beta * v + I
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_linear import MembraneScan
from sw.training.surrogates import atan_surrogate


class LIFCell(SpikingCell):
    """Leaky integrate-and-fire neuron: ``forward(current, v) -> (spike, v)``.

    Args:
        beta: membrane decay in [0, 1] (0: no memory); learned as ``sigmoid(beta_raw)`` if
            ``learn_beta`` (then in (0, 1)).
        threshold: firing threshold (trainable if ``learn_threshold``).
        surrogate_fn: spike function with surrogate gradient.
        reset, detach_reset: reset rule and its gradient (``SpikingCell``).

    ``forward_sequence`` runs all timesteps in one fused autograd node
    (``sw.training.fused_linear.MembraneScan``, every reset) when ``surrogate_fn`` is a
    ``Surrogate``.
    """

    EQUATIONS = CELL_EQUATIONS["lif"]
    _FUSED_ANY_RESET = True

    def __init__(self, beta: float = 0.9, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        self.learn_beta = bool(learn_beta)
        self._add_decay("beta", beta, learn_beta)

    def _step(self, inputs, states):
        (current,), (v,) = inputs, states
        v = self.beta * v + current
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (v,)

    def forward_sequence_with_membrane(self, inputs: Tensor, v: Tensor | None = None
                                       ) -> tuple[Tensor, Tensor]:
        """Run ``inputs (T, batch, ...)``; return ``(spikes, v)`` both ``(T, batch, ...)``.

        ``v`` is the post-reset membrane at every step.  Observers are notified.
        """
        (seq,) = self._as_sequences(inputs)
        v0 = None if v is None else v.expand(seq.shape[1:])
        if self._fusable():
            spikes, v_all = MembraneScan.apply(seq, None, v0, self.beta, self.threshold,
                                               *self._surrogate_args(), self.reset,
                                               self.detach_reset)
        else:  # any callable, or fusion off: step loop through autograd
            spk_list, v_list = [], []
            st = (torch.zeros_like(seq[0]) if v0 is None else v0,)
            for t in range(seq.shape[0]):
                spk, st = self._step((seq[t],), st)
                spk_list.append(spk)
                v_list.append(st[0])
            spikes, v_all = torch.stack(spk_list), torch.stack(v_list)
        if self._observers:
            self._notify(spikes, {"v": v_all}, True)
        return spikes, v_all

    def forward_sequence(self, inputs: Tensor | Sequence[Tensor],
                         states: Sequence[Tensor | None] | None = None
                         ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Fused multi-step path: ``(spikes (T, batch, ...), (v_final,))``."""
        v0 = states[0] if states else None
        spikes, v_all = self.forward_sequence_with_membrane(inputs, v0)
        return spikes, (v_all[-1].clone(),)  # clone: do not keep all of v_all alive

    def _fused_sequence(self, seqs, states):  # marks the cell fusable; forward_sequence runs it
        raise NotImplementedError

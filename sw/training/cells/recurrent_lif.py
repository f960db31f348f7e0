"""Recurrent LIF cell: LIF plus a trainable recurrent current from last step's spikes.

Equations (``CELL_EQUATIONS["recurrent_lif"]``), with ``R = W_rec @ spike[t-1]``::

    v = beta * v + I + R
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.fused_recurrent import RecurrentLIFScan
from sw.training.surrogates import atan_surrogate


class RecurrentLIFCell(SpikingCell):
    """``forward(current, v=None, spike_prev=None) -> (spike, v)``, like the other one-state cells.

    The equation input ``R`` is ``spike_prev @ recurrent.weight.T``.  The
    previous step's spike is kept inside the cell: ``v=None`` starts a new
    sequence (zero membrane, no previous spike); otherwise the spike of the
    last call is used, unless ``spike_prev`` is passed explicitly.
    ``reset_state()`` forgets it.  ``forward_sequence`` takes ``states`` as
    ``(v,)`` or ``(v, spike_prev)`` and returns ``(spikes, (v,))``.

    Args:
        n_neurons: population size (last dimension of the input).
        beta: membrane decay in [0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
        recurrent_scale: std of the initial recurrent weights.
        reset, detach_reset: reset rule and its gradient (``SpikingCell``).
    """

    EQUATIONS = CELL_EQUATIONS["recurrent_lif"]

    def __init__(self, n_neurons: int, beta: float = 0.9, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 recurrent_scale: float = 0.1, reset: str = "subtract",
                 detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        if isinstance(n_neurons, bool) or int(n_neurons) < 1:
            raise ValueError(f"RecurrentLIFCell: n_neurons must be >= 1, got {n_neurons}")
        self.n_neurons = int(n_neurons)
        self._add_decay("beta", beta, learn_beta)
        self.recurrent = nn.Linear(self.n_neurons, self.n_neurons, bias=False)
        nn.init.normal_(self.recurrent.weight, std=recurrent_scale)
        self.spike_prev: Tensor | None = None

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("I",)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("v",)

    def reset_state(self) -> None:
        """Forget the previous spike (the next step starts a new sequence)."""
        self.spike_prev = None

    def recurrent_current(self, spike_prev: Tensor) -> Tensor:
        """The equations' ``R`` input: ``spike_prev @ W_rec.T``."""
        return torch.nn.functional.linear(spike_prev, self.recurrent.weight)

    def _previous(self, current: Tensor, v: Tensor | None, spike_prev: Tensor | None) -> Tensor:
        if spike_prev is None:
            spike_prev = None if v is None else self.spike_prev
        if spike_prev is None:
            return torch.zeros_like(current)
        if spike_prev.shape != current.shape:
            raise ValueError(f"RecurrentLIFCell: previous spike {tuple(spike_prev.shape)} does not "
                             f"match the input {tuple(current.shape)}; pass v=None to start a "
                             "new sequence or call reset_state()")
        return spike_prev

    def forward(self, current: Tensor, v: Tensor | None = None,  # type: ignore[override]
                spike_prev: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One timestep: ``(spike, v)``; the spike is kept for the next call."""
        if not isinstance(current, Tensor):
            raise TypeError("RecurrentLIFCell: input I must be a Tensor")
        prev = self._previous(current, v, spike_prev)
        spike, (v_new,) = self._step((current,), (torch.zeros_like(current) if v is None else v,
                                                  prev))
        self.spike_prev = spike
        if self._observers:
            self._notify(spike, {"v": v_new}, False)
        return spike, v_new

    def forward_sequence(self, inputs: Tensor | Sequence[Tensor],
                         states: Sequence[Tensor | None] | None = None
                         ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """All timesteps of ``inputs (T, batch, n)``: ``(spikes, (v_final,))``.

        ``states``: ``None``, ``(v,)`` or ``(v, spike_prev)`` (a new sequence
        unless ``v`` is given, as in ``forward``).
        """
        (seq,) = self._as_sequences(inputs)
        st = list(states or ()) + [None, None]
        v, prev = st[0], self._previous(seq[0], st[0], st[1])
        v = torch.zeros_like(seq[0]) if v is None else v
        if self._fusable():
            if seq.shape[-1] != self.n_neurons:
                raise ValueError(f"RecurrentLIFCell: input has {seq.shape[-1]} features, "
                                 f"expected n_neurons={self.n_neurons}")
            out, v_all = RecurrentLIFScan.apply(seq, v.expand(seq.shape[1:]),
                                                prev.expand(seq.shape[1:]),
                                                self.recurrent.weight, self.beta, self.threshold,
                                                *self._surrogate_args())
            self.spike_prev = out[-1]
            if self._observers:
                self._notify(out, {"v": v_all}, True)
            return out, (v_all[-1].clone(),)
        spikes, traj = [], []
        for t in range(seq.shape[0]):
            prev, (v,) = self._step((seq[t],), (v, prev))
            spikes.append(prev)
            if self._observers:
                traj.append(v)
        self.spike_prev = prev
        out = torch.stack(spikes)
        if self._observers:
            self._notify(out, {"v": torch.stack(traj)}, True)
        return out, (v,)

    def _fused_sequence(self, seqs, states):  # marks the cell fusable; forward_sequence runs it
        raise NotImplementedError

    def __getstate__(self):  # the kept spike is transient autograd state, not model state
        state = super().__getstate__()
        state["spike_prev"] = None
        return state

    def _step(self, inputs, states):
        (current,), (v, spike_prev) = inputs, states
        if current.shape[-1] != self.n_neurons:
            raise ValueError(f"RecurrentLIFCell: input has {current.shape[-1]} features, "
                             f"expected n_neurons={self.n_neurons}")
        v = self.beta * v + current + self.recurrent_current(spike_prev)
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (v,)

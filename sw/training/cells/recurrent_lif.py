"""Recurrent LIF cell: LIF plus a trainable recurrent current from last step's spikes.

Equations (``CELL_EQUATIONS["recurrent_lif"]``), with ``R = W_rec @ spike[t-1]``::

    v = beta * v + I + R
    spike = v > threshold
    v = v - spike * threshold
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from sw.training.cells.base import SpikingCell
from sw.training.equations import CELL_EQUATIONS
from sw.training.surrogates import atan_surrogate


class RecurrentLIFCell(SpikingCell):
    """``forward(current, v, spike_prev) -> (spike, v, spike)``.

    The equation input ``R`` is computed here as ``spike_prev @ recurrent.weight.T``;
    the cell's states are therefore ``("v", "spike_prev")``.

    Args:
        n_neurons: population size (last dimension of the input).
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
        recurrent_scale: std of the initial recurrent weights.
    """

    EQUATIONS = CELL_EQUATIONS["recurrent_lif"]

    def __init__(self, n_neurons: int, beta: float = 0.9, threshold: float = 1.0,
                 surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 recurrent_scale: float = 0.1) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold)
        if int(n_neurons) < 1:
            raise ValueError(f"RecurrentLIFCell: n_neurons must be >= 1, got {n_neurons}")
        self.n_neurons = int(n_neurons)
        self._add_decay("beta", beta, learn_beta)
        self.recurrent = nn.Linear(self.n_neurons, self.n_neurons, bias=False)
        nn.init.normal_(self.recurrent.weight, std=recurrent_scale)

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("I",)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("v", "spike_prev")

    def recurrent_current(self, spike_prev: Tensor) -> Tensor:
        """The equations' ``R`` input: ``spike_prev @ W_rec.T``."""
        return torch.nn.functional.linear(spike_prev, self.recurrent.weight)

    def _step(self, inputs, states):
        (current,), (v, spike_prev) = inputs, states
        if current.shape[-1] != self.n_neurons:
            raise ValueError(f"RecurrentLIFCell: input has {current.shape[-1]} features, "
                             f"expected n_neurons={self.n_neurons}")
        v = self.beta * v + current + self.recurrent_current(spike_prev)
        spike = self._spike(v - self.threshold)
        v = v - spike.detach() * self.threshold
        return spike, (v, spike)

"""Alpha cell (Rall 1967): separate excitatory and inhibitory synaptic currents.

Equations (``CELL_EQUATIONS["alpha"]``)::

    i_exc = alpha_exc * i_exc + I_exc
    i_inh = alpha_inh * i_inh + I_inh
    v = beta * v + i_exc - i_inh
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


class AlphaCell(SpikingCell):
    """``forward(i_exc_in, i_inh_in, i_exc, i_inh, v) -> (spike, i_exc, i_inh, v)``.

    Both input currents are given as non-negative drive; the inhibitory one is
    subtracted from the membrane.  ``forward_sequence`` takes a pair of
    ``(T, batch, ...)`` tensors ``(exc, inh)``.

    Args:
        alpha_exc, alpha_inh: synaptic decays in (0, 1].
        beta: membrane decay in (0, 1] (trainable if ``learn_beta``).
        threshold: firing threshold (trainable if ``learn_threshold``).
    """

    EQUATIONS = CELL_EQUATIONS["alpha"]
    _FUSED_ANY_RESET = True

    def __init__(self, alpha_exc: float = 0.9, alpha_inh: float = 0.85, beta: float = 0.9,
                 threshold: float = 1.0, surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__(surrogate_fn, threshold, learn_threshold, reset=reset,
                         detach_reset=detach_reset)
        self._add_decay("alpha_exc", alpha_exc)
        self._add_decay("alpha_inh", alpha_inh)
        self._add_decay("beta", beta, learn_beta)

    def _step(self, inputs, states):
        (i_exc_in, i_inh_in), (i_exc, i_inh, v) = inputs, states
        i_exc = self.alpha_exc * i_exc + i_exc_in
        i_inh = self.alpha_inh * i_inh + i_inh_in
        v = self.beta * v + i_exc - i_inh
        spike = self._spike(v - self.threshold)
        v = self._reset(v, spike, self.threshold)
        return spike, (i_exc, i_inh, v)

    def _fused_sequence(self, seqs, states):
        (exc_in, inh_in), (i_exc, i_inh, v) = seqs, states
        exc = LinearScan.apply(exc_in, self.alpha_exc, i_exc)
        inh = LinearScan.apply(inh_in, self.alpha_inh, i_inh)
        spikes, v_all = MembraneScan.apply(exc, inh, v, self.beta, self.threshold,
                                           *self._surrogate_args(), self.reset, self.detach_reset)
        return spikes, (exc, inh, v_all)

"""``SpikingSequential``: stack Linear layers, spiking cells and leaky readouts, run over time.

``forward(x (T, batch, ...)) -> (T, batch, ...)``: the modules run in order,
each over the whole sequence before the next (exact for a feed-forward
stack; recurrence lives inside a cell, e.g. ``RecurrentLIFCell``):

* a ``SpikingCell`` runs ``forward_sequence`` (the fused scan for ``LIFCell``)
  and passes its spikes on;
* a state module with ``forward_sequence`` (``ExpSynapse``, ``LeakyReadout``)
  passes its state trajectory on;
* any other module (``nn.Linear``, ``nn.Dropout``, ...) is stateless and is
  applied to every timestep in one call; a plain ``nn.Linear`` (no hooks) goes through
  ``sw.training.sparse.spike_linear``, so sparse spike inputs -- a bool spike train
  included -- take the gather-add path.

Seed 003's network, for example, is (docs/training.md has the whole recipe; ``h =
20 (1 - e^{-1/20})`` makes the Euler step brainpy's exponential-Euler one)::

    SpikingSequential(nn.Linear(100, 4), ExpSynapse(tau=10.0),
                      LapicqueCell(tau=20.0, dt=h, surrogate_fn=relu_grad, detach_reset=False),
                      nn.Linear(4, 2), LeakyReadout(tau=10.0))
"""

from __future__ import annotations

from torch import Tensor, nn

from sw.training.cells.base import SpikingCell
from sw.training.sparse import spike_linear

__all__ = ["SpikingSequential"]


def _plain_linear(module: nn.Module) -> bool:
    """An ``nn.Linear`` itself (not a subclass) whose forward nothing hooks into."""
    return (type(module) is nn.Linear and not module._forward_hooks
            and not module._forward_pre_hooks and not nn.modules.module._global_forward_hooks
            and not nn.modules.module._global_forward_pre_hooks)


class SpikingSequential(nn.Sequential):
    """``nn.Sequential`` whose ``forward`` takes and returns time-major ``(T, batch, ...)`` tensors.

    After a forward, ``last_states`` maps each stateful module's index to its
    final state (a tuple for cells), e.g. to continue a sequence with
    ``forward(x, states=net.last_states)``; ``reset_state()`` clears it.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        self.last_states: dict[int, object] = {}

    def reset_state(self) -> None:
        """Forget the final states of the last forward."""
        self.last_states = {}

    def forward(self, x: Tensor, states: dict[int, object] | None = None) -> Tensor:  # type: ignore[override]
        """Run every module over all timesteps of ``x (T, batch, ...)``.

        Args:
            x: time-major input.
            states: initial states by module index (``last_states`` of an
                earlier call); missing ones start at zero.
        """
        if not isinstance(x, Tensor) or x.dim() < 2:
            raise ValueError("SpikingSequential expects a (T, batch, ...) tensor")
        states = states or {}
        final: dict[int, object] = {}
        h = x
        for i, module in enumerate(self):
            init = states.get(i)
            if isinstance(module, SpikingCell):
                if len(module.input_names) != 1:
                    raise TypeError(f"SpikingSequential: module {i} ({type(module).__name__}) takes "
                                    f"{len(module.input_names)} inputs; only one-input cells stack")
                h, final[i] = module.forward_sequence(h, init)
            elif callable(getattr(module, "forward_sequence", None)):
                h, final[i] = module.forward_sequence(h, init)
            elif _plain_linear(module):
                h = spike_linear(h, module.weight, module.bias)
            else:
                T, B = h.shape[:2]
                y = module(h.reshape(T * B, *h.shape[2:]))
                h = y.reshape(T, B, *y.shape[1:])
        self.last_states = final
        return h

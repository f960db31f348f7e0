"""Shared machinery of the spiking cells: parameters, state handling, observers.

A cell subclass sets ``EQUATIONS`` (its entry of ``CELL_EQUATIONS``) and
implements ``_step(inputs, states) -> (spike, new_states)`` following that
text line by line.  The base class provides

* ``forward(*inputs, *states) -> (spike, *new_states)`` (``None`` state = zeros),
* ``forward_sequence(inputs (T, batch, ...), states=None) -> (spikes, final_states)``,
* ``equation_params()`` for the exporter,
* the observer protocol (``add_observer(fn) -> handle``; ``fn(cell, spikes,
  states, time_major)`` after each forward).

Reset (every cell): ``reset="subtract"`` (default, the ``EQUATIONS`` text),
``"zero"`` (membrane to 0 after a spike) or ``"none"``; for the last two the
cell's ``EQUATIONS`` is the variant from ``equations.reset_variant``.

Gradients: with ``detach_reset=True`` (default, as snnTorch's) the spike in
the reset term is detached; every other use of the spike carries the
surrogate gradient.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from sw.training.equations import RESETS, NeuronEquations, reset_variant
from sw.training.fused import fused_enabled
from sw.training.surrogates import Surrogate, atan_surrogate

Observer = Callable[["SpikingCell", Tensor, dict, bool], None]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class SpikingCell(nn.Module):
    """Base class of all neuron cells (see the module docstring).

    Args:
        surrogate_fn: spike function, ``surrogate_fn(v - threshold) -> spikes``.
        threshold: firing threshold.
        learn_threshold: make the threshold a trainable parameter.
        reset: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (module docstring).
        detach_reset: detach the spike in the reset term from the gradient.
    """

    EQUATIONS: NeuronEquations
    _FUSED_ANY_RESET = False

    def __init__(self, surrogate_fn: Callable[[Tensor], Tensor] = atan_surrogate,
                 threshold: float = 1.0, learn_threshold: bool = False, *,
                 reset: str = "subtract", detach_reset: bool = True) -> None:
        super().__init__()
        if not callable(surrogate_fn):
            raise TypeError(f"surrogate_fn must be callable, got {type(surrogate_fn).__name__}")
        if reset not in RESETS:
            raise ValueError(f"{type(self).__name__}: reset must be one of {RESETS}, got {reset!r}")
        self.reset = reset
        self.detach_reset = bool(detach_reset)
        if reset != "subtract":
            self.EQUATIONS = reset_variant(type(self).EQUATIONS, reset)
        self.surrogate_fn = surrogate_fn
        self._observers: "OrderedDict[int, Observer]" = OrderedDict()
        self._decays: list[str] = []
        self._plain: list[str] = []
        self.learn_threshold = bool(learn_threshold)
        self._add_plain("threshold", threshold, learn_threshold)
        if reset == "zero":
            self._add_plain("v_reset", 0.0)

    def _reset(self, v: Tensor, spike: Tensor, amount: Tensor) -> Tensor:
        """Membrane after the reset: ``v - s * amount`` / ``v - s * v`` / ``v``."""
        s = spike.detach() if self.detach_reset else spike
        if self.reset == "subtract":
            return v - s * amount
        if self.reset == "zero":
            return v - s * (v - self.v_reset)
        return v

    # -- parameters -------------------------------------------------------
    def _add_plain(self, name: str, value: float, learn: bool = False) -> None:
        """A scalar parameter stored as-is (trainable or a buffer)."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{type(self).__name__}: {name} must be finite, got {value}")
        t = torch.tensor(value, dtype=torch.float32)
        if learn:
            self.register_parameter(name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)
        self._plain.append(name)

    def _add_decay(self, name: str, value: float, learn: bool = False) -> None:
        """A decay factor in [0, 1] (0: no memory); when learned it is ``sigmoid(raw)`` so it
        stays in (0, 1), and the initial value must lie there."""
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{type(self).__name__}: {name} must be in [0, 1], got {value}")
        if learn:
            if not 0.0 < value < 1.0:
                raise ValueError(f"{type(self).__name__}: a learned {name} must be in (0, 1), "
                                 f"got {value}")
            self.register_parameter(f"{name}_raw", nn.Parameter(torch.tensor(_logit(value))))
        else:
            self.register_buffer(f"{name}_fixed", torch.tensor(value, dtype=torch.float32))
        self._decays.append(name)

    def _decay(self, name: str) -> Tensor:
        raw = self._parameters.get(f"{name}_raw")
        if raw is not None:
            return torch.sigmoid(raw)
        return self._buffers[f"{name}_fixed"]

    def __getattr__(self, name: str):
        decays = self.__dict__.get("_decays")
        if decays is not None and name in decays:
            return self._decay(name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value) -> None:
        decays = self.__dict__.get("_decays")
        if decays is not None and name in decays:
            self.set_decay(name, float(value))
            return
        super().__setattr__(name, value)

    def set_decay(self, name: str, value: float) -> None:
        """Set a decay factor in place (kept trainable if it was learned)."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{type(self).__name__}: {name} must be in [0, 1], got {value}")
        with torch.no_grad():
            raw = self._parameters.get(f"{name}_raw")
            if raw is not None:
                if not 0.0 < value < 1.0:
                    raise ValueError(f"{type(self).__name__}: a learned {name} must be in (0, 1)")
                raw.fill_(_logit(value))
            else:
                self._buffers[f"{name}_fixed"].fill_(value)

    def equation_params(self) -> dict[str, float]:
        """Current values of the parameters named in ``EQUATIONS.params``."""
        return {name: float(getattr(self, name).detach()) for name in self.EQUATIONS.params}

    # -- state handling ---------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        """Per-step inputs ``forward`` takes, in order."""
        return self.EQUATIONS.inputs

    @property
    def state_names(self) -> tuple[str, ...]:
        """States ``forward`` takes and returns, in order."""
        return self.EQUATIONS.states

    def _split(self, args: Sequence) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        n_in, n_st = len(self.input_names), len(self.state_names)
        if len(args) < n_in or len(args) > n_in + n_st:
            raise TypeError(f"{type(self).__name__}.forward takes inputs {self.input_names} "
                            f"then optional states {self.state_names}; got {len(args)} arguments")
        inputs = tuple(args[:n_in])
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, Tensor):
                raise TypeError(f"{type(self).__name__}: input {name} must be a Tensor")
        ref = inputs[0]
        states = list(args[n_in:]) + [None] * (n_in + n_st - len(args))
        return inputs, tuple(torch.zeros_like(ref) if s is None else s for s in states)

    def _step(self, inputs: tuple[Tensor, ...], states: tuple[Tensor, ...]
              ) -> tuple[Tensor, tuple[Tensor, ...]]:
        raise NotImplementedError

    def _spike(self, x: Tensor) -> Tensor:
        return self.surrogate_fn(x)

    # -- public forward paths ---------------------------------------------
    def forward(self, *args: Tensor | None) -> tuple[Tensor, ...]:
        """One timestep: ``forward(*inputs, *states) -> (spike, *new_states)``."""
        inputs, states = self._split(args)
        spike, new_states = self._step(inputs, states)
        if self._observers:
            self._notify(spike, dict(zip(self.state_names, new_states)), False)
        return (spike, *new_states)

    def forward_sequence(self, inputs: Tensor | Sequence[Tensor],
                         states: Sequence[Tensor | None] | None = None
                         ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run all timesteps of ``inputs`` (``(T, batch, ...)``, or a tuple of such
        tensors for cells with several inputs).

        Returns:
            ``(spikes (T, batch, ...), final_states)``.
        """
        seqs = self._as_sequences(inputs)
        T = seqs[0].shape[0]
        init = tuple(states) if states is not None else ()
        _, st = self._split((*[s[0] for s in seqs], *init))
        if self._fusable():
            st = tuple(x.expand(seqs[0].shape[1:]) for x in st)
            out, named_traj = self._fused_sequence(seqs, st)
            if self._observers:
                self._notify(out, dict(zip(self.state_names, named_traj)), True)
            # clone: the final state must not keep whole trajectories alive
            return out, tuple(x[-1].clone() for x in named_traj)
        spikes, traj = [], []
        for t in range(T):
            spk, st = self._step(tuple(s[t] for s in seqs), st)
            spikes.append(spk)
            if self._observers:
                traj.append(st)
        out = torch.stack(spikes)
        if self._observers:
            named = {n: torch.stack([s[i] for s in traj]) for i, n in enumerate(self.state_names)}
            self._notify(out, named, True)
        return out, st

    def _fusable(self) -> bool:
        """True when ``forward_sequence`` can take the fused scan: the cell has one
        (``_fused_sequence``), the surrogate is a ``Surrogate`` (its backward formula is
        known), the reset is the default detached subtraction and fusion is enabled
        (``sw.training.fused.fused_scans``).  Cells whose scan handles every reset set
        ``_FUSED_ANY_RESET``."""
        if (type(self)._fused_sequence is SpikingCell._fused_sequence or not fused_enabled()
                or not isinstance(self.surrogate_fn, Surrogate)):
            return False
        if self.reset == "subtract" and self.detach_reset:
            return True
        return (self._FUSED_ANY_RESET  # and v_reset still 0, what the fused scans assume
                and (self.reset != "zero" or float(self.v_reset) == 0.0))

    def _surrogate_args(self) -> tuple:
        """``(derivative, params)`` of the ``Surrogate`` for the fused backward formulas."""
        sur = self.surrogate_fn
        return sur._derivative, dict(sur.params)

    def _fused_sequence(self, seqs: tuple[Tensor, ...], states: tuple[Tensor, ...]
                        ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Fused multi-step scan: ``(spikes, trajectories)``, one ``(T, batch, ...)`` tensor
        per state in ``state_names`` order (cells that have one override this)."""
        raise NotImplementedError

    def _as_sequences(self, inputs: Tensor | Sequence[Tensor]) -> tuple[Tensor, ...]:
        seqs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        if len(seqs) != len(self.input_names):
            raise TypeError(f"{type(self).__name__}.forward_sequence needs {len(self.input_names)} "
                            f"input sequence(s) {self.input_names}, got {len(seqs)}")
        for s in seqs:
            if not isinstance(s, Tensor) or s.dim() < 2:
                raise ValueError(f"{type(self).__name__}.forward_sequence: inputs must be tensors "
                                 "shaped (T, batch, ...)")
            if s.shape != seqs[0].shape:
                raise ValueError(f"{type(self).__name__}.forward_sequence: input shapes differ: "
                                 f"{[tuple(x.shape) for x in seqs]}")
        return seqs

    # -- observers ----------------------------------------------------------
    def add_observer(self, fn: Observer) -> RemovableHandle:
        """Call ``fn(cell, spikes, states, time_major)`` after each forward.

        ``states`` maps state names to tensors; for ``forward_sequence`` the
        tensors are trajectories shaped like ``spikes`` (leading T axis,
        ``time_major=True``).  Tensors are still in the autograd graph.
        Returns a handle whose ``remove()`` detaches the observer.
        """
        if not callable(fn):
            raise TypeError("observer must be callable")
        handle = RemovableHandle(self._observers)
        self._observers[handle.id] = fn
        return handle

    def _notify(self, spikes: Tensor, states: dict, time_major: bool) -> None:
        for fn in list(self._observers.values()):
            fn(self, spikes, states, time_major)

    def extra_repr(self) -> str:
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.equation_params().items())
        sur = self.surrogate_fn
        return f"{ps}, surrogate={sur.name if isinstance(sur, Surrogate) else sur}"

    def __getstate__(self):  # observers are not picklable state
        state = self.__dict__.copy()
        state["_observers"] = OrderedDict()
        return state

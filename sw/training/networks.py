"""Classifier networks: ``SpikingNet`` (dense) and ``ConvSpikingNet`` (28x28 images).

Both run layer by layer over the whole sequence: a layer's synaptic current
for all T steps is one batched ``Linear``/``Conv2d`` call, then its LIF cell
runs the fused multi-step scan (spike inputs of large layers go through the
gather-add ``sw.training.sparse.spike_linear``).  When the input is a static sample repeated
over time (an ``expand``-ed tensor with stride 0 on the time axis, which is
what ``train_epoch`` passes), the first layer's current is computed once and
broadcast over T instead of T times.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sw.training.cells import CELLS
from sw.training.cells.base import SpikingCell
from sw.training.cells.lif import LIFCell
from sw.training.sparse import spike_linear
from sw.training.surrogates import Surrogate, atan_surrogate, get_surrogate


def _is_static(x: Tensor) -> bool:
    """True for a tensor repeated over dim 0 by ``expand`` (no copy)."""
    return x.dim() >= 1 and x.shape[0] > 1 and x.stride(0) == 0


def _per_step(layer: Callable[[Tensor], Tensor], x: Tensor, sample_dims: int) -> Tensor:
    """Apply ``layer`` to every timestep of ``x (T, batch, *sample)`` in one call."""
    T, B = x.shape[:2]
    if _is_static(x):
        y = layer(x[0])
        return y.unsqueeze(0).expand(T, *y.shape)
    if sample_dims == 1:
        return layer(x)  # Linear broadcasts over leading dims
    y = layer(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


def _linear(fc: nn.Linear, x: Tensor) -> Tensor:
    """``fc`` over every timestep of ``x (T, batch, n)``; sparse (spike) inputs of a large
    layer take the gather-add path (``sw.training.sparse.spike_linear``)."""
    if _is_static(x):
        return _per_step(fc, x, 1)
    return spike_linear(x, fc.weight, fc.bias)


def _linear_wb(weight: Tensor, bias: Tensor | None, x: Tensor) -> Tensor:
    """``x @ weight.T + bias`` over every timestep of ``x (T, batch, n)`` (as ``_linear``)."""
    if _is_static(x):
        y = F.linear(x[0], weight, bias)
        return y.unsqueeze(0).expand(x.shape[0], *y.shape)
    return spike_linear(x, weight, bias)


def _split(weight: Tensor, bias: Tensor | None) -> tuple[tuple[Tensor, Tensor | None], ...]:
    """``(w+, b+), (w-, b-)``: the positive parts and the magnitudes of the negative parts, the
    split the hardware path makes for the two-input ``alpha`` neuron (``hw.quantize``,
    ``sim.golden``: ``I_exc`` through the positive weights, ``I_inh`` through the others)."""
    return ((F.relu(weight), None if bias is None else F.relu(bias)),
            (F.relu(-weight), None if bias is None else F.relu(-bias)))


def _two_inputs(cell: nn.Module) -> bool:
    return tuple(cell.input_names) == ("I_exc", "I_inh")


def _dense_current(fc: nn.Linear, cell: nn.Module, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
    """The cell's input sequence(s) for layer ``fc`` fed by ``x (T, batch, n)``."""
    if _two_inputs(cell):
        return tuple(_linear_wb(w, b, x) for w, b in _split(fc.weight, fc.bias))  # type: ignore[return-value]
    return _linear(fc, x)


def run_cell(cell: nn.Module, current: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    """``(spikes, v)`` of ``cell`` over the sequence ``current``, both ``(T, batch, ...)``;
    ``v`` is the post-reset membrane at every step (every cell kind has a state ``v``)."""
    if isinstance(cell, LIFCell):
        return cell.forward_sequence_with_membrane(current)
    seen: dict = {}

    def keep(_cell, _spikes, states, time_major):
        if time_major:
            seen["v"] = states["v"]

    handle = cell.add_observer(keep)
    try:
        spikes, _ = cell.forward_sequence(current)
    finally:
        handle.remove()
    return spikes, seen["v"]


CELL_KINDS: tuple[str, ...] = tuple(CELLS)
"""Neuron kinds ``SpikingNet(cell=...)`` takes (``hw.ir`` kinds)."""

CONV_CELL_KINDS: tuple[str, ...] = tuple(k for k in CELL_KINDS if k != "recurrent_lif")
"""Neuron kinds ``ConvSpikingNet(cell=...)`` takes: every kind but ``recurrent_lif`` (its
recurrent weight is per population, which ``hw.ir.Conv2d`` layers do not carry)."""


def has_beta(kind: str) -> bool:
    """True when the cell of ``kind`` has a membrane decay ``beta`` (``if``/``lapicque`` do not)."""
    return "beta" in CELLS[kind].EQUATIONS.params


def make_cell(kind: str, n_neurons: int, *, beta: float = 0.9,
              surrogate_fn: Callable = atan_surrogate, learn_beta: bool = False,
              learn_threshold: bool = False) -> SpikingCell:
    """A cell of ``kind`` (one of :data:`CELL_KINDS`) for a population of ``n_neurons``.

    ``beta`` sets the membrane decay of the kinds that have one (their other parameters keep
    the cell's defaults); ``if`` and ``lapicque`` have none, so ``beta`` is not used for them
    and ``learn_beta`` is refused.  ``recurrent_lif`` gets an ``n_neurons`` x ``n_neurons``
    recurrent weight.
    """
    if kind not in CELLS:
        raise ValueError(f"unknown cell kind {kind!r}; known: {', '.join(CELL_KINDS)}")
    kw: dict = {"surrogate_fn": surrogate_fn, "learn_threshold": learn_threshold}
    if has_beta(kind):
        kw.update(beta=beta, learn_beta=learn_beta)
    elif learn_beta:
        raise ValueError(f"the {kind} cell has no beta to learn")
    if kind == "recurrent_lif":
        return CELLS[kind](n_neurons, **kw)
    return CELLS[kind](**kw)


def _surrogate_config(fn: Callable) -> dict | None:
    return fn.config() if isinstance(fn, Surrogate) else None


def _resolve_surrogate(fn: Callable | str | dict) -> Callable:
    return fn if callable(fn) else get_surrogate(fn)


class SpikingNet(nn.Module):
    """Stacked ``[Linear -> cell]`` classifier (LIF by default) counting output spikes over T steps.

    Args:
        n_input: input features.
        n_hidden: width of each hidden layer.
        n_output: classes.
        n_layers: number of HIDDEN layers (2 gives n_input-h-h-n_output).
        beta: membrane decay of every LIF cell.
        surrogate_fn: spike function (a ``Surrogate``, or its registry name).
        learn_beta, learn_threshold: train each layer's beta / threshold.
        cell: neuron kind of every layer (:data:`CELL_KINDS`, default ``"lif"``; see
            :func:`make_cell`).  ``alpha`` layers feed ``I_exc`` through the positive weights
            and ``I_inh`` through the magnitudes of the negative ones (the split ``hw.quantize``
            makes); ``recurrent_lif`` layers add ``W_rec @ spike[t-1]``.

    Attributes:
        fcs: ``nn.ModuleList`` of ``nn.Linear`` (n_layers hidden, then output).
        lifs: ``nn.ModuleList`` of cells (``LIFCell`` by default), one per entry of ``fcs``.
        config: constructor arguments (JSON-able), used by checkpoints and export.
    """

    def __init__(self, n_input: int, n_hidden: int, n_output: int, n_layers: int = 2,
                 beta: float = 0.9, surrogate_fn: Callable | str | dict = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 cell: str = "lif") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"SpikingNet: unknown cell kind {cell!r}; known: {', '.join(CELL_KINDS)}")
        for name, val, lo in (("n_input", n_input, 1), ("n_hidden", n_hidden, 1),
                              ("n_output", n_output, 1), ("n_layers", n_layers, 0)):
            if not isinstance(val, int) or isinstance(val, bool) or val < lo:
                raise ValueError(f"SpikingNet: {name} must be an int >= {lo}, got {val!r}")
        surrogate_fn = _resolve_surrogate(surrogate_fn)
        sizes = [n_input] + [n_hidden] * n_layers + [n_output]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(
            make_cell(cell, n, beta=beta, surrogate_fn=surrogate_fn, learn_beta=learn_beta,
                      learn_threshold=learn_threshold) for n in sizes[1:])
        self.input_shape: tuple[int, ...] = (n_input,)
        self.config = {"n_input": n_input, "n_hidden": n_hidden, "n_output": n_output,
                       "n_layers": n_layers, "beta": float(beta),
                       "surrogate_fn": _surrogate_config(surrogate_fn),
                       "learn_beta": bool(learn_beta), "learn_threshold": bool(learn_threshold),
                       "cell": cell}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (T, batch, n_input)`` -> ``(spike_counts, membrane_acc)``, both ``(batch, n_output)``.

        ``membrane_acc`` is the output layer's post-reset membrane summed over T.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_shape[0]:
            raise ValueError(f"SpikingNet expects (T, batch, {self.input_shape[0]}), "
                             f"got {tuple(x.shape)}")
        h = x
        v = h
        for fc, lif in zip(self.fcs, self.lifs):
            h, v = run_cell(lif, _dense_current(fc, lif, h))
        return h.sum(0), v.sum(0)

    def to_sc_weights(self) -> list[Tensor]:
        """Each layer's weight matrix min-max scaled to [0, 1] (detached copies)."""
        return [_minmax(fc.weight) for fc in self.fcs]


class ConvSpikingNet(nn.Module):
    """Convolutional SNN for ``(T, batch, 1, 28, 28)`` images.

    ``Conv2d(1,12,5) -> max_pool(2) -> LIF -> Conv2d(12,32,5) -> max_pool(2) -> LIF
    -> flatten -> Linear(512, n_output) -> LIF``; pooling acts on the current,
    before the LIF (the shape ``hw.ir.Conv2d`` describes).  ``cell=`` puts another neuron
    kind in all three places (as ``SpikingNet``; an ``alpha`` layer pools its excitatory and
    inhibitory currents separately, as ``sim.golden`` does); ``recurrent_lif`` is refused
    (``hw.ir`` has no recurrent weights for conv layers).

    Attributes:
        convs: the two ``nn.Conv2d``; fc: the output ``nn.Linear``;
        lifs: the three cells; config: constructor arguments.
    """

    def __init__(self, n_output: int = 10, beta: float = 0.9,
                 surrogate_fn: Callable | str | dict = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False,
                 cell: str = "lif") -> None:
        super().__init__()
        if not isinstance(n_output, int) or n_output < 1:
            raise ValueError(f"ConvSpikingNet: n_output must be an int >= 1, got {n_output!r}")
        if cell not in CONV_CELL_KINDS:
            raise ValueError(f"ConvSpikingNet: cell {cell!r} is not available for conv layers; "
                             f"known: {', '.join(CONV_CELL_KINDS)}")
        surrogate_fn = _resolve_surrogate(surrogate_fn)
        self.convs = nn.ModuleList([nn.Conv2d(1, 12, 5), nn.Conv2d(12, 32, 5)])
        self.fc = nn.Linear(32 * 4 * 4, n_output)
        self.lifs = nn.ModuleList(
            make_cell(cell, n, beta=beta, surrogate_fn=surrogate_fn, learn_beta=learn_beta,
                      learn_threshold=learn_threshold) for n in (12, 32, n_output))
        self.input_shape: tuple[int, ...] = (1, 28, 28)
        self.config = {"n_output": n_output, "beta": float(beta),
                       "surrogate_fn": _surrogate_config(surrogate_fn),
                       "learn_beta": bool(learn_beta), "learn_threshold": bool(learn_threshold),
                       "cell": cell}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (T, batch, 1, 28, 28)`` -> ``(spike_counts, membrane_acc)`` ``(batch, n_output)``."""
        if x.dim() != 5 or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"ConvSpikingNet expects (T, batch, 1, 28, 28), got {tuple(x.shape)}")
        h = x
        for conv, lif in zip(self.convs, self.lifs):
            if _two_inputs(lif):
                cur = tuple(_per_step(lambda z, w=w, b=b, c=conv: F.max_pool2d(
                    F.conv2d(z, w, b, c.stride, c.padding), 2), h, 3)
                    for w, b in _split(conv.weight, conv.bias))
            else:
                cur = _per_step(lambda z, c=conv: F.max_pool2d(c(z), 2), h, 3)
            h, _ = run_cell(lif, cur)
        h = h.flatten(2)
        spikes, v = run_cell(self.lifs[2], _dense_current(self.fc, self.lifs[2], h))
        return spikes.sum(0), v.sum(0)

    def to_sc_weights(self) -> list[Tensor]:
        """Each layer's weights (conv kernels, then the dense matrix) min-max scaled to [0, 1]."""
        return [_minmax(c.weight) for c in self.convs] + [_minmax(self.fc.weight)]


def _minmax(w: Tensor) -> Tensor:
    w = w.detach()
    lo, hi = w.min(), w.max()
    span = hi - lo
    if span <= 0:
        return torch.full_like(w, 0.5)
    return (w - lo) / span


MODELS: dict[str, type[nn.Module]] = {"SpikingNet": SpikingNet, "ConvSpikingNet": ConvSpikingNet}
"""Model classes checkpoints can rebuild, by class name."""

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


def _surrogate_config(fn: Callable) -> dict | None:
    return fn.config() if isinstance(fn, Surrogate) else None


def _resolve_surrogate(fn: Callable | str | dict) -> Callable:
    return fn if callable(fn) else get_surrogate(fn)


class SpikingNet(nn.Module):
    """Stacked ``[Linear -> LIFCell]`` classifier counting output spikes over T steps.

    Args:
        n_input: input features.
        n_hidden: width of each hidden layer.
        n_output: classes.
        n_layers: number of HIDDEN layers (2 gives n_input-h-h-n_output).
        beta: membrane decay of every LIF cell.
        surrogate_fn: spike function (a ``Surrogate``, or its registry name).
        learn_beta, learn_threshold: train each layer's beta / threshold.

    Attributes:
        fcs: ``nn.ModuleList`` of ``nn.Linear`` (n_layers hidden, then output).
        lifs: ``nn.ModuleList`` of ``LIFCell``, one per entry of ``fcs``.
        config: constructor arguments (JSON-able), used by checkpoints and export.
    """

    def __init__(self, n_input: int, n_hidden: int, n_output: int, n_layers: int = 2,
                 beta: float = 0.9, surrogate_fn: Callable | str | dict = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False) -> None:
        super().__init__()
        for name, val, lo in (("n_input", n_input, 1), ("n_hidden", n_hidden, 1),
                              ("n_output", n_output, 1), ("n_layers", n_layers, 0)):
            if not isinstance(val, int) or isinstance(val, bool) or val < lo:
                raise ValueError(f"SpikingNet: {name} must be an int >= {lo}, got {val!r}")
        surrogate_fn = _resolve_surrogate(surrogate_fn)
        sizes = [n_input] + [n_hidden] * n_layers + [n_output]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(
            LIFCell(beta=beta, surrogate_fn=surrogate_fn, learn_beta=learn_beta,
                    learn_threshold=learn_threshold) for _ in self.fcs)
        self.input_shape: tuple[int, ...] = (n_input,)
        self.config = {"n_input": n_input, "n_hidden": n_hidden, "n_output": n_output,
                       "n_layers": n_layers, "beta": float(beta),
                       "surrogate_fn": _surrogate_config(surrogate_fn),
                       "learn_beta": bool(learn_beta), "learn_threshold": bool(learn_threshold)}

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
            h, v = lif.forward_sequence_with_membrane(_linear(fc, h))
        return h.sum(0), v.sum(0)

    def to_sc_weights(self) -> list[Tensor]:
        """Each layer's weight matrix min-max scaled to [0, 1] (detached copies)."""
        return [_minmax(fc.weight) for fc in self.fcs]


class ConvSpikingNet(nn.Module):
    """Convolutional SNN for ``(T, batch, 1, 28, 28)`` images.

    ``Conv2d(1,12,5) -> max_pool(2) -> LIF -> Conv2d(12,32,5) -> max_pool(2) -> LIF
    -> flatten -> Linear(512, n_output) -> LIF``; pooling acts on the current,
    before the LIF (the shape ``hw.ir.Conv2d`` describes).

    Attributes:
        convs: the two ``nn.Conv2d``; fc: the output ``nn.Linear``;
        lifs: the three ``LIFCell``; config: constructor arguments.
    """

    def __init__(self, n_output: int = 10, beta: float = 0.9,
                 surrogate_fn: Callable | str | dict = atan_surrogate,
                 learn_beta: bool = False, learn_threshold: bool = False) -> None:
        super().__init__()
        if not isinstance(n_output, int) or n_output < 1:
            raise ValueError(f"ConvSpikingNet: n_output must be an int >= 1, got {n_output!r}")
        surrogate_fn = _resolve_surrogate(surrogate_fn)
        self.convs = nn.ModuleList([nn.Conv2d(1, 12, 5), nn.Conv2d(12, 32, 5)])
        self.fc = nn.Linear(32 * 4 * 4, n_output)
        self.lifs = nn.ModuleList(
            LIFCell(beta=beta, surrogate_fn=surrogate_fn, learn_beta=learn_beta,
                    learn_threshold=learn_threshold) for _ in range(3))
        self.input_shape: tuple[int, ...] = (1, 28, 28)
        self.config = {"n_output": n_output, "beta": float(beta),
                       "surrogate_fn": _surrogate_config(surrogate_fn),
                       "learn_beta": bool(learn_beta), "learn_threshold": bool(learn_threshold)}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (T, batch, 1, 28, 28)`` -> ``(spike_counts, membrane_acc)`` ``(batch, n_output)``."""
        if x.dim() != 5 or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"ConvSpikingNet expects (T, batch, 1, 28, 28), got {tuple(x.shape)}")
        h = x
        for conv, lif in zip(self.convs, self.lifs):
            h, _ = lif.forward_sequence_with_membrane(
                _per_step(lambda z, c=conv: F.max_pool2d(c(z), 2), h, 3))
        h = h.flatten(2)
        spikes, v = self.lifs[2].forward_sequence_with_membrane(_linear(self.fc, h))
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

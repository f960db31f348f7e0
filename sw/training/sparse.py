"""``spike_linear``: a ``Linear`` layer that exploits sparse (spike) inputs.

Below a measured input density, ``x @ W.T`` is computed as a gather-add of the
weight rows of the active inputs (``embedding_bag`` in ``sum`` mode over the
non-zero columns of each row, weighted by their values so any sparse input is
exact); below ``WEIGHT_GRAD_DENSITY`` (0 here: never, see below) the weight
gradient ``g.T @ x`` likewise as a gather-add of the output-gradient rows of each
input's active samples.  The input gradient
``g @ W`` stays dense (it is dense).  Above the density, or for small layers,
the dense matmul is used.

Crossovers measured with ``python bench/train_throughput.py --sparse`` on this
machine (1 thread, float32, binary inputs; 3200 rows, 512 or 784 inputs, 512
outputs; two runs): the gather-add forward is 1.6-3.6x faster at 1-3 % density,
0.5-1.3x at 6 % and 0.4-0.8x (slower) at 10 %, so it is taken below 8 %; the
gather-add weight gradient was slower at every density (0.5-0.7x even at 1-3 %), so it is not
taken (``WEIGHT_GRAD_DENSITY = 0``; the kernel stays, tested, for other
machines).  With 128 outputs neither wins (a 64/128-wide matmul is already
cheaper than finding the non-zeros).  An earlier measurement had put the
crossovers at ~15-20 % (forward) and ~7-10 % (weight gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SPARSE_MIN_OUT = 256
"""Layers with fewer outputs always run dense (measured: no win at 128)."""
SPARSE_MIN_ROWS = 256
"""Fewer rows (time x batch) than this always run dense."""
FORWARD_DENSITY = 0.08
"""Gather-add forward below this fraction of non-zero inputs (measured: wins at 6 %,
loses at 10 %)."""
WEIGHT_GRAD_DENSITY = 0.0
"""Gather-add weight gradient below this fraction of non-zero inputs (0: never; measured
slower than the dense ``g.T @ x`` at every density down to 1 %)."""


def _bags(index: Tensor, n: int) -> Tensor:
    """Start offsets of ``n`` bags given the (sorted) bag index of every element."""
    counts = torch.bincount(index, minlength=n)
    return torch.cumsum(counts, 0).sub_(counts)


def gather_linear(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight.T`` for a 2-D ``x`` as a gather-add over its non-zeros."""
    r, c = x.nonzero(as_tuple=True)
    vals = x[r, c]
    psw = None if bool((vals == 1).all()) else vals
    return F.embedding_bag(c, weight.t().contiguous(), _bags(r, x.shape[0]), mode="sum",
                           per_sample_weights=psw)


def gather_weight_grad(g: Tensor, x: Tensor) -> Tensor:
    """``g.T @ x`` (the weight gradient) as a gather-add over the non-zeros of ``x``."""
    c, r = x.t().nonzero(as_tuple=True)
    vals = x[r, c]
    psw = None if bool((vals == 1).all()) else vals
    return F.embedding_bag(r, g.contiguous(), _bags(c, x.shape[1]), mode="sum",
                           per_sample_weights=psw).t()


class _SparseLinear(torch.autograd.Function):
    """Gather-add forward; dense input gradient; weight gradient by density."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, density: float):  # type: ignore[override]
        out = gather_linear(x, weight)
        if bias is not None:
            out.add_(bias)
        ctx.save_for_backward(x, weight)
        ctx.density, ctx.has_bias = density, bias is not None
        return out

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = g @ weight if need[0] else None
        gw = None
        if need[1]:
            gw = gather_weight_grad(g, x) if ctx.density < WEIGHT_GRAD_DENSITY else g.t() @ x
        gb = g.sum(0) if need[2] and ctx.has_bias else None
        return gx, gw, gb, None


def spike_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, as a gather-add when ``x`` is sparse enough.

    ``x`` is ``(..., in_features)``; the choice is made per call from the layer size
    and the measured fraction of non-zeros (module constants).
    """
    n_out = weight.shape[0]
    rows = x.numel() // max(x.shape[-1], 1)
    if (n_out < SPARSE_MIN_OUT or rows < SPARSE_MIN_ROWS or x.layout != torch.strided
            or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64)):
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1])
    density = float(torch.count_nonzero(flat)) / max(flat.numel(), 1)
    if density >= FORWARD_DENSITY:
        return F.linear(x, weight, bias)
    out = _SparseLinear.apply(flat, weight, bias, density)
    return out.reshape(*x.shape[:-1], n_out)

"""``spike_linear``: a ``Linear`` layer that exploits sparse (spike) inputs.

Below a measured input density, ``x @ W.T`` is computed as a gather-add of the
weight rows of the active inputs, and the weight gradient ``g.T @ x`` as a
scatter-add of the output-gradient rows of each input's active samples; the input
gradient ``g @ W`` stays dense (it is dense).  Above the density, or for small
layers, the dense matmul is used.

Two implementations, chosen automatically:

* the compiled kernels of ``sw.training.sparse_kernels`` (C, built on first use), for
  layers of at least ``KERNEL_MIN_OUT`` outputs: forward below
  ``KERNEL_FORWARD_DENSITY``, weight gradient below ``KERNEL_WEIGHT_GRAD_DENSITY``.
  Measured with ``python bench/train_throughput.py --sparse`` (1 thread, float32, binary
  inputs, CSR built inside the timed forward): the forward is 1.6-8x faster than the
  dense matmul up to 20-25 % density on 3200 x 784/512 -> 512 and 1.3-2.7x on
  1600 x 64/128 -> 128, even (0.9-1.0x) at 40 %; the weight gradient 1.2-19x faster up
  to 20 % and 0.75-1.0x at 25 %.  With 64 outputs the forward does not win above 3 %.
* where the kernels cannot build, torch's ``embedding_bag`` (``gather_linear``): the
  forward below ``FORWARD_DENSITY`` for ``SPARSE_MIN_OUT`` outputs or more (measured:
  1.1-4.5x faster up to 6-15 % density on the big layers, slower at 20 %); its weight
  gradient (``gather_weight_grad``) lost at every density down to 1-3 % on the big
  layers in an earlier measurement, so ``WEIGHT_GRAD_DENSITY`` is 0 (never taken; the
  kernel stays, tested, for other machines).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from sw.training import sparse_kernels
from sw.training.sparse_kernels import Csr, csr_linear, csr_weight_grad, to_csr

KERNEL_MIN_OUT = 128
"""Layers with fewer outputs run dense even with the compiled kernels."""
KERNEL_FORWARD_DENSITY = 0.30
"""Compiled gather-add forward below this fraction of non-zero inputs."""
KERNEL_WEIGHT_GRAD_DENSITY = 0.20
"""Compiled scatter-add weight gradient below this fraction of non-zero inputs."""
BOOL_NARROW_DENSITY = 0.02
"""A bool spike train into a layer of fewer than ``KERNEL_MIN_OUT`` outputs takes the
compiled path below this density (it saves the float copy ``F.linear`` needs; e.g. seed
003's 5 Hz inputs)."""
SPARSE_MIN_OUT = 256
"""Layers with fewer outputs always run dense (measured: no win at 128)."""
SPARSE_MIN_ROWS = 256
"""Fewer rows (time x batch) than this always run dense."""
FORWARD_DENSITY = 0.08
"""``embedding_bag`` forward below this fraction of non-zero inputs."""
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


def _linear_backward(ctx, g: Tensor, sparse_weight_grad: Callable[[Tensor, Tensor], Tensor] | None
                     ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
    """The gradients of a gather-add ``Linear`` (saved ``x``, ``weight``): dense input
    gradient, the weight gradient by ``sparse_weight_grad(g, x)`` or else the dense
    ``g.T @ x`` (``x`` as ``g``'s dtype: it may be a bool spike train), the bias's sum."""
    x, weight = ctx.saved_tensors
    need = ctx.needs_input_grad
    gx = g @ weight if need[0] else None
    gw = None
    if need[1]:
        gw = (sparse_weight_grad(g, x) if sparse_weight_grad is not None
              else g.t() @ (x if x.dtype == g.dtype else x.to(g.dtype)))
    gb = g.sum(0) if need[2] and ctx.has_bias else None
    return gx, gw, gb, None


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
        return _linear_backward(ctx, g, gather_weight_grad if ctx.density < WEIGHT_GRAD_DENSITY
                                else None)


class _CsrLinear(torch.autograd.Function):
    """``sparse_kernels`` forward (and weight gradient below ``KERNEL_WEIGHT_GRAD_DENSITY``);
    dense input gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, csr: Csr):  # type: ignore[override]
        out = csr_linear(csr, weight, bias)
        ctx.save_for_backward(x, weight)
        ctx.csr, ctx.has_bias = csr, bias is not None
        return out

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        csr = ctx.csr
        return _linear_backward(ctx, g, (lambda g, _x: csr_weight_grad(g, csr))
                                if csr.density < KERNEL_WEIGHT_GRAD_DENSITY else None)


def _bool_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``spike_linear`` of a bool spike train: its compressed rows come straight from the
    bytes (no float copy) below the layer's density, else ``F.linear`` of it as floats."""
    n_in = max(x.shape[-1], 1)
    rows = x.numel() // n_in
    flat = x.reshape(rows, n_in).contiguous()
    if (weight.dtype in (torch.float32, torch.float64) and (bias is None or bias.dtype == weight.dtype)
            and sparse_kernels.takes(flat)):
        limit = KERNEL_FORWARD_DENSITY if weight.shape[0] >= KERNEL_MIN_OUT else BOOL_NARROW_DENSITY
        csr = to_csr(flat, limit)
        if csr is not None:
            out = _CsrLinear.apply(flat, weight, bias, csr)
            return out.reshape(*x.shape[:-1], weight.shape[0])
    return F.linear(x.to(weight.dtype), weight, bias)


def spike_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, as a gather-add when ``x`` is sparse enough.

    ``x`` is ``(..., in_features)``, float or a bool spike train; the choice is made per
    call from the layer size and the measured fraction of non-zeros (module constants): the
    compiled ``sparse_kernels`` where they are built, else ``embedding_bag`` (a bool ``x``
    without the kernels: ``F.linear`` of it as floats).
    """
    if x.dtype == torch.bool:
        return _bool_linear(x, weight, bias)
    n_out = weight.shape[0]
    rows = x.numel() // max(x.shape[-1], 1)
    if (rows < SPARSE_MIN_ROWS or x.layout != torch.strided or x.device.type != "cpu"
            or x.dtype not in (torch.float32, torch.float64) or weight.dtype != x.dtype
            or (bias is not None and bias.dtype != x.dtype)):
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1])
    if n_out >= KERNEL_MIN_OUT and sparse_kernels.available():
        flat = flat.contiguous()  # a copy only where the compiled path needs one
        if sparse_kernels.takes(flat):
            csr = to_csr(flat, KERNEL_FORWARD_DENSITY)
            if csr is None:  # too dense
                return F.linear(x, weight, bias)
            out = _CsrLinear.apply(flat, weight, bias, csr)
            return out.reshape(*x.shape[:-1], n_out)
    if n_out < SPARSE_MIN_OUT:
        return F.linear(x, weight, bias)
    density = float(torch.count_nonzero(flat)) / max(flat.numel(), 1)
    if density >= FORWARD_DENSITY:
        return F.linear(x, weight, bias)
    out = _SparseLinear.apply(flat, weight, bias, density)
    return out.reshape(*x.shape[:-1], n_out)

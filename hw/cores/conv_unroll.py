"""A convolution as the dense matrix the engine's weight banks hold.

The engine computes ``W @ x`` over any ``W``: a ``hw.ir.Conv2d`` layer without pooling is
exactly the dense layer whose row ``o = (c_out, y, x)`` holds the kernel of channel ``c_out``
at the inputs ``(c_in, y * stride + ky - padding, x * stride + kx - padding)`` (taps on the
zero padding dropped) and zeros elsewhere, with bias ``b[c_out]``.  The Q8.8 current is one
exact sum rounded once (``hw.fixed``), so the zeros and the order change nothing: the
unrolled layer equals ``sim.golden``'s im2col convolution bit for bit
(``tests/hw/test_conv_engine.py``).  Inputs and outputs are in (C, H, W) row-major order,
as ``hw.ir`` flattens them.

A max-pooled layer (``pool`` > 1) keeps the convolution's rows but reorders them
(:func:`pooled_rows`): pooled neuron ``(c, yp, xp)`` (in ``hw.ir`` order) owns ``pool**2``
consecutive rows, its window positions ``(c, yp * pool + dy, xp * pool + dx)``; the rows of
a ragged edge are dropped, as ``sim.golden`` (and ``torch.nn.functional.max_pool2d``) drop it.
The engine gives such a layer one lane per window position (``hw.cores.plan.LayerPlan.pool``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_matrix", "pooled_rows"]


def conv_matrix(weight: np.ndarray, bias: np.ndarray | None, in_shape: tuple[int, int, int],
                stride: int = 1, padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)``: the ``(c_out * ho * wo, c_in * h * w)`` matrix and ``(c_out * ho * wo,)``
    bias of a convolution with ``weight (c_out, c_in, kh, kw)`` over inputs ``in_shape``;
    ``weight``'s dtype is kept (raws stay int64)."""
    weight = np.asarray(weight)
    c_out, c_in, kh, kw = weight.shape
    ci, h, w = in_shape
    if ci != c_in:
        raise ValueError(f"weight has {c_in} input channels, in_shape {in_shape} has {ci}")
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} kernel does not fit {h}x{w} inputs with padding {padding}")
    mat = np.zeros((c_out, ho, wo, c_in, h, w), dtype=weight.dtype)
    for ky in range(kh):
        for kx in range(kw):
            ys = np.arange(ho) * stride + ky - padding           # input row of each output row
            xs = np.arange(wo) * stride + kx - padding
            oy, ox = np.nonzero((ys[:, None] >= 0) & (ys[:, None] < h) & (xs[None, :] >= 0) & (xs[None, :] < w))
            # every output (co, oy, ox) reads input (ci, ys[oy], xs[ox]) through weight[co, ci, ky, kx]
            # (numpy puts the indexed axes first: the value is (positions, c_out, c_in))
            mat[:, oy, ox, :, ys[oy], xs[ox]] = weight[None, :, :, ky, kx]
    b = np.zeros(c_out, dtype=weight.dtype) if bias is None else np.asarray(bias)
    return mat.reshape(c_out * ho * wo, c_in * h * w), np.repeat(b, ho * wo)


def pooled_rows(conv_shape: tuple[int, int, int], pool: int) -> np.ndarray:
    """Row indices into :func:`conv_matrix`'s ``(c_out * ho * wo)`` rows for a ``pool x pool``
    max-pool: ``(c_out * (ho // pool) * (wo // pool) * pool**2,)``, pooled neuron by pooled
    neuron, each one's window row-major."""
    c_out, ho, wo = conv_shape
    hp, wp = ho // pool, wo // pool
    if hp < 1 or wp < 1:
        raise ValueError(f"a {pool}x{pool} pool does not fit a {ho}x{wo} convolution")
    c, yp, xp, dy, dx = np.meshgrid(np.arange(c_out), np.arange(hp), np.arange(wp),
                                    np.arange(pool), np.arange(pool), indexing="ij")
    return (c * ho * wo + (yp * pool + dy) * wo + (xp * pool + dx)).reshape(-1)

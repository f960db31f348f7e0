"""Linear NIR nodes between two neuron populations, composed into one IR layer.

Between two populations (or between the input and the first population) a NIR
graph holds a chain of linear, stateless nodes: Affine, Linear, Scale, Flatten,
Conv2d, SumPool2d, AvgPool2d.  Their composition is one affine map, which
becomes the weights of one ``hw.ir`` layer:

* a single Conv2d, optionally with a SumPool2d/AvgPool2d (kernel == stride)
  directly before or after it, becomes an ``hw.ir.Conv2d`` layer (the pool is
  folded into the convolution kernel, exactly);
* anything else is evaluated on the unit basis in float64 and becomes a
  ``hw.ir.Dense`` layer (exact for a linear chain; limited by
  ``MAX_DENSE_ELEMENTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np
import torch
import torch.nn.functional as F

from hw.ir import Conv2d, Dense, Neuron

from .errors import NIRImportError

LINEAR_NODES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv2d,
                nir.SumPool2d, nir.AvgPool2d)
"""NIR node types that may appear between two neuron populations."""

MAX_DENSE_ELEMENTS = 50_000_000
"""Largest dense weight matrix (n_out * n_in) the importer will build."""

Shape = tuple[int, ...]


@dataclass
class Step:
    """One linear node of a segment with the shape it receives."""

    name: str
    node: nir.NIRNode
    in_shape: Shape
    out_shape: Shape


def _pair(value, name: str, what: str) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size == 2:
        return int(arr[0]), int(arr[1])
    raise NIRImportError(name, f"{what} must be an int or a pair, got {value!r}")


def _conv_padding(node: nir.Conv2d, name: str) -> tuple[int, int]:
    pad = node.padding
    if isinstance(pad, bytes):
        pad = pad.decode()
    if isinstance(pad, str):
        if pad == "valid":
            return 0, 0
        if pad == "same":
            kh, kw = node.weight.shape[2:]
            if kh % 2 == 0 or kw % 2 == 0 or _pair(node.stride, name, "stride") != (1, 1):
                raise NIRImportError(name, "padding='same' is supported for odd kernels "
                                           "with stride 1 only")
            return (kh - 1) // 2, (kw - 1) // 2
        raise NIRImportError(name, f"unknown padding {pad!r}; use an int, a pair, "
                                   "'same' or 'valid'")
    return _pair(pad, name, "padding")


def _flatten_dims(node: nir.Flatten, ndim: int) -> tuple[int, int]:
    start = int(node.start_dim) % ndim
    end = int(node.end_dim) % ndim
    return start, end


def step_shape(name: str, node: nir.NIRNode, shape: Shape) -> Shape:
    """Output shape of ``node`` for an input of ``shape`` (batch axis excluded)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise NIRImportError(name, f"weight must be 2-D, got shape {w.shape}")
        if shape[-1] != w.shape[1]:
            raise NIRImportError(name, f"weight {w.shape} expects {w.shape[1]} inputs, "
                                       f"receives shape {shape}")
        return (*shape[:-1], int(w.shape[0]))
    if isinstance(node, nir.Scale):
        s = np.asarray(node.scale)
        try:
            out = np.broadcast_shapes(shape, s.shape)
        except ValueError:
            raise NIRImportError(name, f"scale {s.shape} does not broadcast to {shape}") from None
        if tuple(out) != tuple(shape):
            raise NIRImportError(name, f"scale {s.shape} would change the shape {shape}")
        return shape
    if isinstance(node, nir.Flatten):
        start, end = _flatten_dims(node, len(shape))
        return (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:])
    if isinstance(node, nir.Conv2d):
        if len(shape) != 3:
            raise NIRImportError(name, f"Conv2d needs a (C, H, W) input, receives {shape}")
        w = np.asarray(node.weight)
        if w.ndim != 4 or w.shape[1] * int(node.groups) != shape[0]:
            raise NIRImportError(name, f"weight {w.shape} (groups={node.groups}) does not "
                                       f"match input channels {shape[0]}")
        out = _apply(name, node, torch.zeros((1, *shape), dtype=torch.float64))
        return tuple(int(d) for d in out.shape[1:])
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        if len(shape) != 3:
            raise NIRImportError(name, f"pooling needs a (C, H, W) input, receives {shape}")
        out = _apply(name, node, torch.zeros((1, *shape), dtype=torch.float64))
        return tuple(int(d) for d in out.shape[1:])
    raise NIRImportError(name, f"{type(node).__name__} is not a linear node")


def _apply(name: str, node: nir.NIRNode, x: torch.Tensor) -> torch.Tensor:
    """Apply one linear node to a batch ``x`` (float64)."""
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    if isinstance(node, nir.Affine):
        return x @ t(node.weight).T + t(node.bias)
    if isinstance(node, nir.Linear):
        return x @ t(node.weight).T
    if isinstance(node, nir.Scale):
        return x * t(node.scale)
    if isinstance(node, nir.Flatten):
        start, end = _flatten_dims(node, x.ndim - 1)
        return torch.flatten(x, start + 1, end + 1)
    if isinstance(node, nir.Conv2d):
        pad = _conv_padding(node, name)
        try:
            return F.conv2d(x, t(node.weight), t(node.bias), stride=_pair(node.stride, name, "stride"),
                            padding=pad, dilation=_pair(node.dilation, name, "dilation"),
                            groups=int(node.groups))
        except RuntimeError as exc:
            raise NIRImportError(name, f"convolution does not fit its input: {exc}") from None
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k = _pair(node.kernel_size, name, "kernel_size")
        s = _pair(node.stride, name, "stride")
        p = _pair(node.padding, name, "padding")
        try:
            y = F.avg_pool2d(x, k, s, p, count_include_pad=True)
        except RuntimeError as exc:
            raise NIRImportError(name, f"pooling does not fit its input: {exc}") from None
        return y * (k[0] * k[1]) if isinstance(node, nir.SumPool2d) else y
    raise NIRImportError(name, f"{type(node).__name__} is not a linear node")


def trace(steps: list[tuple[str, nir.NIRNode]], in_shape: Shape) -> list[Step]:
    """Attach input/output shapes to a chain of linear nodes."""
    out: list[Step] = []
    shape = in_shape
    for name, node in steps:
        new = step_shape(name, node, shape)
        out.append(Step(name, node, shape, new))
        shape = new
    return out


def apply_segment(steps: list[Step], x: np.ndarray) -> np.ndarray:
    """Evaluate the chain on a batch ``x`` of shape ``(batch, *in_shape)`` in float64."""
    y = torch.as_tensor(np.asarray(x, dtype=np.float64))
    for s in steps:
        y = _apply(s.name, s.node, y)
    return y.numpy()


def dense_map(steps: list[Step], in_shape: Shape, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The chain as ``(W (n_out, n_in), b (n_out,))`` acting on flattened vectors."""
    n_in = int(np.prod(in_shape))
    out_shape = steps[-1].out_shape if steps else in_shape
    n_out = int(np.prod(out_shape))
    if n_in * n_out > MAX_DENSE_ELEMENTS:
        raise NIRImportError(where, f"the linear nodes before it compose to a {n_out}x{n_in} "
                                    f"matrix, larger than {MAX_DENSE_ELEMENTS} elements; only a "
                                    "single Conv2d (with an optional pool) stays a convolution")
    if not steps:
        return np.eye(n_in), np.zeros(n_in)
    zero = apply_segment(steps, np.zeros((1, *in_shape))).reshape(n_out)
    w = np.empty((n_out, n_in))
    chunk = max(1, 4_000_000 // max(n_out, 1))
    for lo in range(0, n_in, chunk):
        hi = min(n_in, lo + chunk)
        basis = np.zeros((hi - lo, n_in))
        basis[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
        w[:, lo:hi] = (apply_segment(steps, basis.reshape(hi - lo, *in_shape))
                       .reshape(hi - lo, n_out) - zero).T
    return w, zero


def _as_conv(steps: list[Step]) -> tuple[np.ndarray, np.ndarray, int, int, Shape] | None:
    """Fold ``[pool] conv [pool]`` into one convolution, or ``None`` when it does not apply.

    Returns ``(weight, bias, stride, padding, in_shape)``.
    """
    core = list(steps)
    while core and isinstance(core[-1].node, nir.Flatten):
        core.pop()  # IR layers flatten their output in (C, H, W) order anyway
    convs = [i for i, s in enumerate(core) if isinstance(s.node, nir.Conv2d)]
    if len(convs) != 1:
        return None
    i = convs[0]
    pre, conv, post = core[:i], core[i], core[i + 1:]
    if len(pre) > 1 or len(post) > 1:
        return None
    pools = (nir.SumPool2d, nir.AvgPool2d)
    if any(not isinstance(s.node, pools) for s in pre + post):
        return None
    node = conv.node
    if int(node.groups) != 1 or _pair(node.dilation, conv.name, "dilation") != (1, 1):
        return None
    sh, sw = _pair(node.stride, conv.name, "stride")
    ph, pw = _conv_padding(node, conv.name)
    if sh != sw or ph != pw:
        return None
    weight = np.asarray(node.weight, dtype=np.float64)
    bias = np.asarray(node.bias, dtype=np.float64).reshape(-1)
    stride, pad = sh, ph
    in_shape = conv.in_shape

    def square_pool(s: Step) -> tuple[int, float] | None:
        k = _pair(s.node.kernel_size, s.name, "kernel_size")
        st = _pair(s.node.stride, s.name, "stride")
        if k[0] != k[1] or st != k or _pair(s.node.padding, s.name, "padding") != (0, 0):
            return None
        gain = 1.0 if isinstance(s.node, nir.SumPool2d) else 1.0 / (k[0] * k[1])
        return k[0], gain

    if pre:
        pool = square_pool(pre[0])
        if pool is None:
            return None
        p, gain = pool
        c, h, w = pre[0].in_shape
        if h % p or w % p:
            return None  # the pool drops edge rows that the padded conv would read
        weight = np.repeat(np.repeat(weight, p, axis=2), p, axis=3) * gain
        stride, pad, in_shape = stride * p, pad * p, pre[0].in_shape
    if post:
        pool = square_pool(post[0])
        if pool is None:
            return None
        p, gain = pool
        s_in = stride  # stride of the (possibly pre-pool-folded) conv on its input grid
        c_out, c_in, kh, kw = weight.shape
        big = np.zeros((c_out, c_in, kh + (p - 1) * s_in, kw + (p - 1) * s_in))
        for a in range(p):
            for b in range(p):
                big[:, :, a * s_in:a * s_in + kh, b * s_in:b * s_in + kw] += weight
        weight = big * gain
        bias = bias * (p * p) * gain
        stride = s_in * p
    return weight, bias, stride, pad, in_shape


def build_layer(name: str, steps: list[Step], in_shape: Shape, neuron: Neuron,
                row_scale: np.ndarray, row_offset: np.ndarray,
                recurrent: np.ndarray | None = None) -> Dense | Conv2d:
    """One IR layer: ``current = row_scale * (segment(x)) + row_offset``.

    ``row_scale``/``row_offset`` (one value per output neuron) carry the input
    gain and constant drive of the neuron model (see ``neurons.py``).
    """
    conv = None if recurrent is not None else _as_conv(steps)
    if conv is not None:
        weight, bias, stride, pad, conv_in = conv
        c_out = weight.shape[0]
        n_out = row_scale.size
        if n_out % c_out == 0:
            scale_c = row_scale.reshape(c_out, -1)
            offset_c = row_offset.reshape(c_out, -1)
            if np.all(scale_c == scale_c[:, :1]) and np.all(offset_c == offset_c[:, :1]):
                sc, off = scale_c[:, 0], offset_c[:, 0]
                layer = Conv2d(name=name, weight=weight * sc[:, None, None, None],
                               bias=bias * sc + off, neuron=neuron,
                               in_shape=tuple(int(d) for d in conv_in), stride=int(stride),
                               padding=int(pad), pool=1)
                if layer.n_out == n_out:
                    return layer
    w, b = dense_map(steps, in_shape, name)
    rec = None if recurrent is None else recurrent * row_scale[:, None]
    return Dense(name=name, weight=w * row_scale[:, None], bias=b * row_scale + row_offset,
                 neuron=neuron, recurrent_weight=rec)

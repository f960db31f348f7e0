"""Fused multi-step LIF: one autograd node for all T timesteps.

Forward (per step, same float operations as ``LIFCell._step``)::

    u[t] = beta * v[t-1] + I[t]          # pre-reset membrane
    s[t] = u[t] > threshold
    v[t] = u[t] - s[t] * threshold        # subtract reset (spike detached here)

Only ``u`` is saved; spikes and ``v`` are recomputed from it in backward.
Because the reset spike is detached, the backward recursion
``gu[t] = g[t] + beta * gu[t+1]`` with ``g[t] = dL/ds[t] * sg(u[t] - threshold)
+ dL/dv[t]`` is linear with a constant factor, so it is evaluated for all
timesteps at once as a matrix product with the triangular matrix of powers of
``beta`` (in chunks for long sequences) instead of a Python loop.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

_CHUNK = 64


@functools.lru_cache(maxsize=32)
def _decay_matrix(n: int, beta: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``A[t, k] = beta ** (k - t)`` for ``k >= t`` else 0 (cached: beta is usually fixed).

    Built in float64 on the CPU (MPS has no float64), then moved.
    """
    idx = torch.arange(n, dtype=torch.float64)
    diff = idx[None, :] - idx[:, None]
    a = torch.where(diff >= 0, torch.tensor(beta, dtype=torch.float64) ** diff.clamp(min=0),
                    torch.zeros((), dtype=torch.float64))
    return a.to(device=device, dtype=dtype)


def _powers(n: int, beta: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[beta**n, beta**(n-1), ..., beta**1]``."""
    p = torch.tensor(beta, dtype=torch.float64) ** torch.arange(n, 0, -1, dtype=torch.float64)
    return p.to(device=device, dtype=dtype)


def reverse_discounted_sum(g: Tensor, beta: float) -> Tensor:
    """``out[t] = sum_{k >= t} beta**(k - t) * g[k]`` along dim 0."""
    T = g.shape[0]
    flat = g.reshape(T, -1)
    if T <= _CHUNK:
        return (_decay_matrix(T, beta, g.dtype, g.device) @ flat).reshape(g.shape)
    out = torch.empty_like(flat)
    carry = None
    for end in range(T, 0, -_CHUNK):
        start = max(0, end - _CHUNK)
        n = end - start
        local = _decay_matrix(n, beta, g.dtype, g.device) @ flat[start:end]
        if carry is not None:
            local = local + _powers(n, beta, g.dtype, g.device)[:, None] * carry[None, :]
        out[start:end] = local
        carry = local[0]
    return out.reshape(g.shape)


class LIFScan(torch.autograd.Function):
    """``LIFScan.apply(I, v0, beta, threshold, derivative, params) -> (spikes, v)``.

    ``I`` is ``(T, ...)`` (an expanded view of a static current is fine),
    ``v0`` the initial membrane (``None`` = zeros), ``beta``/``threshold`` scalar tensors,
    ``derivative(x, **params)`` the surrogate's backward formula.
    """

    @staticmethod
    def forward(ctx, I: Tensor, v0: Tensor, beta: Tensor, threshold: Tensor,  # type: ignore[override]
                derivative, params: dict) -> tuple[Tensor, Tensor]:
        b, th = float(beta), float(threshold)
        T = I.shape[0]
        shape, dt, dev = I.shape, I.dtype, I.device
        u_all = torch.empty(shape, dtype=dt, device=dev)
        s_all = torch.empty(shape, dtype=dt, device=dev)
        v_all = torch.empty(shape, dtype=dt, device=dev)
        # 0-dim tensors avoid a scalar-to-tensor copy per op
        b_t = torch.tensor(b, dtype=dt, device=dev)
        th_t = torch.tensor(th, dtype=dt, device=dev)
        v = v0
        for t in range(T):
            u = u_all[t]
            if v is None:  # zero initial state: u = I[0]
                u.copy_(I[t])
            else:
                torch.mul(v, b_t, out=u)
                u.add_(I[t])
            torch.gt(u, th_t, out=s_all[t])
            v = torch.sub(u, s_all[t], alpha=th, out=v_all[t])
        ctx.save_for_backward(u_all, v0)
        ctx.b, ctx.th = b, th
        ctx.derivative, ctx.params = derivative, params
        ctx.set_materialize_grads(False)
        return s_all, v_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_v: Tensor | None):  # type: ignore[override]
        u_all, v0 = ctx.saved_tensors
        b, th = ctx.b, ctx.th
        if g_s is None and g_v is None:
            return None, None, None, None, None, None
        if g_s is not None:
            gs = g_s * ctx.derivative(u_all - th, **ctx.params)
            g = gs if g_v is None else gs + g_v
        else:
            gs = None
            g = g_v
        gu = reverse_discounted_sum(g, b)
        need_I, need_v0, need_b, need_th = ctx.needs_input_grad[:4]
        g_v0 = gu[0] * b if need_v0 and v0 is not None else None
        g_b = g_th = None
        if need_b or need_th:
            s_all = (u_all > th).to(u_all.dtype)
            if need_b:
                v_all = u_all - s_all * th
                g_b = (gu[1:] * v_all[:-1]).sum()
                if v0 is not None:
                    g_b = g_b + (gu[0] * v0).sum()
                g_b = g_b.reshape(())
            if need_th:
                gv = gu if gs is None else gu - gs
                g_th = -(gv * s_all).sum()
                if gs is not None:
                    g_th = g_th - gs.sum()
                g_th = g_th.reshape(())
        return (gu if need_I else None), g_v0, g_b, g_th, None, None

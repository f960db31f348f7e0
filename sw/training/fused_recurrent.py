"""Fused multi-step scan of ``RecurrentLIFCell``: ``u = beta * v + I + W s[t-1]``.

The recurrent current makes the backward a true per-step recursion (the spike
of step t reaches step t+1 through ``W`` with its surrogate gradient)::

    Gs[t] = gs[t] + gu[t+1] @ W          Gv[t] = gv[t] + beta * gu[t+1]
    gx[t] = Gs[t] * sg[t]                gu[t] = gx[t] + Gv[t]

One small matmul per step in each direction (as in the forward); the weight
gradient is a single matmul over all steps at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sw.training.fused_linear import _scalar, _shift, keep_for_backward, spike_scan


class RecurrentLIFScan(torch.autograd.Function):
    """``apply(I, v0, s0, W, beta, threshold, derivative, params) -> (spikes, v)``.

    ``I`` is ``(T, ..., n)``; ``s0`` the spike before step 0 (``None``: no
    recurrent current at step 0); ``W`` the ``(n, n)`` recurrent weight.
    """

    @staticmethod
    def forward(ctx, I: Tensor, v0: Tensor, s0: Tensor | None, W: Tensor,  # type: ignore[override]
                beta: Tensor, threshold: Tensor, derivative, params: dict):
        b_t = _scalar(beta, I)

        def pre(t: int, v: Tensor, s: Tensor | None, u: Tensor) -> Tensor:
            torch.mul(v, b_t, out=u)
            u.add_(I[t])
            return u if s is None else u.add_(F.linear(s, W))

        u_all, s_all, v_all = spike_scan(pre, I, v0, threshold, s0=s0)
        keep_for_backward(ctx, (u_all, v0, s0, W), derivative, params, b=float(beta),
                          th=float(threshold))
        return s_all, v_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_v: Tensor | None):  # type: ignore[override]
        u, v0, s0, W = ctx.saved_tensors
        if g_s is None and g_v is None:
            return (None,) * 8
        b, th = ctx.b, ctx.th
        need = ctx.needs_input_grad
        zeros = torch.zeros_like(u)
        g_s = zeros if g_s is None else g_s
        g_v = zeros if g_v is None else g_v
        s = (u > th).to(u.dtype)
        sg = ctx.derivative(u - th, **ctx.params)
        T = u.shape[0]
        gu, gth = torch.empty_like(u), torch.empty_like(u)
        Wd = W.detach()
        for t in range(T - 1, -1, -1):
            if t == T - 1:
                gx, gv_t = g_s[t] * sg[t], g_v[t]
            else:
                gx = torch.add(g_s[t], gu[t + 1] @ Wd).mul_(sg[t])
                gv_t = torch.add(g_v[t], gu[t + 1], alpha=b)
            torch.add(gx, gv_t, out=gu[t])
            torch.mul(s[t], gv_t, out=gth[t]).add_(gx).neg_()
        n = u.shape[-1]
        g_W = g_s0 = g_b = g_th = None
        if need[3]:
            s_prev = s[:-1] if s0 is None else _shift(s0, s)
            g_rows = gu[1:] if s0 is None else gu
            g_W = g_rows.reshape(-1, n).t() @ s_prev.reshape(-1, n)
        if need[2] and s0 is not None:
            g_s0 = gu[0] @ Wd
        if need[4]:
            v = u - s * th
            g_b = (gu * _shift(v0, v)).sum().reshape(())
        if need[5]:
            g_th = gth.sum().reshape(())
        g_v0 = gu[0] * b if need[1] else None
        return (gu if need[0] else None, g_v0, g_s0, g_W, g_b, g_th, None, None)

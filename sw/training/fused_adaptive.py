"""Fused multi-step scans for the cells with a nonlinear or spike-driven recurrence.

``ALIFScan`` (adaptive threshold) and ``ExpScan`` (exponential upstroke,
``ExpIFCell``; with the adaptation current ``w``, ``AdExCell``): the forward
performs the cell's ``_step`` operations in order into preallocated buffers
(no autograd graph), saving only the pre-reset membrane ``u`` (and the
adaptation trajectory); the backward is the hand-derived adjoint recursion,
one reverse loop of a few elementwise operations per step, with every
per-step factor (surrogate derivative, upstroke slope) computed for all
timesteps at once beforehand.  The reset spike is detached (the cells'
default); the spike that drives the adaptation carries the surrogate gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sw.training.fused_linear import _scalar, _shift, _unsupported, keep_for_backward


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g


class ALIFScan(torch.autograd.Function):
    """``apply(I, v0, a0, beta, threshold, rho, beta_adapt, derivative, params) -> (s, v, a)``.

    Per step (``CELL_EQUATIONS["alif"]``)::

        u = beta * v + I;  theta = threshold + beta_adapt * a
        s = u > theta;     v = u - s * theta;  a = rho * a + s

    Backward (``G*`` total gradients of the post-step states, ``sg`` the surrogate
    derivative at ``u - theta``)::

        Ga[t] = ga[t] + rho * Ga[t+1] + beta_adapt * gtheta[t+1]
        Gv[t] = gv[t] + beta * gu[t+1]
        gx[t] = (gs[t] + Ga[t]) * sg[t]
        gu[t] = gx[t] + Gv[t];   gtheta[t] = -gx[t] - s[t] * Gv[t]
    """

    @staticmethod
    def forward(ctx, I: Tensor, v0: Tensor, a0: Tensor, beta: Tensor,  # type: ignore[override]
                threshold: Tensor, rho: Tensor, beta_adapt: Tensor, derivative, params: dict
                ) -> tuple[Tensor, Tensor, Tensor]:
        u_all = torch.empty(I.shape, dtype=I.dtype, device=I.device)
        s_all, v_all, a_all = (torch.empty_like(u_all) for _ in range(3))
        b_t, th_t, r_t, ba_t = (_scalar(p, I) for p in (beta, threshold, rho, beta_adapt))
        theta = torch.empty_like(u_all[0])
        v, a = v0, a0
        for t in range(I.shape[0]):
            u, s = u_all[t], s_all[t]
            torch.mul(v, b_t, out=u)
            u.add_(I[t])
            torch.mul(a, ba_t, out=theta)
            theta.add_(th_t)
            torch.gt(u, theta, out=s)
            v = torch.sub(u, torch.mul(s, theta), out=v_all[t])
            a = torch.mul(a, r_t, out=a_all[t])
            a.add_(s)
        keep_for_backward(ctx, (u_all, a_all, v0, a0), derivative, params, materialize=True,
                          consts=tuple(float(p) for p in (beta, threshold, rho, beta_adapt)))
        return s_all, v_all, a_all

    @staticmethod
    def backward(ctx, g_s: Tensor, g_v: Tensor, g_a: Tensor):  # type: ignore[override]
        u, a_all, v0, a0 = ctx.saved_tensors
        b, th, rho, ba = ctx.consts
        need = ctx.needs_input_grad
        a_prev = _shift(a0, a_all)
        theta = a_prev * ba + th
        s = (u > theta).to(u.dtype)
        sg = ctx.derivative(u - theta, **ctx.params)
        T = u.shape[0]
        gu, gth, Ga = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        for t in range(T - 1, -1, -1):
            if t == T - 1:
                ga_t, gv_t = g_a[t], g_v[t]
            else:
                ga_t = torch.add(g_a[t], Ga[t + 1], alpha=rho).add_(gth[t + 1], alpha=ba)
                gv_t = torch.add(g_v[t], gu[t + 1], alpha=b)
            Ga[t] = ga_t
            gx = torch.add(g_s[t], ga_t).mul_(sg[t])
            torch.add(gx, gv_t, out=gu[t])
            torch.mul(s[t], gv_t, out=gth[t]).add_(gx).neg_()
        g_b = g_th = g_rho = g_ba = None
        if need[3]:
            v = u - s * theta
            g_b = (gu * _shift(v0, v)).sum().reshape(())
        if need[4]:
            g_th = gth.sum().reshape(())
        if need[5]:
            g_rho = (Ga * a_prev).sum().reshape(())
        if need[6]:
            g_ba = (gth * a_prev).sum().reshape(())
        g_v0 = gu[0] * b if need[1] else None
        g_a0 = Ga[0] * rho + gth[0] * ba if need[2] else None
        return (gu if need[0] else None, g_v0, g_a0, g_b, g_th, g_rho, g_ba, None, None)


class ExpScan(torch.autograd.Function):
    """``apply(I, v0, w0, beta, threshold, delta_t, v_rh, a, b, rho, v_rest, derivative,
    params) -> (s, v, w)``; ``w0=None`` runs ``ExpIFCell`` (no adaptation, ``w`` output
    is ``None``).

    Per step (``CELL_EQUATIONS["adex"]``; ``expif`` drops ``w``)::

        u = beta * v + (1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4)) - w + I
        w = rho * w + a * (u - v_rest)
        s = u > threshold;  v = u - s * threshold;  w = w + b * s

    Backward, with ``D[t] = du[t]/dv[t-1] = beta + (1 - beta) e[t] [z[t] <= 4]``::

        Gv[t] = gv[t] + D[t+1] gu[t+1]
        Gw[t] = gw[t] + rho Gw[t+1] - gu[t+1]
        gx[t] = (gs[t] + b Gw[t]) sg[t];   gu[t] = gx[t] + Gv[t] + a Gw[t]

    Only ``I``, the initial states, ``beta`` and ``threshold`` get gradients (the
    cells keep the other parameters as buffers).
    """

    @staticmethod
    def forward(ctx, I: Tensor, v0: Tensor, w0: Tensor | None, beta: Tensor,  # type: ignore[override]
                threshold: Tensor, delta_t: Tensor, v_rh: Tensor, a: Tensor, b: Tensor,
                rho: Tensor, v_rest: Tensor, derivative, params: dict):
        adex = w0 is not None
        u_all = torch.empty(I.shape, dtype=I.dtype, device=I.device)
        s_all, v_all = torch.empty_like(u_all), torch.empty_like(u_all)
        w_all = torch.empty_like(u_all) if adex else None
        # the same tensors and operation order as exp_upstroke / AdExCell._step
        beta, delta_t, v_rh = beta.detach(), delta_t.detach(), v_rh.detach()
        coef = (1 - beta) * delta_t
        th_t, th = _scalar(threshold, I), float(threshold)
        v, w = v0, w0
        for t in range(I.shape[0]):
            up = coef * torch.exp(torch.clamp((v - v_rh) / delta_t, max=4.0))
            u = torch.mul(v, beta.to(I.dtype), out=u_all[t])
            u.add_(up)
            if adex:
                u.sub_(w)
            u.add_(I[t])
            if adex:
                w = torch.add(rho * w, a * (u - v_rest), out=w_all[t])
            s = torch.gt(u, th_t, out=s_all[t])
            v = torch.sub(u, s, alpha=th, out=v_all[t])
            if adex:
                w.add_(b * s)
        consts = tuple(float(p) for p in (beta, threshold, delta_t, v_rh, a, b, rho))
        keep_for_backward(ctx, (u_all, v0, *((w_all, w0) if adex else ())), derivative, params,
                          materialize=True, adex=adex, consts=consts)
        return s_all, v_all, w_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_v: Tensor | None, g_w: Tensor | None):  # type: ignore[override]
        _unsupported(ctx, {5: "delta_t", 6: "v_rh", 7: "a", 8: "b", 9: "rho", 10: "v_rest"})
        u, v0, *w_saved = ctx.saved_tensors
        beta, th, dlt, v_rh, a, b, rho = ctx.consts
        need, adex = ctx.needs_input_grad, ctx.adex
        g_s, g_v = _zeros_if_none(g_s, u), _zeros_if_none(g_v, u)
        s = (u > th).to(u.dtype)
        v_prev = _shift(v0, u - s * th)
        z = (v_prev - v_rh) / dlt
        e = torch.exp(z.clamp(max=4.0))
        D = e * (z <= 4.0).to(u.dtype) * (1.0 - beta) + beta
        sg = ctx.derivative(u - th, **ctx.params)
        T = u.shape[0]
        gu, gth = torch.empty_like(u), torch.empty_like(u)
        Gw = torch.empty_like(u) if adex else None
        if adex:
            g_w = _zeros_if_none(g_w, u)
        for t in range(T - 1, -1, -1):
            last = t == T - 1
            gv_t = g_v[t] if last else torch.addcmul(g_v[t], D[t + 1], gu[t + 1])
            if adex:
                gw_t = g_w[t] if last else torch.add(g_w[t], Gw[t + 1], alpha=rho).sub_(gu[t + 1])
                Gw[t] = gw_t
                gx = torch.add(g_s[t], gw_t, alpha=b).mul_(sg[t])
                torch.add(gx, gv_t, out=gu[t]).add_(gw_t, alpha=a)
            else:
                gx = g_s[t] * sg[t]
                torch.add(gx, gv_t, out=gu[t])
            torch.mul(s[t], gv_t, out=gth[t]).add_(gx).neg_()
        g_b = g_th = g_w0 = None
        if need[3]:
            g_b = (gu * (v_prev - e * dlt)).sum().reshape(())
        if need[4]:
            g_th = gth.sum().reshape(())
        if adex and need[2]:
            g_w0 = Gw[0] * rho - gu[0]
        g_v0 = D[0] * gu[0] if need[1] else None
        return (gu if need[0] else None, g_v0, g_w0, g_b, g_th) + (None,) * 8

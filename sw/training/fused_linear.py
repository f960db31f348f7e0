"""Fused multi-step scans for the cells whose membrane recurrence is linear.

With the reset spike detached, every cell below has a pre-reset membrane
``u[t] = d * v[t-1] + x[t]`` with a constant factor ``d`` (``beta``, or
``1 - dt/tau`` for Lapicque), fed by linear filters of the input
(``i = alpha * i + I``).  The backward of all of them is therefore the same
template: one reverse discounted sum ``gu[t] = g[t] + d * gu[t+1]``
(``sw.training.fused.reverse_discounted_sum``, matrix products, no Python
loop), plus per-parameter reductions.

* ``LinearScan``: ``out[t] = a * out[t-1] + x[t]`` (synaptic currents,
  ``ExpSynapse``, ``LeakyReadout``).
* ``MembraneScan``: ``u = beta * v + x (- x_inh)`` then spike and reset
  (``LIFCell``, ``IFCell``, ``SynapticCell``, ``SecondOrderLIFCell``,
  ``AlphaCell``).
* ``LapicqueScan``: ``u = v + k * (v_rest - v + rI)`` then spike and reset.

Both run their steps through ``spike_scan`` (the one spike-and-reset loop,
also used by ``RecurrentLIFScan``) and their backward through ``reset_grads``;
they take every reset of ``SpikingCell`` (subtract / zero / none, spike
detached or not): a reset other than the detached subtraction makes the
factor of the backward recursion time-varying, which ``reset_grads`` then
runs as one ``addcmul`` per step.  Every forward performs the same float
operations, in the same order, as the cell's ``_step``, so spikes are
bit-identical to the step-by-step path.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sw.training import scan_kernels
from sw.training.fused import reverse_discounted_sum


def _scalar(x: Tensor | float, like: Tensor) -> Tensor:
    """A detached 0-dim tensor in ``like``'s dtype (what type promotion makes of ``x``)."""
    if isinstance(x, Tensor):
        return x.detach().to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(x), dtype=like.dtype, device=like.device)


def _shift(first: Tensor, seq: Tensor) -> Tensor:
    """``[first, seq[0], ..., seq[T-2]]``: the value each step starts from."""
    return torch.cat([first.unsqueeze(0).expand_as(seq[:1]), seq[:-1]])


def apply_reset(u: Tensor, s: Tensor, th: float, reset: str, out: Tensor) -> Tensor:
    """Post-reset membrane into ``out``, the operations of ``SpikingCell._reset`` (v_reset 0)."""
    if reset == "subtract":
        return torch.sub(u, s, alpha=th, out=out)
    if reset == "zero":  # v - s * (v - 0)
        torch.mul(u, s, out=out)
        return torch.sub(u, out, out=out)
    return out.copy_(u)


def spike_scan(pre: Callable[[int, Tensor | None, Tensor | None, Tensor], Tensor],
               like: Tensor, v0: Tensor | None, threshold: Tensor | float, reset: str = "subtract",
               s0: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The spike-and-reset loop of every membrane scan: ``(u_all, s_all, v_all)``.

    Per step ``pre(t, v, s, out)`` writes the pre-reset membrane into ``out`` and returns it
    (``v`` the post-reset membrane and ``s`` the spike of the step before: ``v0`` / ``s0`` at
    step 0, either may be ``None``); then ``s = u > threshold`` and ``v = reset(u, s)``
    (``apply_reset``), into preallocated ``like``-shaped buffers.
    """
    u_all = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    s_all, v_all = torch.empty_like(u_all), torch.empty_like(u_all)
    th_t, th = _scalar(threshold, like), float(threshold)
    v, s = v0, s0
    for t in range(like.shape[0]):
        u = pre(t, v, s, u_all[t])
        s = torch.gt(u, th_t, out=s_all[t])
        v = apply_reset(u, s, th, reset, v_all[t])
    return u_all, s_all, v_all


def keep_for_backward(ctx, tensors: tuple, derivative, params: dict, materialize: bool = False,
                      **consts) -> None:
    """Save ``tensors``, the surrogate's ``derivative(x, **params)`` and the constants
    ``consts`` (as ``ctx`` attributes) for a scan's backward; unless ``materialize``, the
    gradient of an unused output stays ``None`` (``set_materialize_grads(False)``)."""
    ctx.save_for_backward(*tensors)
    ctx.derivative, ctx.params = derivative, params
    for name, value in consts.items():
        setattr(ctx, name, value)
    ctx.set_materialize_grads(materialize)


def reset_grads(u: Tensor, th: float, g_s: Tensor | None, g_v: Tensor | None, derivative,
                params: dict, decay: float, need_th: bool, reset: str = "subtract",
                detach: bool = True) -> tuple[Tensor, Tensor | None]:
    """Backward of ``s = u > th; v = reset(u, s)`` with ``u[t] = decay * v[t-1] + ...``.

    With ``R`` the amount the spike removes (``th``, or ``u`` for the zero reset) and
    ``a[t] = dv[t]/du[t]`` (``1``, ``1 - s``, minus ``R sg`` when the spike is not
    detached), ``gu[t] = gs[t] sg[t] + a[t] (gv[t] + decay gu[t+1])``: a reverse
    discounted sum when ``a == 1`` (matrix products), else one ``addcmul`` per step.
    Returns ``(gu, g_th)`` (``g_th`` is ``None`` unless ``need_th``).
    """
    sg = derivative(u - th, **params)
    if reset == "subtract" and not detach and g_v is None and g_s is not None and not need_th:
        gu = scan_kernels.reverse_subtract_grad(g_s, sg, th, decay)  # the lines below, in C
        if gu is not None:
            return gu, None
    s = (u > th).to(u.dtype) if reset == "zero" or need_th else None
    if reset == "zero":
        direct: Tensor | float = 1.0 - s
        R: Tensor | float = u
    else:
        direct, R = 1.0, th
    if reset == "none" or detach:
        a: Tensor | float = direct
    else:
        a = direct - R * sg
    gs = None if g_s is None else g_s * sg
    c = gs
    if g_v is not None:
        gva = g_v * a if isinstance(a, Tensor) else g_v
        c = gva if c is None else c + gva
    if c is None:
        c = torch.zeros_like(u)
    if isinstance(a, Tensor):
        m = a * decay
        gu = scan_kernels.reverse_addcmul(c, m)
        if gu is None:
            gu = torch.empty_like(u)
            gu[-1] = c[-1]
            for t in range(u.shape[0] - 2, -1, -1):
                torch.addcmul(c[t], m[t], gu[t + 1], out=gu[t])
    else:
        gu = reverse_discounted_sum(c, decay)
    g_th = None
    if need_th:
        if not isinstance(a, Tensor):  # gu = gs + dL/dv
            gv_total = gu if gs is None else gu - gs
        else:
            gv_total = torch.zeros_like(u) if g_v is None else g_v.clone()
            gv_total[:-1].add_(gu[1:], alpha=decay)  # dL/dv[t]
        spike_g = torch.zeros_like(u) if g_s is None else g_s.clone()
        if reset != "none" and not detach:
            spike_g = spike_g - R * gv_total
        g_th = -(spike_g * sg).sum()
        if reset == "subtract":
            g_th = g_th - (gv_total * s).sum()
        g_th = g_th.reshape(())
    return gu, g_th


def _unsupported(ctx, names: dict[int, str]) -> None:
    for i, name in names.items():
        if ctx.needs_input_grad[i]:
            raise RuntimeError(f"fused scan: no gradient for {name}; run it step by step "
                               "(sw.training.fused.fused_scans(False))")


class LinearScan(torch.autograd.Function):
    """``LinearScan.apply(x, a, g0) -> out`` with ``out[t] = a * out[t-1] + x[t]``.

    ``x`` is ``(T, ...)``, ``a`` a scalar tensor (may require grad), ``g0`` the
    state before step 0 (``None``: ``out[0] = x[0]``, the zero-state step).
    """

    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, g0: Tensor | None) -> Tensor:  # type: ignore[override]
        out = scan_kernels.linear_scan(x, float(a), g0)
        if out is None:
            out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
            a_t = _scalar(a, x)
            g = g0
            for t in range(x.shape[0]):
                o = out[t]
                if g is None:
                    o.copy_(x[t])
                else:
                    torch.mul(g, a_t, out=o)
                    o.add_(x[t])
                g = o
        ctx.save_for_backward(out, g0)
        ctx.a = float(a)
        ctx.set_materialize_grads(False)
        return out

    @staticmethod
    def backward(ctx, g_out: Tensor | None):  # type: ignore[override]
        out, g0 = ctx.saved_tensors
        if g_out is None:
            return None, None, None
        gx = reverse_discounted_sum(g_out, ctx.a)
        g_a = g_g0 = None
        if ctx.needs_input_grad[1]:
            g_a = (gx[1:] * out[:-1]).sum()
            if g0 is not None:
                g_a = g_a + (gx[0] * g0).sum()
            g_a = g_a.reshape(())
        if ctx.needs_input_grad[2] and g0 is not None:
            g_g0 = gx[0] * ctx.a
        return gx, g_a, g_g0


class MembraneScan(torch.autograd.Function):
    """``apply(x, x_neg, v0, beta, threshold, derivative, params, reset, detach) -> (s, v)``.

    Per step ``u = beta * v + x (- x_neg)``; ``s = u > threshold``; ``v = reset(u, s)``
    (``reset`` ``"subtract"`` / ``"zero"`` / ``"none"``, ``detach``: the reset spike
    carries no gradient).  ``x_neg`` (``None`` or the inhibitory current of
    ``AlphaCell``) is subtracted after ``x`` is added, as in the cell's text.
    ``v0 = None`` is the zero initial state (``u[0] = x[0]``, no multiply).
    """

    @staticmethod
    def forward(ctx, x: Tensor, xn: Tensor | None, v0: Tensor | None,  # type: ignore[override]
                beta: Tensor, threshold: Tensor, derivative, params: dict,
                reset: str = "subtract", detach: bool = True) -> tuple[Tensor, Tensor]:
        b_t = _scalar(beta, x)

        def pre(t: int, v: Tensor | None, _s, u: Tensor) -> Tensor:
            if v is None:  # zero initial state
                u.copy_(x[t])
            else:
                torch.mul(v, b_t, out=u)
                u.add_(x[t])
            return u if xn is None else u.sub_(xn[t])

        done = scan_kernels.membrane_scan(x, xn, v0, float(beta), float(threshold), reset)
        u_all, s_all, v_all = done if done is not None else spike_scan(pre, x, v0, threshold, reset)
        keep_for_backward(ctx, (u_all, v0), derivative, params, b=float(beta),
                          th=float(threshold), reset=reset, detach=detach)
        return s_all, v_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_v: Tensor | None):  # type: ignore[override]
        u, v0 = ctx.saved_tensors
        if g_s is None and g_v is None:
            return (None,) * 9
        need = ctx.needs_input_grad
        gu, g_th = reset_grads(u, ctx.th, g_s, g_v, ctx.derivative, ctx.params, ctx.b, need[4],
                               ctx.reset, ctx.detach)
        g_b = None
        if need[3]:
            s = (u > ctx.th).to(u.dtype)
            v = apply_reset(u, s, ctx.th, ctx.reset, torch.empty_like(u))
            g_b = (gu[1:] * v[:-1]).sum() if v0 is None else (gu * _shift(v0, v)).sum()
            g_b = g_b.reshape(())
        return (gu if need[0] else None, -gu if need[1] else None,
                gu[0] * ctx.b if need[2] and v0 is not None else None, g_b, g_th,
                None, None, None, None)


class LapicqueScan(torch.autograd.Function):
    """``apply(rI, v0, k, v_rest, threshold, derivative, params, reset, detach) -> (s, v)``.

    Per step ``u = v + k * (v_rest - v + rI); s = u > threshold; v = reset(u, s)``
    (``k = dt / tau``; ``rI = r * I`` computed by the caller).  ``k`` and ``v_rest``
    are constants (the cell keeps them as buffers).
    """

    @staticmethod
    def forward(ctx, rI: Tensor, v0: Tensor, k: Tensor, v_rest: Tensor,  # type: ignore[override]
                threshold: Tensor, derivative, params: dict, reset: str = "subtract",
                detach: bool = True) -> tuple[Tensor, Tensor]:
        k_t, vr_t = _scalar(k, rI), _scalar(v_rest, rI)

        def pre(t: int, v: Tensor, _s, u: Tensor) -> Tensor:
            torch.sub(vr_t, v, out=u)
            return u.add_(rI[t]).mul_(k_t).add_(v)

        done = scan_kernels.lapicque_scan(rI, v0, float(k_t), float(vr_t), float(threshold), reset)
        u_all, s_all, v_all = done if done is not None else spike_scan(pre, rI, v0, threshold, reset)
        keep_for_backward(ctx, (u_all,), derivative, params, k=float(k_t), th=float(threshold),
                          reset=reset, detach=detach)
        return s_all, v_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_v: Tensor | None):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        _unsupported(ctx, {2: "dt / tau", 3: "v_rest"})
        if g_s is None and g_v is None:
            return (None,) * 9
        need = ctx.needs_input_grad
        k = ctx.k
        gu, g_th = reset_grads(u, ctx.th, g_s, g_v, ctx.derivative, ctx.params, 1.0 - k, need[4],
                               ctx.reset, ctx.detach)
        return (gu * k if need[0] else None, gu[0] * (1.0 - k) if need[1] else None,
                None, None, g_th, None, None, None, None)

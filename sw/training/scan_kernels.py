"""``scan_kernels``: the per-step loops of the fused scans as compiled C, loaded with ctypes.

A fused scan's forward (``LinearScan``, ``MembraneScan``, ``LapicqueScan``) and the
time-varying backward recursion of ``reset_grads`` are sequential over time: run from
Python they cost 3-6 torch calls per step (~3 us each), which dominates small layers over
long sequences (seed 003's 4-neuron network at T = 100 spent ~80 % of its forward there).
These loops in C do each step's arithmetic in the same float operations and order as the
torch ops they replace (one rounding per ``*``, ``+`` and ``-``; compiled with
``-ffp-contract=off``, so no fused multiply-add), so spikes and states are bit-identical
to the Python loop; ``tests/training/test_scan_kernels.py`` checks that.

The C source is compiled once per source/compiler into ``~/.cache/snn-ice40/scan-kernels/``
(by ``sw.training.c_build``; ``$XDG_CACHE_HOME`` is honoured; ``SNN_SCAN_KERNELS=off`` turns the
kernels off) with the system C compiler (``$CC``, else ``cc`` / ``gcc``), which takes ~0.2 s: no torch headers,
no downloaded toolchain.  Where it cannot build, or for tensors it does not take (not on
the CPU, not float32/float64, a step that is not one contiguous block), the scans use
their Python loops; with more than one torch thread a large step (above
``PARALLEL_ELEMENTS`` elements) stays with torch's multi-threaded kernels too.
"""

from __future__ import annotations

import contextlib
import ctypes

import torch
from torch import Tensor

from sw.training import c_build

__all__ = ["available", "kernels_disabled", "linear_scan", "membrane_scan", "lapicque_scan",
           "reverse_addcmul", "reverse_linear_scan", "reverse_subtract_grad", "PARALLEL_ELEMENTS",
           "RESETS"]

PARALLEL_ELEMENTS = 1 << 16
RESETS = {"subtract": 0, "zero": 1, "none": 2}

_SOURCE = r"""
#include <stddef.h>
/* One step t works on the contiguous block x + t * xs (xs: the time stride, in elements);
   every output is a contiguous (T, N) buffer.  NULL pointers: no such input. */
#define SCANS(T_, SUF)                                                                      \
void linear_scan_##SUF(const T_ *x, long xs, const T_ *g0, T_ a, T_ *out, long T, long N) { \
    for (long t = 0; t < T; ++t) {                                                          \
        const T_ *xt = x + t * xs; T_ *o = out + t * N;                                     \
        const T_ *g = t ? out + (t - 1) * N : g0;                                           \
        if (g) { for (long i = 0; i < N; ++i) { T_ m = g[i] * a; o[i] = m + xt[i]; } }      \
        else   { for (long i = 0; i < N; ++i) o[i] = xt[i]; }                               \
    }                                                                                       \
}                                                                                           \
static void reset_##SUF(const T_ *u, T_ th, int reset, T_ *s, T_ *v, long N) {             \
    for (long i = 0; i < N; ++i) {                                                          \
        T_ sp = u[i] > th ? (T_)1 : (T_)0; s[i] = sp;                                       \
        if (reset == 0) { T_ r = th * sp; v[i] = u[i] - r; }                                \
        else if (reset == 1) { T_ r = u[i] * sp; v[i] = u[i] - r; }                         \
        else v[i] = u[i];                                                                   \
    }                                                                                       \
}                                                                                           \
void membrane_scan_##SUF(const T_ *x, long xs, const T_ *xn, long xns, const T_ *v0,      \
                         T_ beta, T_ th, int reset, T_ *u, T_ *s, T_ *v, long T, long N) {  \
    for (long t = 0; t < T; ++t) {                                                          \
        const T_ *xt = x + t * xs; T_ *ut = u + t * N;                                      \
        const T_ *vp = t ? v + (t - 1) * N : v0;                                            \
        if (vp) { for (long i = 0; i < N; ++i) { T_ m = vp[i] * beta; ut[i] = m + xt[i]; } } \
        else    { for (long i = 0; i < N; ++i) ut[i] = xt[i]; }                             \
        if (xn) { const T_ *nt = xn + t * xns; for (long i = 0; i < N; ++i) ut[i] = ut[i] - nt[i]; } \
        reset_##SUF(ut, th, reset, s + t * N, v + t * N, N);                                \
    }                                                                                       \
}                                                                                           \
void lapicque_scan_##SUF(const T_ *ri, long rs, const T_ *v0, T_ k, T_ vr, T_ th,         \
                         int reset, T_ *u, T_ *s, T_ *v, long T, long N) {                  \
    for (long t = 0; t < T; ++t) {                                                          \
        const T_ *rt = ri + t * rs; T_ *ut = u + t * N;                                     \
        const T_ *vp = t ? v + (t - 1) * N : v0;                                            \
        for (long i = 0; i < N; ++i) {                                                      \
            T_ d = vr - vp[i]; d = d + rt[i]; d = d * k; ut[i] = d + vp[i];                 \
        }                                                                                   \
        reset_##SUF(ut, th, reset, s + t * N, v + t * N, N);                                \
    }                                                                                       \
}                                                                                           \
void reverse_addcmul_##SUF(const T_ *c, const T_ *m, T_ *gu, long T, long N) {              \
    const T_ *cl = c + (T - 1) * N; T_ *gl = gu + (T - 1) * N;                              \
    for (long i = 0; i < N; ++i) gl[i] = cl[i];                                             \
    for (long t = T - 2; t >= 0; --t) {                                                     \
        const T_ *ct = c + t * N, *mt = m + t * N, *gn = gu + (t + 1) * N; T_ *gt = gu + t * N; \
        for (long i = 0; i < N; ++i) { T_ p = mt[i] * gn[i]; gt[i] = ct[i] + p; }           \
    }                                                                                       \
}                                                                                           \
/* reset_grads for the subtract reset with the spike kept (not detached), no gradient of   \
   v: c = gs * sg; m = (1 - th * sg) * decay; gu[t] = c[t] + m[t] * gu[t+1]. */           \
void reverse_subtract_grad_##SUF(const T_ *gs, const T_ *sg, T_ th, T_ decay, T_ *gu,      \
                                 long T, long N) {                                          \
    const T_ *gl = gs + (T - 1) * N, *sl = sg + (T - 1) * N; T_ *ol = gu + (T - 1) * N;      \
    for (long i = 0; i < N; ++i) ol[i] = gl[i] * sl[i];                                     \
    for (long t = T - 2; t >= 0; --t) {                                                     \
        const T_ *gt = gs + t * N, *st = sg + t * N, *on = gu + (t + 1) * N; T_ *ot = gu + t * N; \
        for (long i = 0; i < N; ++i) {                                                      \
            T_ c = gt[i] * st[i]; T_ a = th * st[i]; a = (T_)1 - a; T_ m = a * decay;       \
            T_ p = m * on[i]; ot[i] = c + p;                                                \
        }                                                                                   \
    }                                                                                       \
}                                                                                           \
void reverse_linear_scan_##SUF(const T_ *g, T_ a, T_ *out, long T, long N) {                 \
    const T_ *gl = g + (T - 1) * N; T_ *ol = out + (T - 1) * N;                             \
    for (long i = 0; i < N; ++i) ol[i] = gl[i];                                             \
    for (long t = T - 2; t >= 0; --t) {                                                     \
        const T_ *gt = g + t * N, *on = out + (t + 1) * N; T_ *ot = out + t * N;            \
        for (long i = 0; i < N; ++i) { T_ p = on[i] * a; ot[i] = gt[i] + p; }               \
    }                                                                                       \
}
SCANS(float, f32)
SCANS(double, f64)
"""

_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared"]
_SUFFIX = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, L, i = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    for suf, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        getattr(lib, f"linear_scan_{suf}").argtypes = [p, L, p, real, p, L, L]
        getattr(lib, f"membrane_scan_{suf}").argtypes = [p, L, p, L, p, real, real, i, p, p, p, L, L]
        getattr(lib, f"lapicque_scan_{suf}").argtypes = [p, L, p, real, real, real, i, p, p, p, L, L]
        getattr(lib, f"reverse_addcmul_{suf}").argtypes = [p, p, p, L, L]
        getattr(lib, f"reverse_linear_scan_{suf}").argtypes = [p, real, p, L, L]
        getattr(lib, f"reverse_subtract_grad_{suf}").argtypes = [p, p, real, real, p, L, L]
        for name in ("linear_scan", "membrane_scan", "lapicque_scan", "reverse_addcmul",
                     "reverse_linear_scan", "reverse_subtract_grad"):
            getattr(lib, f"{name}_{suf}").restype = None
    return lib


_KERNELS = c_build.CompiledLibrary(_SOURCE, _FLAGS, "scan-kernels", _declare, "fused scans",
                                   "SNN_SCAN_KERNELS")
_lib = _KERNELS.get


def available() -> bool:
    """Whether the compiled kernels are loaded (building them on first call)."""
    return _lib() is not None


def kernels_disabled() -> contextlib.AbstractContextManager[None]:
    """``with kernels_disabled():`` runs the fused scans' Python loops (the kernels' reference)."""
    return _KERNELS.disabled()


def _step_stride(x: Tensor, N: int) -> int | None:
    """The time stride of ``x (T, ...)`` in elements if every step is one contiguous block."""
    if x.dim() < 1 or x[0].numel() != N or not x[0].is_contiguous():
        return None
    return x.stride(0) if x.shape[0] > 1 else N


def _usable(like: Tensor, *others: Tensor | None) -> tuple[ctypes.CDLL, str, type, int] | None:
    """(library, dtype suffix, ctypes scalar, N) when the kernels take ``like`` and ``others``."""
    if like.device.type != "cpu" or like.dtype not in _SUFFIX or like.dim() < 1 or like.shape[0] == 0:
        return None
    N = like[0].numel()
    if N > PARALLEL_ELEMENTS and torch.get_num_threads() > 1:
        return None
    for o in others:
        if o is not None and (o.device.type != "cpu" or o.dtype != like.dtype):
            return None
    lib = _lib()
    if lib is None:
        return None
    suf, real = _SUFFIX[like.dtype]
    return lib, suf, real, N


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _state(v0: Tensor | None, step_shape: torch.Size) -> tuple[bool, Tensor | None]:
    """``(ok, v0 as a contiguous tensor of one step's shape)``; not ok where it does not broadcast."""
    if v0 is None:
        return True, None
    try:
        return True, v0.expand(step_shape).contiguous()
    except RuntimeError:
        return False, None


def linear_scan(x: Tensor, a: float, g0: Tensor | None) -> Tensor | None:
    """``out[t] = a * out[t-1] + x[t]`` (``out[0] = x[0]`` when ``g0`` is None), or ``None``
    when the kernels do not take these tensors."""
    use = _usable(x, g0)
    if use is None:
        return None
    lib, suf, real, N = use
    xs = _step_stride(x, N)
    ok, g0 = _state(g0, x.shape[1:])
    if xs is None or not ok:
        return None
    out = torch.empty(x.shape, dtype=x.dtype)
    getattr(lib, f"linear_scan_{suf}")(x.data_ptr(), xs, _ptr(g0), real(a), out.data_ptr(), x.shape[0], N)
    return out


def membrane_scan(x: Tensor, xn: Tensor | None, v0: Tensor | None, beta: float, th: float,
                  reset: str) -> tuple[Tensor, Tensor, Tensor] | None:
    """``MembraneScan``'s forward loop: ``(u_all, s_all, v_all)``, or ``None`` (not taken)."""
    use = _usable(x, xn, v0)
    if use is None or reset not in RESETS:
        return None
    lib, suf, real, N = use
    xs = _step_stride(x, N)
    xns = _step_stride(xn, N) if xn is not None else 0
    ok, v0 = _state(v0, x.shape[1:])
    if xs is None or xns is None or not ok or (xn is not None and xn.shape != x.shape):
        return None
    u, s, v = (torch.empty(x.shape, dtype=x.dtype) for _ in range(3))
    getattr(lib, f"membrane_scan_{suf}")(x.data_ptr(), xs, _ptr(xn), xns, _ptr(v0), real(beta), real(th),
                                         RESETS[reset], u.data_ptr(), s.data_ptr(), v.data_ptr(),
                                         x.shape[0], N)
    return u, s, v


def lapicque_scan(rI: Tensor, v0: Tensor, k: float, v_rest: float, th: float,
                  reset: str) -> tuple[Tensor, Tensor, Tensor] | None:
    """``LapicqueScan``'s forward loop: ``(u_all, s_all, v_all)``, or ``None`` (not taken)."""
    use = _usable(rI, v0)
    if use is None or reset not in RESETS:
        return None
    lib, suf, real, N = use
    rs = _step_stride(rI, N)
    ok, v0c = _state(v0, rI.shape[1:])
    if rs is None or not ok or v0c is None:
        return None
    u, s, v = (torch.empty(rI.shape, dtype=rI.dtype) for _ in range(3))
    getattr(lib, f"lapicque_scan_{suf}")(rI.data_ptr(), rs, v0c.data_ptr(), real(k), real(v_rest), real(th),
                                         RESETS[reset], u.data_ptr(), s.data_ptr(), v.data_ptr(),
                                         rI.shape[0], N)
    return u, s, v


def reverse_addcmul(c: Tensor, m: Tensor) -> Tensor | None:
    """``gu[T-1] = c[T-1]; gu[t] = c[t] + m[t] * gu[t+1]``, or ``None`` (not taken)."""
    use = _usable(c, m)
    if use is None or m.shape != c.shape:
        return None
    lib, suf, _, N = use
    c, m = c.contiguous(), m.contiguous()
    gu = torch.empty(c.shape, dtype=c.dtype)
    getattr(lib, f"reverse_addcmul_{suf}")(c.data_ptr(), m.data_ptr(), gu.data_ptr(), c.shape[0], N)
    return gu


def reverse_linear_scan(g: Tensor, a: float) -> Tensor | None:
    """``out[T-1] = g[T-1]; out[t] = g[t] + a * out[t+1]`` (``sum_k a**(k-t) g[k]``), or ``None``."""
    use = _usable(g)
    if use is None:
        return None
    lib, suf, real, N = use
    g = g.contiguous()
    out = torch.empty(g.shape, dtype=g.dtype)
    getattr(lib, f"reverse_linear_scan_{suf}")(g.data_ptr(), real(a), out.data_ptr(), g.shape[0], N)
    return out


def reverse_subtract_grad(g_s: Tensor, sg: Tensor, th: float, decay: float) -> Tensor | None:
    """``reset_grads`` of the subtract reset with the spike kept and no gradient of ``v``:
    ``gu[t] = g_s[t] sg[t] + (1 - th sg[t]) decay gu[t+1]`` (the torch ops' order and
    roundings), or ``None`` (not taken)."""
    use = _usable(g_s, sg)
    if use is None or sg.shape != g_s.shape:
        return None
    lib, suf, real, N = use
    g_s, sg = g_s.contiguous(), sg.contiguous()
    gu = torch.empty(g_s.shape, dtype=g_s.dtype)
    getattr(lib, f"reverse_subtract_grad_{suf}")(g_s.data_ptr(), sg.data_ptr(), real(th), real(decay),
                                                 gu.data_ptr(), g_s.shape[0], N)
    return gu

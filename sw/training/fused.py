"""Fused multi-step scans: the switch and the linear backward recursion they share.

``fused_scans(False)`` sends every ``forward_sequence`` through the step-by-step
autograd loop (the reference the scans are tested against).  The scans
themselves live in ``fused_linear`` (``LinearScan``, ``MembraneScan`` -- the
one ``LIFCell`` takes --, ``LapicqueScan``), ``fused_adaptive``,
``fused_recurrent`` and ``sparse``.

For LIF (per step ``u[t] = beta * v[t-1] + I[t]``, ``s[t] = u[t] > threshold``,
``v[t] = u[t] - s[t] * threshold``) only ``u`` is saved; spikes and ``v`` are
recomputed from it in backward.  Because the reset spike is detached, the
backward recursion ``gu[t] = g[t] + beta * gu[t+1]`` with ``g[t] = dL/ds[t] *
sg(u[t] - threshold) + dL/dv[t]`` is linear with a constant factor, so
``reverse_discounted_sum`` evaluates it without a Python loop: on the CPU as a
compiled reverse scan (``scan_kernels``), elsewhere as a matrix product with the
triangular matrix of powers of ``beta`` (in chunks for long sequences).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch
from torch import Tensor

from sw.training import scan_kernels

_CHUNK = 64
_ENABLED = [True]


def fused_enabled() -> bool:
    """Whether cells and state modules take their fused multi-step scans (default True)."""
    return _ENABLED[0]


@contextlib.contextmanager
def fused_scans(enabled: bool) -> Iterator[None]:
    """Context manager: ``with fused_scans(False):`` makes every ``forward_sequence`` run the
    step-by-step autograd loop instead (the reference the fused scans are checked against)."""
    old = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    try:
        yield
    finally:
        _ENABLED[0] = old


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
    """``out[t] = sum_{k >= t} beta**(k - t) * g[k]`` along dim 0.

    On the CPU the compiled reverse scan (``scan_kernels.reverse_linear_scan``, ``T N``
    multiply-adds) does it; elsewhere, matrix products with the triangular matrix of powers.
    """
    out = scan_kernels.reverse_linear_scan(g, float(beta))
    if out is not None:
        return out
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

"""Spike encoders: turn analog values into spike trains shaped ``(T, *x.shape)``.

``get_encoder(name)`` gives the encoder of an ``hw.ir`` encoding (``"direct"``, ``"rate"``,
``"latency"``) as ``fn(x, n_timesteps) -> (T, *x.shape)``, what ``fit`` / ``train_epoch`` /
``evaluate`` take as ``encoder=`` (``None`` for ``direct``: the sample itself is presented
at every step).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _check_unit(x: Tensor, name: str) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name}: x must be a tensor")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name}: values must lie in [0, 1], got [{float(x.min()):g}, "
                         f"{float(x.max()):g}]")


def _check_t(n_timesteps: int, name: str) -> None:
    if not isinstance(n_timesteps, int) or n_timesteps < 1:
        raise ValueError(f"{name}: n_timesteps must be an int >= 1, got {n_timesteps!r}")


def rate_encode(x: Tensor, n_timesteps: int, generator: torch.Generator | None = None) -> Tensor:
    """Poisson/Bernoulli rate code: each step spikes with probability ``x``.

    Args:
        x: intensities, any shape; values outside [0, 1] are clamped to it (as
            the seed system and snnTorch's ``spikegen.rate`` do); NaN is an error.
        n_timesteps: T.
        generator: optional ``torch.Generator`` for reproducible trains.
    """
    if not torch.is_tensor(x):
        raise TypeError("rate_encode: x must be a tensor")
    if torch.isnan(x).any():
        raise ValueError("rate_encode: x contains NaN")
    _check_t(n_timesteps, "rate_encode")
    p = x.clamp(0.0, 1.0).unsqueeze(0).expand(n_timesteps, *x.shape)
    return torch.bernoulli(p, generator=generator)


def latency_encode(x: Tensor, n_timesteps: int, tau: float = 5.0) -> Tensor:
    """Time-to-first-spike code: one spike at ``t = round(tau * ln(1 / x))``.

    Strong inputs spike early (``x = 1`` at t = 0); an input whose spike time
    falls at or beyond ``n_timesteps``, or ``x = 0``, never spikes.
    """
    _check_unit(x, "latency_encode")
    _check_t(n_timesteps, "latency_encode")
    if tau <= 0:
        raise ValueError(f"latency_encode: tau must be > 0, got {tau}")
    t_spike = torch.round(tau * torch.log(1.0 / x.clamp(min=1e-12)))
    t_spike = torch.where(x > 0, t_spike, torch.full_like(x, float(n_timesteps)))
    steps = torch.arange(n_timesteps, device=x.device, dtype=x.dtype).reshape(
        -1, *([1] * x.dim()))
    return (steps == t_spike.unsqueeze(0)).to(x.dtype)


def delta_encode(x: Tensor, threshold: float = 0.1, off_spike: bool = False) -> Tensor:
    """Change code for temporal data ``x (T, ...)``: spike where the value rose
    by at least ``threshold`` since the previous step.

    The first sample is the reference (as the seed's): step 0 never spikes,
    so a constant signal gives no spikes.  With ``off_spike=True`` a fall of
    at least ``threshold`` gives -1.
    """
    if not torch.is_tensor(x) or x.dim() < 1:
        raise ValueError("delta_encode: x must be a tensor shaped (T, ...)")
    if threshold <= 0:
        raise ValueError(f"delta_encode: threshold must be > 0, got {threshold}")
    prev = torch.cat([x[:1], x[:-1]])
    d = x - prev
    out = (d >= threshold).to(x.dtype)
    if off_spike:
        out = out - (d <= -threshold).to(x.dtype)
    return out


ENCODINGS: tuple[str, ...] = ("direct", "rate", "latency")
"""The input encodings of ``hw.ir`` (``hw.ir.ENCODINGS``), in the same order."""


def get_encoder(name: str, generator: torch.Generator | None = None
                ) -> Callable[[Tensor, int], Tensor] | None:
    """The encoder of encoding ``name``: ``None`` for ``"direct"`` (no encoding),
    ``rate_encode`` (with ``generator``, if given) for ``"rate"``, ``latency_encode``
    (``tau=5``) for ``"latency"``; ``ValueError`` for any other name."""
    if name == "direct":
        return None
    if name == "rate":
        return lambda x, n_timesteps: rate_encode(x, n_timesteps, generator=generator)
    if name == "latency":
        return latency_encode
    raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")

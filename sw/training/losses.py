"""Losses on spike counts / membrane, and firing regularisers.

Each classification loss has an ``output`` attribute telling ``train_epoch``
which network output it reads: ``"counts"`` (spike counts) or ``"membrane"``
(accumulated membrane); ``spike_rate_loss`` also needs T (``needs_timesteps``).
A user loss without these attributes is called as ``loss_fn(counts, targets)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def spike_count_loss(counts: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy on output spike counts ``(batch, classes)`` (the default)."""
    return F.cross_entropy(counts, targets)


def membrane_loss(mem_acc: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy on the accumulated output membrane ``(batch, classes)``."""
    return F.cross_entropy(mem_acc, targets)


def spike_rate_loss(counts: Tensor, targets: Tensor, n_timesteps: int,
                    target_rate: float = 0.8) -> Tensor:
    """MSE between firing rates ``counts / T`` and ``target_rate`` for the true
    class, 0 for the others."""
    if n_timesteps < 1:
        raise ValueError(f"spike_rate_loss: n_timesteps must be >= 1, got {n_timesteps}")
    if not 0.0 <= target_rate <= 1.0:
        raise ValueError(f"spike_rate_loss: target_rate must be in [0, 1], got {target_rate}")
    target = F.one_hot(targets, counts.shape[-1]).to(counts.dtype) * target_rate
    return F.mse_loss(counts / n_timesteps, target)


def spike_l1_loss(spikes: Tensor, weight: float = 1.0) -> Tensor:
    """Sparsity regulariser: ``weight * mean(|spikes|)`` (spike trains or counts)."""
    return weight * spikes.abs().mean()


def spike_l2_loss(spikes: Tensor, weight: float = 1.0) -> Tensor:
    """Sparsity regulariser penalising bursts: ``weight * mean(spikes ** 2)``."""
    return weight * spikes.pow(2).mean()


spike_count_loss.output = "counts"  # type: ignore[attr-defined]
membrane_loss.output = "membrane"  # type: ignore[attr-defined]
spike_rate_loss.output = "counts"  # type: ignore[attr-defined]
spike_rate_loss.needs_timesteps = True  # type: ignore[attr-defined]

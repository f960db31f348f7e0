"""Losses on spike counts / membrane, and firing regularisers.

Each classification loss has an ``output`` attribute telling ``train_epoch``
which network output it reads: ``"counts"`` (spike counts) or ``"membrane"``
(accumulated membrane); ``spike_rate_loss`` also needs T (``needs_timesteps``).
A user loss without these attributes is called as ``loss_fn(counts, targets)``.
"""

from __future__ import annotations

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


def _rates(spikes: Tensor, n_timesteps: int | None, name: str) -> Tensor:
    if n_timesteps is None:
        return spikes
    if isinstance(n_timesteps, bool) or not isinstance(n_timesteps, int) or n_timesteps < 1:
        raise ValueError(f"{name}: n_timesteps must be an int >= 1, got {n_timesteps!r}")
    return spikes / n_timesteps


def spike_l1_loss(spikes: Tensor, n_timesteps: int | None = None, weight: float = 1.0) -> Tensor:
    """Sparsity regulariser: ``weight * mean(|spikes / T|)``.

    As the seed's ``spike_l1_loss(spike_counts, n_timesteps)``: spike counts
    divided by ``n_timesteps`` are rates; with ``n_timesteps=None`` the input
    (spike trains, or counts) is used as it is.
    """
    return weight * _rates(spikes, n_timesteps, "spike_l1_loss").abs().mean()


def spike_l2_loss(spikes: Tensor, n_timesteps: int | None = None, weight: float = 1.0) -> Tensor:
    """Regulariser penalising high rates: ``weight * mean((spikes / T) ** 2)`` (see ``spike_l1_loss``)."""
    return weight * _rates(spikes, n_timesteps, "spike_l2_loss").pow(2).mean()


spike_count_loss.output = "counts"  # type: ignore[attr-defined]
membrane_loss.output = "membrane"  # type: ignore[attr-defined]
spike_rate_loss.output = "counts"  # type: ignore[attr-defined]
spike_rate_loss.needs_timesteps = True  # type: ignore[attr-defined]

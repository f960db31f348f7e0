"""DistributedDataParallel helpers: ``torchrun --nproc_per_node=N`` on CPU (gloo) or CUDA (nccl).

Everything here is a no-op in a plain single-process run, so the same script
works both ways.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group torchrun set up (env ``WORLD_SIZE`` > 1).

    Returns ``(rank, world_size)``; ``(0, 1)`` when not launched by torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def is_distributed() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed)."""
    return not is_distributed() or dist.get_rank() == 0


def wrap_ddp(model: nn.Module) -> nn.Module:
    """Wrap in ``DistributedDataParallel`` when distributed, else return ``model``."""
    if not is_distributed():
        return model
    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP / DataParallel wrapper (or ``model`` itself)."""
    return getattr(model, "module", model)


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a few scalars over ranks (identity when not distributed)."""
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

"""Server settings: where runs are stored, where MNIST lives, how much runs at once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_DB = "SNN_STUDIO_DB"
ENV_MNIST_DIR = "SNN_STUDIO_MNIST_DIR"


def _default_db() -> Path:
    return Path(os.environ.get(ENV_DB, Path.home() / ".snn_studio" / "studio.sqlite"))


def _default_mnist_dir() -> Path | None:
    value = os.environ.get(ENV_MNIST_DIR)
    return Path(value) if value else None


@dataclass
class StudioSettings:
    """Settings of one Studio server.

    Attributes:
        db_path: SQLite file holding jobs and their events (``$SNN_STUDIO_DB``).
        mnist_dir: folder with the four MNIST IDX files (``$SNN_STUDIO_MNIST_DIR``);
            without it, ``dataset="mnist"`` falls back to synthetic data with a note.
        max_concurrent_jobs: jobs training at the same time; others wait as ``idle``.
        max_active_jobs: running + waiting jobs accepted before ``start`` answers 429.
        torch_threads: intra-op threads torch may use (shared by all jobs), so
            training cannot starve the server's event loop.
        heartbeat_s: a live stream gets a ``heartbeat`` event after this much silence.
        batch_events_per_epoch: at most this many ``batch`` events per epoch.
    """

    db_path: Path = field(default_factory=_default_db)
    mnist_dir: Path | None = field(default_factory=_default_mnist_dir)
    max_concurrent_jobs: int = 2
    max_active_jobs: int = 16
    torch_threads: int = 1
    heartbeat_s: float = 10.0
    batch_events_per_epoch: int = 50

    def __post_init__(self) -> None:
        for name in ("max_concurrent_jobs", "max_active_jobs", "torch_threads", "batch_events_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"StudioSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_active_jobs < self.max_concurrent_jobs:
            raise ValueError("StudioSettings.max_active_jobs must be >= max_concurrent_jobs")
        if self.heartbeat_s <= 0:
            raise ValueError(f"StudioSettings.heartbeat_s must be > 0, got {self.heartbeat_s}")

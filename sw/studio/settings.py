"""Server settings: where runs are stored, where MNIST lives, how much runs at once, who may connect."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

ENV_DB = "SNN_STUDIO_DB"
ENV_MNIST_DIR = "SNN_STUDIO_MNIST_DIR"
ENV_TOKEN = "SNN_STUDIO_TOKEN"


def _default_db() -> Path:
    return Path(os.environ.get(ENV_DB, Path.home() / ".snn_studio" / "studio.sqlite"))


def _default_mnist_dir() -> Path | None:
    value = os.environ.get(ENV_MNIST_DIR)
    return Path(value) if value else None


def _default_token() -> str | None:
    return os.environ.get(ENV_TOKEN) or None


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
        host: the address the server listens on; requests must name it (or, for
            loopback, any loopback name) in their ``Host`` header (DNS rebinding).
        token: the access token (``$SNN_STUDIO_TOKEN``); required unless ``host``
            is a loopback address, optional there.
        allowed_hosts: further ``Host`` names to accept (a DNS name or proxy in
            front of the server); ``"*"`` accepts any.
        max_body_bytes: largest request body read; a larger one is answered 413.
    """

    db_path: Path = field(default_factory=_default_db)
    mnist_dir: Path | None = field(default_factory=_default_mnist_dir)
    max_concurrent_jobs: int = 2
    max_active_jobs: int = 16
    torch_threads: int = 1
    heartbeat_s: float = 10.0
    batch_events_per_epoch: int = 50
    host: str = "127.0.0.1"
    token: str | None = field(default_factory=_default_token)
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("max_concurrent_jobs", "max_active_jobs", "torch_threads", "batch_events_per_epoch",
                     "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"StudioSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_active_jobs < self.max_concurrent_jobs:
            raise ValueError("StudioSettings.max_active_jobs must be >= max_concurrent_jobs")
        if self.heartbeat_s <= 0:
            raise ValueError(f"StudioSettings.heartbeat_s must be > 0, got {self.heartbeat_s}")
        if self.token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{8,200}", self.token):
            raise ValueError("StudioSettings.token must be 8-200 characters of A-Z a-z 0-9 . _ ~ -")
        if self.token is None and not is_loopback_host(self.host):
            raise ValueError(f"listening on {self.host!r} (not loopback) needs a token; "
                             "give one with --token or $SNN_STUDIO_TOKEN")
        self.allowed_hosts = tuple(self.allowed_hosts)


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is a loopback address, or a name that resolves only to loopback ones."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)

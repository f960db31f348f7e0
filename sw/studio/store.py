"""SQLite persistence for Studio jobs and their event streams.

Every event a job emits is written here before any client sees it, so a
finished run's curves survive a server restart and a reconnecting client can
be replayed from disk.  One connection is shared by all threads behind a lock
(SQLite serialises writers anyway); WAL mode keeps readers from blocking.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    config      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    reason      TEXT,
    device      TEXT,
    note        TEXT
);
CREATE TABLE IF NOT EXISTS events (
    job_id   TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    type     TEXT NOT NULL,
    data     TEXT NOT NULL,
    ts       REAL NOT NULL,
    PRIMARY KEY (job_id, event_id)
);
"""


@dataclass
class JobRecord:
    """One row of the ``jobs`` table."""

    job_id: str
    status: str
    config: dict[str, Any]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    device: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One event of a job's stream: ``id`` is monotonic within the job."""

    id: int
    type: str
    data: dict[str, Any]
    ts: float


_JOB_FIELDS = ("status", "started_at", "finished_at", "reason", "device", "note")


class Store:
    """Jobs and events in one SQLite file (``":memory:"`` for a throwaway store)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def insert_job(self, job: JobRecord) -> None:
        """Add a new job row."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                (job.job_id, job.status, json.dumps(job.config), job.created_at,
                 job.started_at, job.finished_at, job.reason, job.device, job.note),
            )

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set some of ``status, started_at, finished_at, reason, device, note``."""
        unknown = set(fields) - set(_JOB_FIELDS)
        if unknown:
            raise ValueError(f"unknown job field(s): {sorted(unknown)}")
        if not fields:
            return
        cols = ", ".join(f"{name}=?" for name in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {cols} WHERE job_id=?", (*fields.values(), job_id))

    def jobs(self) -> list[JobRecord]:
        """All jobs, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, status, config, created_at, started_at, finished_at, reason,"
                " device, note FROM jobs ORDER BY created_at, job_id"
            ).fetchall()
        return [JobRecord(r[0], r[1], json.loads(r[2]), *r[3:]) for r in rows]

    def append_event(self, job_id: str, event: StoredEvent) -> None:
        """Persist one event (ids must grow within a job; the primary key enforces uniqueness)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO events VALUES (?,?,?,?,?)",
                (job_id, event.id, event.type, json.dumps(event.data), event.ts),
            )

    def events(self, job_id: str, after: int = 0, types: tuple[str, ...] = ()) -> list[StoredEvent]:
        """Events of a job with ``id > after``, in id order, optionally only some types."""
        query = "SELECT event_id, type, data, ts FROM events WHERE job_id=? AND event_id>?"
        args: list[Any] = [job_id, after]
        if types:
            query += f" AND type IN ({','.join('?' * len(types))})"
            args.extend(types)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY event_id", args).fetchall()
        return [StoredEvent(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def last_event_id(self, job_id: str) -> int:
        """Highest event id of a job (0 if it has none)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(event_id) FROM events WHERE job_id=?", (job_id,)
            ).fetchone()
        return int(row[0] or 0)

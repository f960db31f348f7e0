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
from dataclasses import dataclass, field
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
SCHEMA_VERSION = 3
# Per-job summary kept up to date by append_event (version 2), so listing jobs or
# reading a status never scans a job's events.
_SUMMARY_COLUMNS = {
    "epochs_done": "INTEGER NOT NULL DEFAULT 0",
    "best_val_accuracy": "REAL",
    "latest": "TEXT",                 # JSON of the newest epoch event's data
    "last_event_id": "INTEGER NOT NULL DEFAULT 0",
    "last_event_type": "TEXT",
    "last_event_ts": "REAL",
}
# User-given run metadata (version 3): a name, tags (a JSON list) and notes.
_META_COLUMNS = {
    "name": "TEXT",
    "tags": "TEXT NOT NULL DEFAULT '[]'",
    "notes": "TEXT",
}
_BACKFILL = """
UPDATE jobs SET
  epochs_done = (SELECT COUNT(*) FROM events e WHERE e.job_id = jobs.job_id AND e.type = 'epoch'),
  best_val_accuracy = (SELECT MAX(json_extract(e.data, '$.val_accuracy')) FROM events e
                       WHERE e.job_id = jobs.job_id AND e.type = 'epoch'),
  latest = (SELECT e.data FROM events e WHERE e.job_id = jobs.job_id AND e.type = 'epoch'
            ORDER BY e.event_id DESC LIMIT 1),
  last_event_id = COALESCE((SELECT MAX(e.event_id) FROM events e WHERE e.job_id = jobs.job_id), 0),
  last_event_type = (SELECT e.type FROM events e WHERE e.job_id = jobs.job_id ORDER BY e.event_id DESC LIMIT 1),
  last_event_ts = (SELECT e.ts FROM events e WHERE e.job_id = jobs.job_id ORDER BY e.event_id DESC LIMIT 1)
"""


@dataclass
class JobRecord:
    """One row of the ``jobs`` table: what was asked, its lifecycle and a summary of its events."""

    job_id: str
    status: str
    config: dict[str, Any]
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    device: str | None = None
    note: str | None = None
    epochs_done: int = 0
    best_val_accuracy: float | None = None
    latest: dict[str, Any] | None = None
    last_event_id: int = 0
    last_event_type: str | None = None
    last_event_ts: float | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One event of a job's stream: ``id`` is monotonic within the job."""

    id: int
    type: str
    data: dict[str, Any]
    ts: float


_JOB_FIELDS = ("status", "started_at", "finished_at", "reason", "device", "note", "name", "tags", "notes")
_RECORD_COLUMNS = ("job_id", "status", "config", "created_at", "started_at", "finished_at", "reason", "device",
                   "note", *_SUMMARY_COLUMNS, *_META_COLUMNS)
_SELECT_JOBS = f"SELECT {', '.join(_RECORD_COLUMNS)} FROM jobs"


def _record(row: tuple[Any, ...]) -> JobRecord:
    values = dict(zip(_RECORD_COLUMNS, row))
    values["config"] = json.loads(values["config"])
    values["latest"] = json.loads(values["latest"]) if values["latest"] else None
    values["tags"] = json.loads(values["tags"]) if values["tags"] else []
    return JobRecord(**values)


class Store:
    """Jobs and events in one SQLite file (``":memory:"`` for a throwaway store).

    A database written by an older Studio (without the summary columns, or
    without the name / tags / notes columns) is migrated on open: the missing
    columns are added (the summaries filled from its events once).
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if version < 2:
                for name, decl in _SUMMARY_COLUMNS.items():
                    if name not in have:
                        self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
                self._db.execute(_BACKFILL)
            for name, decl in _META_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at, job_id)")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status)")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def insert_job(self, job: JobRecord) -> None:
        """Add a new job row."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (job_id, status, config, created_at, started_at, finished_at, reason, device, note)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (job.job_id, job.status, json.dumps(job.config), job.created_at,
                 job.started_at, job.finished_at, job.reason, job.device, job.note),
            )

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set some of ``status, started_at, finished_at, reason, device, note, name, tags, notes``."""
        unknown = set(fields) - set(_JOB_FIELDS)
        if unknown:
            raise ValueError(f"unknown job field(s): {sorted(unknown)}")
        if not fields:
            return
        if "tags" in fields:
            fields["tags"] = json.dumps(list(fields["tags"] or []))
        cols = ", ".join(f"{name}=?" for name in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {cols} WHERE job_id=?", (*fields.values(), job_id))

    def job(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        with self._lock:
            row = self._db.execute(_SELECT_JOBS + " WHERE job_id=?", (job_id,)).fetchone()
        return _record(row) if row else None

    def jobs(self, statuses: tuple[str, ...] = (), limit: int | None = None, offset: int = 0,
             newest_first: bool = False) -> list[JobRecord]:
        """Jobs (oldest first unless ``newest_first``), optionally only some statuses, one page."""
        query, args = _SELECT_JOBS, []
        if statuses:
            query += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        order = "DESC" if newest_first else ""
        query += f" ORDER BY created_at {order}, job_id {order} LIMIT ? OFFSET ?"
        args += [-1 if limit is None else limit, offset]
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [_record(r) for r in rows]

    def count_jobs(self) -> int:
        """How many jobs are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    def newest_job_id(self) -> str | None:
        """Id of the most recently created job, or None."""
        with self._lock:
            row = self._db.execute("SELECT job_id FROM jobs ORDER BY created_at DESC, job_id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def append_event(self, job_id: str, event: StoredEvent) -> None:
        """Persist one event and update the job's summary in the same transaction
        (ids must grow within a job; the primary key enforces uniqueness)."""
        data = json.dumps(event.data)
        sets = "last_event_id=?, last_event_type=?, last_event_ts=?"
        args: list[Any] = [event.id, event.type, event.ts]
        if event.type == "epoch":
            sets += ", epochs_done=epochs_done+1, latest=?"
            args.append(data)
            acc = event.data.get("val_accuracy")
            if isinstance(acc, (int, float)) and not isinstance(acc, bool):
                sets += ", best_val_accuracy=MAX(COALESCE(best_val_accuracy, ?), ?)"
                args += [acc, acc]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO events VALUES (?,?,?,?,?)",
                                 (job_id, event.id, event.type, data, event.ts))
                self._db.execute(f"UPDATE jobs SET {sets} WHERE job_id=?", (*args, job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def events(self, job_id: str, after: int = 0, types: tuple[str, ...] = (),
               limit: int | None = None) -> list[StoredEvent]:
        """Events of a job with ``id > after``, in id order, optionally only some types, at most ``limit``."""
        query = "SELECT event_id, type, data, ts FROM events WHERE job_id=? AND event_id>?"
        args: list[Any] = [job_id, after]
        if types:
            query += f" AND type IN ({','.join('?' * len(types))})"
            args.extend(types)
        args.append(-1 if limit is None else limit)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY event_id LIMIT ?", args).fetchall()
        return [StoredEvent(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def last_event_id(self, job_id: str) -> int:
        """Highest event id of a job (0 if it has none)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(event_id) FROM events WHERE job_id=?", (job_id,)
            ).fetchone()
        return int(row[0] or 0)

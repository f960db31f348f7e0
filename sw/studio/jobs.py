"""Job manager: lifecycle, bounded concurrency, cooperative stop, restart recovery.

Lifecycle: ``idle`` (accepted, waiting for a worker) -> ``starting`` (data and
model being built) -> ``running`` -> ``completed | stopped | failed``.  The
status is always written before the terminal event is published, so a client
that saw ``completed`` on the stream reads ``completed`` from ``/status``.

Only live jobs (waiting or training) are held in memory; a finished job is
read back from the store when asked for, so memory does not grow with history.
Workers are daemon threads: a training step that will not return cannot keep
the process from exiting after shutdown has ended its job.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .events import TERMINAL_EVENTS, EventLog, format_heartbeat, format_sse
from .settings import StudioSettings
from .store import JobRecord, Store

ACTIVE_STATUSES = ("idle", "starting", "running")
FINAL_STATUSES = ("completed", "stopped", "failed")
_FINAL_EVENT = {"completed": "completed", "stopped": "stopped", "failed": "error"}


class JobNotFound(KeyError):
    """No job has this id."""


class JobLimitReached(RuntimeError):
    """Too many jobs are running or waiting; try again later."""


@dataclass
class Job:
    """A training job: its persisted record, event log and stop flag."""

    record: JobRecord
    log: EventLog
    stop_requested: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = "stopped on request"

    @property
    def job_id(self) -> str:
        return self.record.job_id

    @property
    def status(self) -> str:
        return self.record.status


class JobContext:
    """What a training function may do to its job (handed to the runner)."""

    def __init__(self, manager: "JobManager", job: Job) -> None:
        self._manager = manager
        self._job = job

    @property
    def job_id(self) -> str:
        return self._job.job_id

    def should_stop(self) -> bool:
        """True once a stop was requested (check at least once per batch)."""
        return self._job.stop_requested.is_set()

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        """Publish a non-terminal event (config, batch, epoch, diagnosis)."""
        if type_ in TERMINAL_EVENTS:
            raise ValueError("terminal events are sent by finish(), not emit()")
        self._job.log.append(type_, data)

    def set_running(self, device: str, note: str | None = None) -> None:
        """Mark the job ``running`` (data and model are built)."""
        self._manager._transition(self._job, "running", device=device, note=note)

    def finish(self, status: str, data: dict[str, Any]) -> None:
        """End the job as ``completed`` or ``stopped`` with a summary."""
        if status not in ("completed", "stopped"):
            raise ValueError(f"finish() takes 'completed' or 'stopped', got {status!r}")
        self._manager._finish(self._job, status, data)


Runner = Callable[[dict[str, Any], JobContext, StudioSettings], None]


class JobManager:
    """Owns every job: starts them on a bounded pool, stops them, streams their events.

    Args:
        store: persistence; jobs found ``idle/starting/running`` in it are from a
            server that died and are marked ``failed`` with the reason.
        settings: concurrency limits, heartbeat period, dataset locations.
        runner: ``runner(config, ctx, settings)`` trains one job (``sw.studio.trainer.run_training``).
    """

    def __init__(self, store: Store, settings: StudioSettings, runner: Runner) -> None:
        self._store = store
        self._settings = settings
        self._runner = runner
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}   # live jobs only
        newest = store.newest_job_id()
        self._last_ms = int(newest[4:]) if newest else 0
        self._closed = False
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._work, name=f"studio-job-{i}", daemon=True)
                         for i in range(settings.max_concurrent_jobs)]
        self._recover()
        for worker in self._workers:
            worker.start()

    @property
    def settings(self) -> StudioSettings:
        return self._settings

    # ---- recovery -------------------------------------------------------
    def _recover(self) -> None:
        for record in self._store.jobs(statuses=ACTIVE_STATUSES):
            job = self._job_of(record)
            reason = (f"the server stopped while this job was {record.status}; "
                      "its results up to the last epoch are kept")
            self._finish(job, "failed", {"message": reason, "cause": "server_restart"}, reason=reason)

    def _job_of(self, record: JobRecord) -> Job:
        return Job(record, EventLog(record.job_id, self._store, record.last_event_id, record.last_event_type,
                                    record.last_event_ts))

    # ---- public API -----------------------------------------------------
    def start(self, config: dict[str, Any]) -> Job:
        """Accept a job (status ``idle``) and queue it; raises JobLimitReached when full."""
        with self._lock:
            if self._closed:
                raise JobLimitReached("the server is shutting down")
            active = sum(j.status in ACTIVE_STATUSES for j in self._jobs.values())
            if active >= self._settings.max_active_jobs:
                raise JobLimitReached(
                    f"{active} jobs are already running or waiting (limit "
                    f"{self._settings.max_active_jobs}); stop one or wait")
            ms = max(int(time.time() * 1000), self._last_ms + 1)
            self._last_ms = ms
            record = JobRecord(f"job_{ms}", "idle", dict(config), time.time())
            self._store.insert_job(record)
            job = self._job_of(record)
            self._jobs[record.job_id] = job
        self._queue.put(job)
        return job

    def stop(self, job_id: str, reason: str = "stopped on request") -> Job:
        """Request a cooperative stop; a job still waiting ends ``stopped`` at once."""
        job = self.get(job_id)
        with self._lock:
            if job.status in FINAL_STATUSES:
                return job
            if not job.stop_requested.is_set():
                job.stop_reason = reason
                job.stop_requested.set()
            if job.status == "idle":
                self._finish(job, "stopped", {"epochs_done": 0}, reason=f"{reason} before it started")
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id (live, or read back from the store); raises JobNotFound."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        record = self._store.job(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return self._job_of(record)

    def record(self, job_id: str) -> JobRecord:
        """The job's stored row with its summary (status, epochs done, best and latest epoch)."""
        record = self._store.job(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    def update_meta(self, job_id: str, **fields: Any) -> JobRecord:
        """Set a run's ``name``, ``tags`` and/or ``notes`` (any job, live or finished); its new row."""
        unknown = set(fields) - {"name", "tags", "notes"}
        if unknown:
            raise ValueError(f"not run metadata: {sorted(unknown)}")
        with self._lock:
            self.record(job_id)  # JobNotFound (404) first
            live = self._jobs.get(job_id)
            if live is not None:
                for name, value in fields.items():
                    setattr(live.record, name, list(value) if name == "tags" else value)
            self._store.update_job(job_id, **fields)
        return self.record(job_id)

    def jobs(self, limit: int | None = None, offset: int = 0) -> list[JobRecord]:
        """Stored jobs, newest first, one page."""
        return self._store.jobs(limit=limit, offset=offset, newest_first=True)

    def count(self) -> int:
        """How many jobs are stored."""
        return self._store.count_jobs()

    def epoch_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The ``epoch`` events' data of a job, in order."""
        self.record(job_id)
        return [e.data for e in self._store.events(job_id, types=("epoch",))]

    async def sse(self, job_id: str, last_event_id: int = 0, follow: bool = True) -> AsyncIterator[str]:
        """SSE text for a job: replay after ``last_event_id``, then live until the terminal event,
        with a heartbeat after each ``heartbeat_s`` of silence.

        With ``follow=False`` only what exists now is sent (a finite stream).
        """
        job = self.get(job_id)
        log = job.log
        yield "retry: 2000\n\n"
        if not follow:
            for event in log.pages(last_event_id):
                yield format_sse(event)
            return
        async for event in log.follow(last_event_id, self._settings.heartbeat_s):
            yield format_heartbeat(event, job.status) if isinstance(event, int) else format_sse(event)

    def begin_shutdown(self, reason: str = "the server shut down") -> None:
        """Refuse new jobs and ask every live one to stop (waiting ones end at once); returns at once."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            self.stop(job.job_id, reason=reason)

    def stop_all(self, timeout: float = 0.8, reason: str = "the server shut down") -> None:
        """Refuse new jobs and stop every live one; one still running after ``timeout`` s
        (e.g. still loading its data) is ended ``stopped`` without waiting for it, so every
        stream gets its final event in time."""
        self.begin_shutdown(reason)
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._jobs and time.monotonic() < deadline:
                self._changed.wait(max(0.0, deadline - time.monotonic()))
            stuck = list(self._jobs.values())
        for job in stuck:
            done = self._store.job(job.job_id)
            self._finish(job, "stopped", {"epochs_done": done.epochs_done if done else 0,
                                          "note": f"did not stop within {timeout:g} s"}, reason=reason)

    def shutdown(self, timeout: float = 0.8, reason: str = "the server shut down") -> None:
        """:meth:`stop_all`, then let the workers go; returns without waiting for a runner
        that is still busy (its thread is a daemon)."""
        self.stop_all(timeout, reason)
        for _ in self._workers:
            self._queue.put(None)

    # ---- internals ------------------------------------------------------
    def _transition(self, job: Job, status: str, **fields: Any) -> None:
        with self._lock:
            if job.status in FINAL_STATUSES:
                return
            job.record.status = status
            for name, value in fields.items():
                setattr(job.record, name, value)
            self._store.update_job(job.job_id, status=status, **fields)

    def _finish(self, job: Job, status: str, data: dict[str, Any], reason: str | None = None) -> None:
        with self._lock:
            if job.status in FINAL_STATUSES:
                return
            now = time.time()
            if reason is None and status == "stopped":
                reason = job.stop_reason
            job.record.status = status
            job.record.finished_at = now
            job.record.reason = reason
            self._store.update_job(job.job_id, status=status, finished_at=now, reason=job.record.reason)
            job.log.append(_FINAL_EVENT[status], {"status": status, "reason": reason, **data})
            self._jobs.pop(job.job_id, None)
            self._changed.notify_all()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - e.g. the store closed under a job ended by shutdown
                if job.status not in FINAL_STATUSES:
                    traceback.print_exc()  # keep the worker: the pool must not shrink

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.status != "idle":  # stopped while waiting
                return
            self._transition(job, "starting", started_at=time.time())
        try:
            self._runner(dict(job.record.config), JobContext(self, job), self._settings)
        except Exception as exc:  # noqa: BLE001 - any training error ends the job as failed
            if job.status in FINAL_STATUSES:  # ended by shutdown while the runner still ran
                return
            message = f"{type(exc).__name__}: {exc}"
            self._finish(job, "failed", {"message": message,
                                         "traceback": traceback.format_exc(limit=8)}, reason=message)
            return
        if job.status not in FINAL_STATUSES:
            message = "the trainer returned without reporting completed or stopped"
            self._finish(job, "failed", {"message": message}, reason=message)

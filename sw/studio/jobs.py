"""Job manager: lifecycle, bounded concurrency, cooperative stop, restart recovery.

Lifecycle: ``idle`` (accepted, waiting for a worker) -> ``starting`` (data and
model being built) -> ``running`` -> ``completed | stopped | failed``.  The
status is always written before the terminal event is published, so a client
that saw ``completed`` on the stream reads ``completed`` from ``/status``.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .events import TERMINAL_EVENTS, EventLog, format_sse
from .settings import StudioSettings
from .store import JobRecord, Store, StoredEvent

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
        self._jobs: dict[str, Job] = {}
        self._last_ms = 0
        self._closed = False
        self._futures: set[Future] = set()
        self._pool = ThreadPoolExecutor(settings.max_concurrent_jobs, thread_name_prefix="studio-job")
        self._recover()
        self._ticker_stop = threading.Event()
        self._ticker = threading.Thread(target=self._heartbeats, name="studio-heartbeat", daemon=True)
        self._ticker.start()

    @property
    def settings(self) -> StudioSettings:
        return self._settings

    # ---- recovery -------------------------------------------------------
    def _recover(self) -> None:
        for record in self._store.jobs():
            job = Job(record, EventLog(record.job_id, self._store, self._store.events(record.job_id)))
            self._jobs[record.job_id] = job
            if record.status in ACTIVE_STATUSES:
                reason = (f"the server stopped while this job was {record.status}; "
                          "its results up to the last epoch are kept")
                self._finish(job, "failed", {"message": reason, "cause": "server_restart"}, reason=reason)

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
            job = Job(record, EventLog(record.job_id, self._store))
            self._jobs[record.job_id] = job
        future = self._pool.submit(self._run, job)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return job

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

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
        """The job with this id; raises JobNotFound."""
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise JobNotFound(job_id) from None

    def jobs(self) -> list[Job]:
        """All jobs, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: (j.record.created_at, j.job_id), reverse=True)

    def epoch_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The ``epoch`` events' data of a job, in order."""
        return [e.data for e in self.get(job_id).log.since(0) if e.type == "epoch"]

    def events(self, job_id: str, after: int = 0) -> list[StoredEvent]:
        """Events of a job so far with ``id > after``."""
        return self.get(job_id).log.since(after)

    async def sse(self, job_id: str, last_event_id: int = 0, follow: bool = True) -> AsyncIterator[str]:
        """SSE text for a job: replay after ``last_event_id``, then live until the terminal event.

        With ``follow=False`` only what exists now is sent (a finite stream).
        """
        log = self.get(job_id).log
        yield "retry: 2000\n\n"
        if not follow:
            for event in log.since(last_event_id):
                yield format_sse(event)
            return
        async for event in log.follow(last_event_id):
            yield format_sse(event)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every job, wait for workers (bounded), close nothing else."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.status in ACTIVE_STATUSES:
                self.stop(job.job_id, reason="the server shut down")
        self._ticker_stop.set()
        with self._lock:
            futures = list(self._futures)
        wait(futures, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._ticker.join(timeout=2)

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

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.status != "idle":  # stopped while waiting
                return
            self._transition(job, "starting", started_at=time.time())
        try:
            self._runner(dict(job.record.config), JobContext(self, job), self._settings)
        except Exception as exc:  # noqa: BLE001 - any training error ends the job as failed
            message = f"{type(exc).__name__}: {exc}"
            self._finish(job, "failed", {"message": message,
                                         "traceback": traceback.format_exc(limit=8)}, reason=message)
            return
        if job.status not in FINAL_STATUSES:
            message = "the trainer returned without reporting completed or stopped"
            self._finish(job, "failed", {"message": message}, reason=message)

    def _heartbeats(self) -> None:
        period = self._settings.heartbeat_s
        while not self._ticker_stop.wait(min(period / 2, 1.0)):
            now = time.time()
            with self._lock:
                live = [j for j in self._jobs.values() if j.status in ACTIVE_STATUSES]
            for job in live:
                if now - max(job.log.last_time, job.record.created_at) >= period:
                    try:
                        job.log.append("heartbeat", {"status": job.status, "time": now})
                    except RuntimeError:  # ended between the check and the append
                        pass

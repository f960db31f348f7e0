"""Per-job event log with monotonic ids, live following and SSE framing.

Training threads append; asyncio stream handlers follow.  Appending persists
the event first (``Store.append_event``) and then wakes every follower through
its own event loop, so a client never sees an event that is not on disk.

The log keeps no history in memory: only the newest id, type and time, plus,
while the job is live, a bounded tail of recent events so that live followers
need not go to the database.  Anything older is read from SQLite a page at a
time.  Heartbeats are not events: they are sent by each stream while it waits
(:meth:`EventLog.follow` yields an id) and never stored.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .store import Store, StoredEvent

EVENT_TYPES = ("config", "batch", "epoch", "diagnosis", "completed", "stopped", "error")
TERMINAL_EVENTS = frozenset({"completed", "stopped", "error"})
PAGE = 500   # events read from the database at a time
TAIL = 256   # recent events of a live job kept in memory


class EventLog:
    """The ordered events of one job; ids start at 1 and grow by one.

    Args:
        job_id: the job.
        store: where the events live.
        last_id, last_type, last_ts: the newest stored event (from the job's summary
            row), so a log of a stored job is opened without reading its events.
    """

    def __init__(self, job_id: str, store: Store, last_id: int = 0, last_type: str | None = None,
                 last_ts: float | None = None) -> None:
        self.job_id = job_id
        self._store = store
        self._last_id = last_id
        self._last_type = last_type
        self._last_ts = last_ts or 0.0
        self._tail: deque[StoredEvent] = deque(maxlen=TAIL)
        self._lock = threading.Lock()
        self._followers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def closed(self) -> bool:
        """True once a terminal event (completed/stopped/error) was appended."""
        with self._lock:
            return self._last_type in TERMINAL_EVENTS

    @property
    def last_id(self) -> int:
        """Id of the newest event (0 when empty)."""
        with self._lock:
            return self._last_id

    @property
    def last_time(self) -> float:
        """Wall-clock time of the newest event (0 when empty)."""
        with self._lock:
            return self._last_ts

    def append(self, type_: str, data: dict[str, Any]) -> StoredEvent:
        """Persist and publish one event; refuses anything after a terminal event."""
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}; expected one of {EVENT_TYPES}")
        with self._lock:
            if self._last_type in TERMINAL_EVENTS:
                raise RuntimeError(f"job {self.job_id} already ended with {self._last_type!r}")
            event = StoredEvent(self._last_id + 1, type_, json_safe(data), time.time())
            self._store.append_event(self.job_id, event)
            self._last_id, self._last_type, self._last_ts = event.id, event.type, event.ts
            if type_ in TERMINAL_EVENTS:
                self._tail.clear()  # the job is over: followers read what they missed from disk
            else:
                self._tail.append(event)
            followers = list(self._followers)
        for loop, wake in followers:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that follower's loop has closed
                pass
        return event

    def since(self, after: int, limit: int = PAGE) -> list[StoredEvent]:
        """Up to ``limit`` events with ``id > after``, in order (memory tail or database)."""
        with self._lock:
            if after >= self._last_id:
                return []
            if self._tail and self._tail[0].id <= after + 1:
                start = after + 1 - self._tail[0].id
                return [self._tail[i] for i in range(start, min(len(self._tail), start + limit))]
        return self._store.events(self.job_id, after, limit=limit)

    def pages(self, after: int = 0) -> Iterator[StoredEvent]:
        """Every event with ``id > after`` that exists now, read a page at a time."""
        while True:
            page = self.since(after)
            if not page:
                return
            yield from page
            after = page[-1].id

    async def follow(self, after: int = 0, idle_s: float | None = None) -> AsyncIterator[StoredEvent | int]:
        """Yield every event with ``id > after``, live, until the terminal one.

        With ``idle_s``, after each ``idle_s`` seconds without an event the id of
        the last event yielded (or ``after``) is yielded instead: the caller's cue
        for a heartbeat.
        """
        wake = asyncio.Event()
        key = (asyncio.get_running_loop(), wake)
        with self._lock:
            self._followers.add(key)
        try:
            while True:
                wake.clear()  # before reading, so an append after the read still wakes us
                pending = self.since(after)
                for event in pending:
                    yield event
                    after = event.id
                    if event.type in TERMINAL_EVENTS:
                        return
                if pending:
                    continue  # there may be more than one page
                if self.closed:  # reconnect after the terminal event: nothing more will come
                    return
                try:
                    await asyncio.wait_for(wake.wait(), idle_s)
                except asyncio.TimeoutError:
                    yield after
        finally:
            with self._lock:
                self._followers.discard(key)


def json_safe(value: Any) -> Any:
    """Copy of ``value`` with NaN/inf floats as ``None`` (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def format_sse(event: StoredEvent) -> str:
    """One SSE message: ``id:`` line plus ``data: {"event", "data", "id"}`` as in seed 001."""
    payload = json.dumps({"event": event.type, "data": event.data, "id": event.id},
                         separators=(",", ":"), allow_nan=False)
    return f"id: {event.id}\ndata: {payload}\n\n"


def format_heartbeat(last_id: int, status: str) -> str:
    """A heartbeat message: no ``id:`` line (so a reconnect still resumes after the last
    real event), ``data`` with the job's status and the id of its newest event."""
    payload = json.dumps({"event": "heartbeat", "data": {"status": status, "time": time.time()}, "id": last_id},
                         separators=(",", ":"))
    return f"data: {payload}\n\n"

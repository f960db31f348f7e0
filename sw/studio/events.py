"""Per-job event log with monotonic ids, live following and SSE framing.

Training threads append; asyncio stream handlers follow.  Appending persists
the event first (``Store.append_event``) and then wakes every follower through
its own event loop, so a client never sees an event that is not on disk.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from .store import Store, StoredEvent

EVENT_TYPES = ("config", "batch", "epoch", "diagnosis", "completed", "stopped", "error", "heartbeat")
TERMINAL_EVENTS = frozenset({"completed", "stopped", "error"})


class EventLog:
    """The ordered events of one job; ids start at 1 and grow by one."""

    def __init__(self, job_id: str, store: Store, events: list[StoredEvent] | None = None) -> None:
        self.job_id = job_id
        self._store = store
        self._events: list[StoredEvent] = list(events or [])
        self._ids: list[int] = [e.id for e in self._events]
        self._lock = threading.Lock()
        self._followers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def closed(self) -> bool:
        """True once a terminal event (completed/stopped/error) was appended."""
        with self._lock:
            return bool(self._events) and self._events[-1].type in TERMINAL_EVENTS

    @property
    def last_id(self) -> int:
        """Id of the newest event (0 when empty)."""
        with self._lock:
            return self._ids[-1] if self._ids else 0

    @property
    def last_time(self) -> float:
        """Wall-clock time of the newest event (0 when empty)."""
        with self._lock:
            return self._events[-1].ts if self._events else 0.0

    def append(self, type_: str, data: dict[str, Any]) -> StoredEvent:
        """Persist and publish one event; refuses anything after a terminal event."""
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}; expected one of {EVENT_TYPES}")
        with self._lock:
            if self._events and self._events[-1].type in TERMINAL_EVENTS:
                raise RuntimeError(f"job {self.job_id} already ended with {self._events[-1].type!r}")
            event = StoredEvent(self._ids[-1] + 1 if self._ids else 1, type_, json_safe(data), time.time())
            self._store.append_event(self.job_id, event)
            self._events.append(event)
            self._ids.append(event.id)
            followers = list(self._followers)
        for loop, wake in followers:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that follower's loop has closed
                pass
        return event

    def since(self, after: int) -> list[StoredEvent]:
        """Events with ``id > after``, in order."""
        with self._lock:
            return self._events[bisect.bisect_right(self._ids, after):]

    async def follow(self, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Yield every event with ``id > after``, live, until the terminal one."""
        wake = asyncio.Event()
        key = (asyncio.get_running_loop(), wake)
        with self._lock:
            self._followers.add(key)
        try:
            while True:
                wake.clear()  # before reading, so an append after the read still wakes us
                with self._lock:
                    pending = self._events[bisect.bisect_right(self._ids, after):]
                    ended = bool(self._events) and self._events[-1].type in TERMINAL_EVENTS
                for event in pending:
                    yield event
                    after = event.id
                    if event.type in TERMINAL_EVENTS:
                        return
                if not pending:
                    if ended:  # reconnect after the terminal event: nothing more will come
                        return
                    await wake.wait()
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

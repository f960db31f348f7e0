"""Ctrl-C / SIGTERM with streams open: the jobs stop, every stream gets its final ``stopped``
event, and ``python -m sw.studio`` exits within 2 s (a real server process, real SSE clients)."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

from sw.studio.store import Store

from .conftest import LONG, SMALL, free_port, spawn_studio, start_job, wait_up

EXIT_S = 2.0


class StreamReader(threading.Thread):
    """Reads one job's SSE stream in the background until the server ends it."""

    def __init__(self, url: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.job_id = url, job_id
        self.events: list[dict] = []
        self.open = threading.Event()
        self.ended_at: float | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}/api/training/stream/{self.job_id}",
                              timeout=httpx.Timeout(60.0)) as resp:
                assert resp.status_code == 200
                self.open.set()
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.ended_at = time.monotonic()
            self.open.set()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_with_open_streams(tmp_path, sig):
    db = tmp_path / "studio.sqlite"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_studio(db, port, "--jobs", "1")
    try:
        wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            running = start_job(c, **LONG)
            waiting = start_job(c, **SMALL)  # queued behind the running one
        readers = [StreamReader(url, running), StreamReader(url, waiting), StreamReader(url, running)]
        for r in readers:
            r.start()
        deadline = time.monotonic() + 60
        while sum(e["event"] == "batch" for e in readers[0].events) < 3:
            assert time.monotonic() < deadline and readers[0].error is None, readers[0].error
            time.sleep(0.05)
        assert all(r.open.wait(30) for r in readers) and all(r.ended_at is None for r in readers)
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        exit_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    for r in readers:
        r.join(10)
    print(f"\n{sig.name}: exited {exit_s:.2f} s after the signal; streams ended after "
          f"{[round(r.ended_at - t0, 2) for r in readers]} s")
    assert exit_s < EXIT_S, f"the server took {exit_s:.1f} s to exit"
    for r, job, reason in ((readers[0], running, "the server shut down"),
                           (readers[1], waiting, "the server shut down before it started"),
                           (readers[2], running, "the server shut down")):
        assert r.error is None, r.error
        last = r.events[-1]
        assert (last["event"], last["data"]["reason"]) == ("stopped", reason), (job, r.events[-3:])
        assert r.ended_at - t0 < EXIT_S
    assert [e["id"] for e in readers[2].events if e["event"] != "heartbeat"][-1] == readers[0].events[-1]["id"]
    store = Store(db)
    try:
        assert {j.job_id: j.status for j in store.jobs()} == {running: "stopped", waiting: "stopped"}
    finally:
        store.close()


def test_a_job_that_ignores_its_stop_is_ended_in_time(tmp_path):
    """A runner stuck before its first batch (loading data, say) cannot hold shutdown up."""
    from sw.studio import StudioSettings
    from sw.studio.jobs import JobManager

    release = threading.Event()

    def stuck(config, ctx, settings):
        ctx.set_running("cpu")
        release.wait(30)  # never looks at ctx.should_stop()
        ctx.emit("batch", {"epoch": 0})  # refused: the job has ended

    store = Store(tmp_path / "s.sqlite")
    manager = JobManager(store, StudioSettings(db_path=tmp_path / "s.sqlite", token=None), stuck)
    try:
        job = manager.start({"epochs": 1})
        while manager.record(job.job_id).status != "running":
            time.sleep(0.01)
        t0 = time.monotonic()
        manager.shutdown(timeout=0.3)
        assert time.monotonic() - t0 < 1.0
        record = manager.record(job.job_id)
        assert (record.status, record.reason, record.last_event_type) == ("stopped", "the server shut down", "stopped")
        assert "did not stop" in store.events(job.job_id)[-1].data["note"]
        release.set()
        time.sleep(0.2)
        assert manager.record(job.job_id).last_event_id == record.last_event_id  # nothing after the end
    finally:
        release.set()
        store.close()

"""SQLite persistence: finished runs survive a restart; a job killed mid-run is marked failed."""

from __future__ import annotations

import signal
import sqlite3
import time

import httpx
import pytest

from sw.studio.events import EventLog, TERMINAL_EVENTS
from sw.studio.store import JobRecord, Store

from .conftest import LONG, SMALL, free_port, read_events, spawn_studio, start_job, wait_up


def test_store_round_trip(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.insert_job(JobRecord("job_1", "idle", {"epochs": 2}, 1.0))
    log = EventLog("job_1", store)
    log.append("config", {"x": float("nan"), "t": (1, 2)})
    log.append("epoch", {"epoch": 0, "val_accuracy": 0.5})
    log.append("completed", {"status": "completed"})
    with pytest.raises(RuntimeError, match="already ended"):
        log.append("batch", {})
    with pytest.raises(ValueError, match="unknown event type"):
        log.append("progress", {})
    store.update_job("job_1", status="completed", finished_at=2.0)
    with pytest.raises(ValueError, match="unknown job field"):
        store.update_job("job_1", colour="red")
    store.close()

    again = Store(tmp_path / "s.sqlite")
    [job] = again.jobs()
    assert (job.job_id, job.status, job.config, job.finished_at) == ("job_1", "completed", {"epochs": 2}, 2.0)
    events = again.events("job_1")
    assert [(e.id, e.type) for e in events] == [(1, "config"), (2, "epoch"), (3, "completed")]
    assert events[0].data == {"x": None, "t": [1, 2]}  # NaN is not JSON: stored as null
    assert [e.id for e in again.events("job_1", after=1, types=("epoch",))] == [2]
    assert again.last_event_id("job_1") == 3 and again.last_event_id("job_9") == 0
    assert EventLog("job_1", again, 3, "completed").closed
    assert again.job("job_1").last_event_id == 3 and again.job("job_9") is None
    assert "completed" in TERMINAL_EVENTS


def test_restart_from_a_crash_snapshot(make_server, tmp_path):
    """Server B opens the database exactly as a crash of server A mid-job would leave it."""
    a = make_server(db_path=tmp_path / "a.sqlite")
    with a.client() as c:
        done = start_job(c, **SMALL)
        done_events = read_events(c, done)
        cut = start_job(c, **{**LONG, "batch_size": 64, "hidden": [16], "timesteps": 5})
        while sum(e["event"] == "epoch" for e in read_events(c, cut, params={"follow": "false"})) < 2:
            time.sleep(0.05)
        snapshot = tmp_path / "crash.sqlite"
        with sqlite3.connect(tmp_path / "a.sqlite") as src, sqlite3.connect(snapshot) as dst:
            src.backup(dst)  # every committed write so far, nothing after: what a crash leaves
        c.post("/api/training/stop", json={"job_id": cut})
    b = make_server(db_path=snapshot)
    with b.client() as c:
        jobs = {j["job_id"]: j for j in c.get("/api/training/jobs").json()}
        assert jobs[done]["status"] == "completed" and read_events(c, done) == done_events
        status = c.get(f"/api/training/status/{cut}").json()
        assert status["status"] == "failed" and "server stopped" in status["reason"]
        assert status["epochs_done"] >= 2
        events = read_events(c, cut)
        assert events[-1]["event"] == "error" and events[-1]["data"]["cause"] == "server_restart"
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert len(c.get(f"/api/runs/{cut}/metrics").json()["epochs"]) == status["epochs_done"]


def test_clean_shutdown_stops_running_jobs_with_the_reason(make_server, tmp_path):
    srv = make_server(db_path=tmp_path / "s.sqlite")
    with srv.client() as c:
        job = start_job(c, **LONG)
        read_events(c, job, limit=3)
    srv.stop()
    store = Store(tmp_path / "s.sqlite")
    [record] = store.jobs()
    assert (record.job_id, record.status, record.reason) == (job, "stopped", "the server shut down")
    assert store.events(job)[-1].type == "stopped"


@pytest.mark.slow
def test_restart_keeps_finished_runs_and_fails_the_interrupted_one(tmp_path):
    """The real thing: ``python -m sw.studio`` is killed with SIGKILL mid-job and started again."""
    db = tmp_path / "studio.sqlite"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_studio(db, port)
    try:
        wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            done = start_job(c, **SMALL)
            done_events = read_events(c, done)
            assert done_events[-1]["event"] == "completed"
            cut = start_job(c, **{**LONG, "batch_size": 64, "hidden": [16], "timesteps": 5})
            seen = [e for e in read_events(c, cut, limit=200) if e["event"] == "epoch"]
            while len(seen) < 2:  # make sure some epochs are on disk before the crash
                seen = [e for e in read_events(c, cut, params={"follow": "false"}) if e["event"] == "epoch"]
    finally:
        proc.send_signal(signal.SIGKILL)  # the server dies: no shutdown handler runs
        proc.wait(timeout=30)

    proc = spawn_studio(db, port)
    try:
        wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            jobs = {j["job_id"]: j for j in c.get("/api/training/jobs").json()}
            assert jobs[done]["status"] == "completed" and jobs[done]["epochs_done"] == 3
            assert read_events(c, done) == done_events  # the whole stream is replayable from disk
            status = c.get(f"/api/training/status/{cut}").json()
            assert status["status"] == "failed"
            assert "server stopped while this job was running" in status["reason"]
            assert status["epochs_done"] >= 2
            events = read_events(c, cut)
            assert events[-1]["event"] == "error" and events[-1]["data"]["cause"] == "server_restart"
            assert [e["id"] for e in events] == list(range(1, len(events) + 1))
            run = c.get(f"/api/runs/{cut}/metrics").json()
            assert len(run["epochs"]) == status["epochs_done"]
            assert len(c.get(f"/api/runs/{cut}/metrics.csv").text.splitlines()) == 1 + status["epochs_done"]
            # new jobs get fresh ids after a restart
            assert start_job(c, **{**SMALL, "epochs": 1}) not in jobs
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)

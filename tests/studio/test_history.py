"""History does not cost memory or time: 500 stored runs against 50, in the same test.

The databases are written in the layout of the Studio before per-job summaries
(jobs + events only), so opening them also exercises the one-time migration
that fills the summary columns.  Then a real ``python -m sw.studio`` serves each:
start-up time, ``/jobs`` and ``/status`` times and the server's resident memory
must not grow with the number of runs (generous ratios, not absolute timings).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import httpx

from sw.studio import StudioSettings
from sw.studio.jobs import JobManager
from sw.studio.store import Store

from .conftest import free_port, read_events, spawn_studio, wait_up

EPOCHS, BATCHES = 20, 10   # per run: 1 config + 20 x (10 batch + 1 epoch) + 1 completed = 222 events

_OLD_SCHEMA = """
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, config TEXT NOT NULL, created_at REAL NOT NULL,
                   started_at REAL, finished_at REAL, reason TEXT, device TEXT, note TEXT);
CREATE TABLE events (job_id TEXT NOT NULL, event_id INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
                     ts REAL NOT NULL, PRIMARY KEY (job_id, event_id));
"""


def _epoch(e: int, run: int) -> dict:
    return {"epoch": e, "train_loss": 2.0 / (e + 1), "val_loss": 2.1 / (e + 1), "train_accuracy": 0.5,
            "val_accuracy": (run % 7 + e) / 100, "elapsed_s": e * 0.5,
            "layer_spike_rates": {f"lifs.{i}": 0.1 * i for i in range(3)},
            "param_snapshot": {f"lifs.{i}.beta": 0.9 for i in range(3)}}


def make_history(path: Path, runs: int) -> list[str]:
    """A pre-summary Studio database with ``runs`` completed runs; returns their ids, oldest first."""
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    ids, jobs, events = [], [], []
    for r in range(runs):
        job = f"job_{1_700_000_000_000 + r}"
        ids.append(job)
        config = {"dataset": "synthetic", "epochs": EPOCHS, "hidden": [64], "lr": 0.001}
        jobs.append((job, "completed", json.dumps(config), 1.7e9 + r, 1.7e9 + r, 1.7e9 + r + 1, None, "cpu", None))
        seq = [("config", {**config, "job_id": job, "layers": ["lifs.0", "lifs.1", "lifs.2"]})]
        for e in range(EPOCHS):
            seq += [("batch", {"epoch": e, "batch": b, "batches": BATCHES, "loss": 1.0, "accuracy": 0.5})
                    for b in range(1, BATCHES + 1)]
            seq.append(("epoch", _epoch(e, r)))
        seq.append(("completed", {"status": "completed", "reason": None, "epochs_done": EPOCHS}))
        events += [(job, i, t, json.dumps(d), 1.7e9 + r) for i, (t, d) in enumerate(seq, 1)]
    with db:
        db.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)", jobs)
        db.executemany("INSERT INTO events VALUES (?,?,?,?,?)", events)
    db.close()
    return ids


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _median_s(fn, n: int = 15) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _never(config, ctx, settings):  # no job is started in these measurements
    raise AssertionError("no training here")


def test_migration_fills_the_summaries(tmp_path):
    ids = make_history(tmp_path / "h.sqlite", 3)
    store = Store(tmp_path / "h.sqlite")
    try:
        rec = store.job(ids[2])
        assert (rec.epochs_done, rec.last_event_id, rec.last_event_type) == (EPOCHS, 222, "completed")
        assert rec.best_val_accuracy == max(_epoch(e, 2)["val_accuracy"] for e in range(EPOCHS))
        assert rec.latest == _epoch(EPOCHS - 1, 2)
        assert [r.job_id for r in store.jobs(newest_first=True, limit=2)] == ids[:0:-1]
    finally:
        store.close()


def _measure(tmp_path: Path, runs: int) -> dict[str, float]:
    db = tmp_path / f"h{runs}.sqlite"
    ids = make_history(db, runs)
    Store(db).close()  # the one-time migration, not part of start-up
    settings = StudioSettings(db_path=db, token=None)
    builds = []
    for _ in range(3):  # what start-up does with the history: open the store, recover the jobs
        t0 = time.perf_counter()
        store = Store(db)
        manager = JobManager(store, settings, _never)
        builds.append(time.perf_counter() - t0)
        manager.shutdown()
        store.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = spawn_studio(db, port)
    try:
        wait_up(url, proc)
        up = time.perf_counter() - t0
        with httpx.Client(base_url=url, timeout=30) as c:
            jobs = _median_s(lambda: c.get("/api/training/jobs").raise_for_status())
            page = c.get("/api/training/jobs")
            assert page.headers["x-total-count"] == str(runs) and len(page.json()) == min(runs, 100)
            assert page.json()[0]["job_id"] == ids[-1] and page.json()[0]["epochs_done"] == EPOCHS
            status = _median_s(lambda: c.get(f"/api/training/status/{ids[0]}").raise_for_status())
            assert c.get(f"/api/training/status/{ids[0]}").json()["latest"] == _epoch(EPOCHS - 1, 0)
            # replaying whole runs pages them from the database; memory stays flat even so
            threads = [threading.Thread(target=read_events, args=(httpx.Client(base_url=url), job))
                       for job in ids[-8:]]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(read_events(c, ids[-1])) == 222
            rss = _rss_kb(proc.pid) / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"build_s": min(builds), "up_s": up, "jobs_s": jobs, "status_s": status, "rss_mb": rss}


def test_500_runs_cost_what_50_do(tmp_path):
    small, big = _measure(tmp_path, 50), _measure(tmp_path, 500)
    print(f"\n 50 runs: {small}\n500 runs: {big}")
    assert big["build_s"] < 3 * small["build_s"] + 0.02, "start-up reads the history"
    assert big["up_s"] < 1.5 * small["up_s"] + 1.0
    assert big["jobs_s"] < 3 * small["jobs_s"] + 0.01, "/jobs grows with the history"
    assert big["status_s"] < 3 * small["status_s"] + 0.01, "/status grows with the history"
    assert big["rss_mb"] < 1.15 * small["rss_mb"] and big["rss_mb"] - small["rss_mb"] < 25, \
        "server memory grows with the history"

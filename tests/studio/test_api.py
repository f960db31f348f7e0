"""API tests against a real uvicorn server on 127.0.0.1 (streams end on completed/stopped/error)."""

from __future__ import annotations

import csv
import io
import math
import time

import numpy as np
import pytest

from sw.training.equations import CELL_EQUATIONS

from .conftest import LONG, SMALL, read_events, start_job


def _types(events):
    return [e["event"] for e in events if e["event"] != "heartbeat"]


def test_catalogue(server):
    with server.client() as c:
        sur = c.get("/api/training/surrogates").json()
        assert [s["name"] for s in sur] == ["atan_surrogate", "fast_sigmoid", "superspike",
                                            "sigmoid_surrogate", "straight_through", "triangular"]
        assert all(s["available"] for s in sur)
        cells = {c_["name"]: c_ for c_ in c.get("/api/training/cell-types").json()}
        assert cells["LIFCell"]["equations"] == CELL_EQUATIONS["lif"].text.strip()
        assert cells["ALIFCell"]["states"] == list(CELL_EQUATIONS["alif"].states)
        assert cells["LIFCell"]["available"] and cells["SpikingNet"]["available"]
        ds = {d["name"]: d for d in c.get("/api/training/datasets").json()}
        assert ds["synthetic"]["available"] and not ds["mnist"]["available"]
        assert "synthetic" in ds["mnist"]["note"]


def test_job_runs_to_completion_and_learns(server):
    with server.client() as c:
        job = start_job(c, **{**SMALL, "epochs": 6, "hidden": [32], "lr": 0.01, "learn_beta": True})
        events = read_events(c, job)
        ids = [e["id"] for e in events]
        assert ids == list(range(1, len(ids) + 1)), "ids must be 1, 2, 3, ... with no gaps"
        types = _types(events)
        assert types[0] == "config" and types[-1] == "completed"
        cfg = next(e["data"] for e in events if e["event"] == "config")
        assert cfg["job_id"] == job and cfg["device"] and cfg["n_input"] == 64 and cfg["layers"] == ["lifs.0", "lifs.1"]
        epochs = [e["data"] for e in events if e["event"] == "epoch"]
        assert [e["epoch"] for e in epochs] == list(range(6))
        for e in epochs:
            for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
                assert math.isfinite(e[key])
            assert set(e["layer_spike_rates"]) == {"lifs.0", "lifs.1"}
            assert all(0.0 <= r <= 1.0 for r in e["layer_spike_rates"].values())
            assert set(e["param_snapshot"]) == {"lifs.0.beta", "lifs.1.beta"}
        # learnable beta moved, and the net learned the 10-class synthetic task well above chance
        assert epochs[-1]["param_snapshot"] != cfg["param_snapshot"]
        assert epochs[-1]["val_accuracy"] > 0.4
        assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
        batches = [e["data"] for e in events if e["event"] == "batch"]
        assert batches and all(b["batches"] == cfg["batches_per_epoch"] for b in batches)
        status = c.get(f"/api/training/status/{job}").json()
        assert status["status"] == "completed" and status["epochs_done"] == 6
        assert status["latest"] == epochs[-1] and status["last_event_id"] == ids[-1]
        assert status["started_at"] <= status["finished_at"]
        listed = {j["job_id"]: j for j in c.get("/api/training/jobs").json()}
        assert listed[job]["best_val_accuracy"] == max(e["val_accuracy"] for e in epochs)


def test_profiler_diagnoses_stream_once_per_problem(server):
    with server.client() as c:
        events = read_events(c, start_job(c, **{**SMALL, "epochs": 4}))
    layers = next(e["data"]["layers"] for e in events if e["event"] == "config")
    diagnoses = [e["data"] for e in events if e["event"] == "diagnosis"]
    assert diagnoses, "a 16-neuron layer at T=5 has dead neurons; the profiler must say so"
    worst: dict[tuple[str, str], int] = {}
    for d in diagnoses:
        assert d["severity"] in ("INFO", "WARNING", "CRITICAL") and d["message"] and d["suggestion"]
        assert d["layer"] in layers or d["layer"] == "network"
        key = (d["category"], d["layer"])
        assert d["severity_level"] > worst.get(key, -1), f"{key} repeated without getting worse"
        worst[key] = d["severity_level"]
    # each diagnosis follows the epoch event it was found in
    order = [(e["event"], e["data"].get("epoch")) for e in events if e["event"] in ("epoch", "diagnosis")]
    for i, (kind, epoch) in enumerate(order):
        if kind == "diagnosis":
            assert ("epoch", epoch) in order[:i]


@pytest.mark.parametrize("field,value", [
    ("epochs", 0), ("epochs", 101), ("batch_size", 7), ("batch_size", 513), ("lr", 0.00009),
    ("lr", 0.2), ("timesteps", 4), ("timesteps", 101), ("surrogate", "relu"), ("dataset", "cifar"),
    ("hidden", []), ("hidden", [0]), ("hidden", [2000]), ("hidden", [8, 8, 8, 8, 8]),
    ("hidden", [16.5]), ("hidden", "128"), ("learn_beta", "maybe"), ("learn_beta", 1), ("seed", True),
    ("bogus_field", 1),
])
def test_bad_config_is_422_naming_the_field(server, field, value):
    with server.client() as c:
        res = c.post("/api/training/start", json={**SMALL, field: value})
        assert res.status_code == 422
        locs = [d["loc"] for d in res.json()["detail"]]
        assert any(field in loc for loc in locs), locs
        assert c.get("/api/training/jobs").json() == []


def test_ranges_accept_their_bounds(server):
    with server.client() as c:
        job = start_job(c, dataset="digits", epochs=1, batch_size=512, lr=0.1, timesteps=5,
                        hidden=[8, 8, 8, 8], surrogate="triangular", learn_threshold=True)
        events = read_events(c, job)
        assert _types(events)[-1] == "completed"
        cfg = events[[e["event"] for e in events].index("config")]["data"]
        assert cfg["dataset"] == "digits" and cfg["n_train"] == 1437 and len(cfg["layers"]) == 5


def test_stop_within_one_batch(server):
    with server.client() as c:
        job = start_job(c, **LONG)
        first = read_events(c, job, limit=3)
        assert "config" in _types(first)
        t0 = time.monotonic()
        res = c.post("/api/training/stop", json={"job_id": job})
        assert res.status_code == 200
        events = read_events(c, job)
        assert _types(events)[-1] == "stopped"
        assert time.monotonic() - t0 < 10
        status = c.get(f"/api/training/status/{job}").json()
        assert status["status"] == "stopped" and status["epochs_done"] < 100
        assert status["reason"] == "stopped on request" == events[-1]["data"]["reason"]
        # stopping again is harmless and changes nothing
        assert c.post("/api/training/stop", json={"job_id": job}).json()["status"] == "stopped"


def test_waiting_job_stops_at_once_and_limit_is_429(make_server):
    srv = make_server(max_concurrent_jobs=1, max_active_jobs=2, heartbeat_s=0.3)
    with srv.client() as c:
        running = start_job(c, **LONG)
        waiting = start_job(c, **SMALL)
        assert c.get(f"/api/training/status/{waiting}").json()["status"] == "idle"
        res = c.post("/api/training/start", json=SMALL)
        assert res.status_code == 429 and "limit" in res.json()["detail"]
        # the waiting job's stream stays alive with heartbeats while it waits; they are not
        # stored (no id of their own: each carries the id of the newest event, 0 here)
        beats = read_events(c, waiting, limit=2)
        assert [e["event"] for e in beats] == ["heartbeat", "heartbeat"]
        assert beats[0]["id"] == beats[1]["id"] == 0 and beats[0]["data"]["status"] == "idle"
        assert read_events(c, waiting, params={"follow": "false"}) == []
        stopped = c.post("/api/training/stop", json={"job_id": waiting}).json()
        assert stopped["status"] == "stopped" and stopped["started_at"] is None
        assert stopped["reason"] == "stopped on request before it started"
        assert _types(read_events(c, waiting)) == ["stopped"]
        c.post("/api/training/stop", json={"job_id": running})
        assert _types(read_events(c, running))[-1] == "stopped"


def test_last_event_id_replay(server):
    with server.client() as c:
        job = start_job(c, **SMALL)
        head = read_events(c, job, limit=4)
        # reconnect as EventSource does: the Last-Event-ID header
        tail = read_events(c, job, headers={"Last-Event-ID": str(head[-1]["id"])})
        full = read_events(c, job)
        assert head + tail == full
        assert full[-1]["event"] == "completed"
        # the query parameter does the same; a reconnect after the end gets nothing and closes
        assert read_events(c, job, params={"last_event_id": 2}) == full[2:]
        assert read_events(c, job, headers={"Last-Event-ID": str(full[-1]["id"])}) == []
        # the other spelling of the route, and the finite mode
        with c.stream("GET", f"/api/training/{job}/stream") as r:
            assert r.status_code == 200
        assert read_events(c, job, params={"follow": "false"}) == full


def test_unknown_job_is_404(server):
    with server.client() as c:
        for res in (c.get("/api/training/status/job_1"), c.get("/api/training/stream/job_1"),
                    c.get("/api/training/job_1/stream"), c.post("/api/training/stop", json={"job_id": "job_1"}),
                    c.get("/api/runs/job_1/metrics"), c.get("/api/runs/job_1/metrics.csv")):
            assert res.status_code == 404, res.request.url
            assert "job_1" in res.json()["detail"]
        # a malformed id is just as unknown: 404 (not 422) on status and both stream routes
        for path in ("/api/training/status/not-a-job", "/api/training/stream/not-a-job",
                     "/api/training/not-a-job/stream", "/api/training/status/job_" + "9" * 40):
            res = c.get(path)
            assert res.status_code == 404, path
            assert "detail" in res.json()


def test_metrics_and_csv_export(server):
    with server.client() as c:
        job = start_job(c, **{**SMALL, "learn_threshold": True})
        read_events(c, job)
        run = c.get(f"/api/runs/{job}/metrics").json()
        assert run["status"] == "completed" and len(run["epochs"]) == 3
        res = c.get(f"/api/runs/{job}/metrics.csv")
        assert res.headers["content-type"].startswith("text/csv")
        assert job in res.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(res.text)))
        assert len(rows) == 3
        for row, ep in zip(rows, run["epochs"]):
            assert int(row["epoch"]) == ep["epoch"]
            assert float(row["val_accuracy"]) == pytest.approx(ep["val_accuracy"])
            assert float(row["rate_lifs.0"]) == pytest.approx(ep["layer_spike_rates"]["lifs.0"])
            assert float(row["param_lifs.1.threshold"]) == pytest.approx(ep["param_snapshot"]["lifs.1.threshold"])


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_from_local_idx_files_and_fallback(make_server, tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    _write_idx(d / "train-images-idx3-ubyte", rng.integers(0, 256, (80, 28, 28)))
    _write_idx(d / "train-labels-idx1-ubyte", rng.integers(0, 10, 80))
    _write_idx(d / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(d / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 20))
    with make_server(mnist_dir=d).client() as c:
        assert {x["name"]: x for x in c.get("/api/training/datasets").json()}["mnist"]["available"]
        events = read_events(c, start_job(c, **{**SMALL, "dataset": "mnist", "epochs": 1}))
        cfg = next(e["data"] for e in events if e["event"] == "config")
        assert (cfg["dataset"], cfg["n_input"], cfg["n_train"], cfg["n_val"]) == ("mnist", 784, 80, 20)
        assert cfg["note"] is None and _types(events)[-1] == "completed"
    empty = tmp_path / "empty"
    empty.mkdir()
    with make_server(mnist_dir=empty).client() as c:
        events = read_events(c, start_job(c, **{**SMALL, "dataset": "mnist", "epochs": 1}))
        cfg = next(e["data"] for e in events if e["event"] == "config")
        assert cfg["requested_dataset"] == "mnist" and cfg["dataset"] == "synthetic"
        assert "missing" in cfg["note"] and "synthetic" in cfg["note"]
        status = c.get(f"/api/training/status/{cfg['job_id']}").json()
        assert status["note"] == cfg["note"]


def test_training_error_fails_the_job_with_the_reason(make_server, tmp_path):
    d = tmp_path / "corrupt"
    d.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (d / name).write_bytes(b"not an idx file")
    with make_server(mnist_dir=d).client() as c:
        job = start_job(c, **{**SMALL, "dataset": "mnist"})
        events = read_events(c, job)
        assert _types(events) == ["error"]
        assert "IDX" in events[-1]["data"]["message"]
        status = c.get(f"/api/training/status/{job}").json()
        assert status["status"] == "failed" and "IDX" in status["reason"]


def test_page_is_served_and_self_contained(server):
    import re

    with server.client() as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for panel in ("chart-loss", "chart-acc", "rates", "chart-params", "log", "jobs-table", "btn-stop"):
            assert f'id="{panel}"' in page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/static/vendor/uPlot.iife.min.js" in assets
        for asset in assets:
            assert asset.startswith("/static/"), f"{asset}: the page must not load anything from elsewhere"
            res = c.get(asset)
            assert res.status_code == 200 and len(res.content) > 500
            assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?https?://", res.text), asset
        assert c.get("/docs").status_code == 404  # Swagger UI would come from a CDN

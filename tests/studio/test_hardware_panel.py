"""The hardware panel: a finished run's artifact, its float vs Q8.8 golden accuracy, the
planner's resources and inferences/s (API and Chromium), and a real bitstream build (slow).

One short digits run (1 epoch, 16 hidden neurons) is trained once for the module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sw.studio import StudioSettings

from .conftest import ARGS, CHROMIUM, LiveServer, start_job, start_live_server

# 8 hidden neurons: the plan fits the iCEstick's 16 EBR (15: each biased layer has a bias memory)
RUN = {"dataset": "digits", "epochs": 1, "hidden": [8], "timesteps": 5, "batch_size": 64, "seed": 3}


@pytest.fixture(scope="module")
def hw_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    db = tmp_path_factory.mktemp("hardware") / "studio.sqlite"
    srv = start_live_server(StudioSettings(db_path=db, mnist_dir=None, token=None, heartbeat_s=1.0))
    try:
        yield srv, db
    finally:
        srv.stop()


def wait_status(client: httpx.Client, job_id: str, wanted: tuple[str, ...], timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while (status := client.get(f"/api/training/status/{job_id}").json()["status"]) not in wanted:
        assert time.monotonic() < deadline, f"{job_id} still {status}"
        time.sleep(0.1)
    return status


@pytest.fixture(scope="module")
def run(hw_server: tuple[LiveServer, Path]) -> dict[str, Any]:
    srv, db = hw_server
    with srv.client() as c:
        job_id = start_job(c, **RUN)
        assert wait_status(c, job_id, ("completed", "failed", "stopped")) == "completed"
    return {"job_id": job_id, "artifact": db.parent / "artifacts" / f"{job_id}.npz"}


@pytest.fixture(scope="module")
def big_run(hw_server: tuple[LiveServer, Path]) -> dict[str, Any]:
    """A run whose 64 hidden neurons need 29 EBR: too many for the iCEstick's 16."""
    srv, db = hw_server
    with srv.client() as c:
        job_id = start_job(c, **{**RUN, "hidden": [64]})
        assert wait_status(c, job_id, ("completed", "failed", "stopped")) == "completed"
    return {"job_id": job_id, "artifact": db.parent / "artifacts" / f"{job_id}.npz"}


def direct(artifact: Path, board_name: str) -> dict[str, Any]:
    """The panel's numbers computed here, straight from the artifact file."""
    from boards import get_board
    from hw.fixed import Q8_8
    from hw.ir import Network
    from hw.quantize import quantize_network
    from sim.golden import prepare_input, run_golden, simulate_float
    from sw.studio.datasets import load_dataset

    network = Network.load(artifact)
    data = load_dataset("digits")
    x, y = data.x_val, data.y_val
    qnet = quantize_network(network, Q8_8)
    board = get_board(board_name)
    plan = board.plan(qnet)
    g = run_golden(qnet, x, record=True, progress=False)
    cycles = plan.activity_cycles(g.layer_spikes, Q8_8.quantize(prepare_input(network, x)))
    return {"float": simulate_float(network, x, progress=False).accuracy(y), "golden": g.accuracy(y),
            "resources": plan.resources(), "budget": board.budget,
            "ips": board.target_hz / float(np.mean(cycles)), "n_val": len(y)}


def test_artifact_written_when_run_completes(run):
    from hw.ir import Network

    assert run["artifact"].is_file()
    net = Network.load(run["artifact"])
    assert (net.n_input, net.timesteps) == (64, 5)
    assert net.metadata["studio"]["job_id"] == run["job_id"]


@pytest.mark.parametrize("board", ["icebreaker", "icestick"])
def test_hardware_numbers_equal_direct_computation(hw_server, run, board):
    srv, _ = hw_server
    with srv.client() as c:
        res = c.get(f"/api/runs/{run['job_id']}/hardware", params={"board": board})
    assert res.status_code == 200, res.text
    body = res.json()
    want = direct(run["artifact"], board)
    assert body["board"]["name"] == board and body["n_val"] == want["n_val"]
    assert body["float_accuracy"] == pytest.approx(want["float"], abs=1e-12)
    assert body["golden_accuracy"] == pytest.approx(want["golden"], abs=1e-12)
    for name in ("ebr", "spram", "dsp"):
        assert body["resources"][name]["planned"] == want["resources"][name]
        assert body["resources"][name]["budget"] == getattr(want["budget"], name)
    assert body["resources"]["lcs"]["budget"] == want["budget"].lcs
    assert body["inferences_per_second"] == pytest.approx(want["ips"], rel=1e-12)
    assert body["fits"] is True and body["fit_error"] is None


def test_unknown_board_unknown_job_and_unfinished_run(hw_server, run):
    srv, _ = hw_server
    with srv.client() as c:
        res = c.get(f"/api/runs/{run['job_id']}/hardware", params={"board": "nosuchboard"})
        assert res.status_code == 422
        assert "unknown board 'nosuchboard'" in res.json()["detail"] and "icebreaker" in res.json()["detail"]
        res = c.post(f"/api/runs/{run['job_id']}/build", params={"board": "nosuchboard"})
        assert res.status_code == 422 and "unknown board" in res.json()["detail"]
        assert c.get("/api/runs/job_1/hardware").status_code == 404
        assert c.post("/api/runs/job_1/build").status_code == 404
        assert c.get("/api/builds/build_1").status_code == 404
        assert c.get("/api/builds/build_1/snn_top.bin").status_code == 404
        job = start_job(c, dataset="synthetic", epochs=100, hidden=[64], timesteps=20, batch_size=8)
        c.post("/api/training/stop", json={"job_id": job})
        assert wait_status(c, job, ("stopped", "completed", "failed")) == "stopped"
        res = c.get(f"/api/runs/{job}/hardware")
        assert res.status_code == 404 and "only a completed run" in res.json()["detail"]
        boards = c.get("/api/hardware/boards").json()
        assert "icebreaker" in [b["name"] for b in boards]


def test_model_that_does_not_fit(hw_server, big_run):
    """fits: false with hw.build's reason; a build of it ends with a ``failed`` event naming it."""
    srv, _ = hw_server
    with srv.client() as c:
        body = c.get(f"/api/runs/{big_run['job_id']}/hardware", params={"board": "icestick"}).json()
        assert body["fits"] is False
        assert "does not fit the Lattice iCEstick" in body["fit_error"] and "shrink layer" in body["fit_error"]
        planned = direct(big_run["artifact"], "icestick")["resources"]["ebr"]
        assert planned > 16 and body["resources"]["ebr"] == {"planned": planned, "budget": 16, "fits": False}
        assert c.get(f"/api/runs/{big_run['job_id']}/hardware", params={"board": "icebreaker"}).json()["fits"]
        res = c.post(f"/api/runs/{big_run['job_id']}/build", params={"board": "icestick"})
        assert res.status_code == 200, res.text
        events = read_build_events(c, res.json()["build_id"], timeout=120)
        assert [e["event"] for e in events][:2] == ["queued", "started"]
        assert events[-1]["event"] == "failed"
        assert "does not fit" in events[-1]["data"]["message"]
        assert events[-1]["data"]["stage"] == "quantize + plan"
        state = c.get(f"/api/builds/{res.json()['build_id']}").json()
        assert state["status"] == "failed" and state["downloads"] == {}
        assert c.get(f"/api/builds/{res.json()['build_id']}/report.json").status_code == 404


def test_hardware_panel_in_chromium(hw_server, run):
    from playwright.sync_api import expect, sync_playwright

    srv, _ = hw_server
    with srv.client() as c:
        api = c.get(f"/api/runs/{run['job_id']}/hardware", params={"board": "icebreaker"}).json()
        api_stick = c.get(f"/api/runs/{run['job_id']}/hardware", params={"board": "icestick"}).json()
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{srv.url}/#{run['job_id']}")
            panel = page.locator("#hw-panel")
            expect(panel).to_be_visible(timeout=30_000)
            expect(panel.locator("#hw-float")).to_have_text(f"{100 * api['float_accuracy']:.1f} %", timeout=30_000)
            expect(panel.locator("#hw-golden")).to_have_text(f"{100 * api['golden_accuracy']:.1f} %")
            expect(panel.locator("#hw-ips")).to_contain_text(f"{round(api['inferences_per_second']):,}")
            row = panel.locator("#hw-resources tr[data-res=ebr]")
            expect(row.locator("td.planned")).to_have_text(str(api["resources"]["ebr"]["planned"]))
            expect(row.locator("td.budget")).to_have_text(str(api["resources"]["ebr"]["budget"]))
            expect(panel.locator("#hw-resources tr[data-res=lcs] td.budget")).to_have_text(
                str(api["resources"]["lcs"]["budget"]))
            expect(panel.locator("#hw-build")).to_be_enabled()
            page.select_option("#hw-board", "icestick")
            expect(panel.locator("#hw-resources tr[data-res=ebr] td.budget")).to_have_text(
                str(api_stick["resources"]["ebr"]["budget"]))
            expect(panel.locator("#hw-ips")).to_contain_text(f"{round(api_stick['inferences_per_second']):,}")
            assert errors == []
        finally:
            browser.close()


@contextmanager
def chromium_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            yield page
        finally:
            browser.close()


def test_panel_shows_a_model_that_does_not_fit(hw_server, big_run):
    from playwright.sync_api import expect

    srv, _ = hw_server
    with chromium_page() as page:
        page.goto(f"{srv.url}/#{big_run['job_id']}")
        expect(page.locator("#hw-fits")).to_have_text("yes", timeout=30_000)   # the iCEBreaker first
        page.select_option("#hw-board", "icestick")
        expect(page.locator("#hw-fits")).to_have_text("no")
        expect(page.locator("#hw-resources tr[data-res=ebr]")).to_have_class("over")
        expect(page.locator("#hw-fit-error")).to_contain_text("does not fit the Lattice iCEstick")
        expect(page.locator("#hw-build")).to_be_disabled()
        assert page.errors == []


@pytest.mark.slow
def test_build_button_in_chromium(hw_server, run):
    """*Build bitstream*: the eight stages light up, then links to report.json and the .bin."""
    from playwright.sync_api import expect

    srv, _ = hw_server
    with chromium_page() as page:
        page.goto(f"{srv.url}/#{run['job_id']}")
        expect(page.locator("#hw-build")).to_be_enabled(timeout=30_000)
        page.click("#hw-build")
        expect(page.locator("#hw-stages li")).to_have_count(8)
        expect(page.locator("#hw-stages li.running")).to_have_count(1, timeout=30_000)
        links = page.locator("#hw-build-result a.hw-download")
        expect(links).to_have_count(2, timeout=300_000)
        expect(page.locator("#hw-stages li.done")).to_have_count(8)
        hrefs = {a.get_attribute("data-file"): a.get_attribute("href") for a in links.all()}
        assert page.errors == []
    with srv.client() as c:
        assert "timing_met" in c.get(hrefs["report.json"]).json()
        assert len(c.get(hrefs["snn_top.bin"]).content) > 1000


def read_build_events(client: httpx.Client, build_id: str, timeout: float = 600.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/builds/{build_id}/stream", timeout=httpx.Timeout(timeout)) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["event"] != "heartbeat":
                    events.append(event)
    return events


@pytest.mark.slow
def test_build_bitstream_streams_stages_and_downloads(hw_server, run):
    srv, _ = hw_server
    with srv.client() as c:
        res = c.post(f"/api/runs/{run['job_id']}/build", params={"board": "icebreaker"})
        assert res.status_code == 200, res.text
        build_id = res.json()["build_id"]
        events = read_build_events(c, build_id)
        assert events[-1]["event"] == "completed", events[-1]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        started = [e["data"] for e in events if e["event"] == "stage" and e["data"]["state"] == "running"]
        assert [s["index"] for s in started] == list(range(1, 9))
        assert [s["stage"] for s in started][:3] == ["load model", "quantize + plan", "generate Verilog"]
        assert started[-1]["stage"] == "report"
        state = c.get(f"/api/builds/{build_id}").json()
        assert state["status"] == "completed" and set(state["downloads"]) == {"report.json", "snn_top.bin"}
        report = c.get(f"/api/builds/{build_id}/report.json")
        assert report.status_code == 200 and "timing_met" in report.json()
        assert events[-1]["data"]["timing_met"] == report.json()["timing_met"]
        binary = c.get(f"/api/builds/{build_id}/snn_top.bin")
        assert binary.status_code == 200 and len(binary.content) > 1000

#!/usr/bin/env python3
"""Regenerate the Studio screenshots in docs/img/ (embedded in docs/studio.md).

    python scripts/studio_screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Starts the real Studio (``sw.studio.create_app`` under ``StudioServer``, as tests/studio/conftest.py
does) on a temporary SQLite database, on 127.0.0.1 and a free port; trains three short real runs
on the ``digits`` set (different learning rates, surrogates and hidden sizes), names and tags
them with ``PATCH /api/runs/{job_id}``, then drives headless Chromium (Playwright) at 1400x900
and writes five PNGs:

- studio-overview.png   a finished run selected: its loss / accuracy / spike-rate / β curves (light)
- studio-dark.png       the same page with ``prefers-color-scheme: dark``
- studio-compare.png    the runs table with the three runs ticked and overlaid, smoothing at 0.6
                        (the page's one-column layout, form hidden, so all 13 columns show)
- studio-diagnoses.png  the Diagnoses panel of a run (profiler findings, per-layer health)
- studio-hardware.png   the Hardware panel of a finished run, iCEBreaker board (no synthesis:
                        "Build bitstream" is never clicked)

Exits non-zero with a message naming the step that failed. Takes well under two minutes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
VIEWPORT = {"width": 1400, "height": 900}
MAX_BYTES = 300_000

# Three short real runs: different lr / surrogate / hidden sizes so the runs table shows distinct configs.
BASE = {"dataset": "digits", "timesteps": 10, "batch_size": 64, "device": "cpu"}
RUNS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({**BASE, "epochs": 3, "hidden": [64], "lr": 0.005, "surrogate": "atan_surrogate", "learn_beta": True,
      "seed": 1},
     {"name": "atan 64 β", "tags": ["baseline", "atan"], "notes": "learnable β"}),
    ({**BASE, "epochs": 3, "hidden": [32, 16], "lr": 0.01, "surrogate": "fast_sigmoid", "learn_threshold": True,
      "seed": 2},
     {"name": "fast-sigmoid 32-16", "tags": ["sweep", "fast_sigmoid"], "notes": "two layers, learnable θ"}),
    ({**BASE, "epochs": 2, "hidden": [16], "lr": 0.001, "timesteps": 5, "surrogate": "triangular", "seed": 3},
     {"name": "triangular 16", "tags": ["sweep", "small"], "notes": "tiny and slow to learn"}),
]


class Failure(RuntimeError):
    """A step failed; its message is printed and the script exits 1."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """The real app under uvicorn in a thread, on a temporary database (as the tests run it)."""

    def __init__(self, db_path: Path) -> None:
        from sw.studio import StudioSettings, create_app
        from sw.studio.server import StudioServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = StudioSettings(db_path=db_path, mnist_dir=None, token=None, host="127.0.0.1")
        self.server = StudioServer(create_app(settings), host="127.0.0.1", port=self.port)
        self.thread = threading.Thread(target=self.server.run, name="studio-uvicorn", daemon=True)

    def __enter__(self) -> Studio:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise Failure("the Studio server (uvicorn) did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.server.should_exit:
            self.server.handle_exit(signal.SIGTERM, None)
        self.thread.join(timeout=30)


def train_runs(url: str) -> list[str]:
    import httpx

    with httpx.Client(base_url=url, timeout=30.0) as c:
        jobs = []
        for config, _ in RUNS:
            res = c.post("/api/training/start", json=config)
            if res.status_code != 200:
                raise Failure(f"POST /api/training/start refused {config}: {res.status_code} {res.text}")
            jobs.append(res.json()["job_id"])
            time.sleep(0.01)  # distinct, ordered job ids
        deadline = time.monotonic() + 90
        for job in jobs:
            while (st := c.get(f"/api/training/status/{job}").json())["status"] not in ("completed", "failed",
                                                                                       "stopped"):
                if time.monotonic() > deadline:
                    raise Failure(f"run {job} did not finish within 90 s (status {st['status']})")
                time.sleep(0.2)
            if st["status"] != "completed":
                raise Failure(f"run {job} ended {st['status']}: {st.get('reason')}")
        for job, (_, meta) in zip(jobs, RUNS):
            res = c.patch(f"/api/runs/{job}", json=meta)
            if res.status_code != 200:
                raise Failure(f"PATCH /api/runs/{job} refused {meta}: {res.status_code} {res.text}")
        for job in jobs:  # the hardware panel needs the run's exported artifact
            res = c.get(f"/api/runs/{job}/hardware", params={"board": "icebreaker"})
            if res.status_code != 200:
                raise Failure(f"GET /api/runs/{job}/hardware: {res.status_code} {res.text}")
        return jobs


def save(target: Any, path: Path, written: list[Path]) -> None:
    """Screenshot a page or element to path as PNG, checking it exists and is small enough."""
    target.screenshot(path=str(path), type="png", animations="disabled")
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        raise Failure(f"{path} was not written")
    if size > MAX_BYTES:
        raise Failure(f"{path} is {size:,} bytes, over the {MAX_BYTES:,} limit")
    written.append(path)


def shoot(url: str, jobs: list[str], out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import Page, expect, sync_playwright

    written: list[Path] = []
    errors: list[str] = []
    by_id = {j: meta for j, (_, meta) in zip(jobs, RUNS)}

    def open_run(page: Page, job: str) -> None:
        page.goto(f"{url}/#{job}")
        expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("#jobs-table tbody tr")).to_have_count(len(jobs), timeout=15_000)
        epochs = next(c for j, (c, _) in zip(jobs, RUNS) if j == job)["epochs"]
        page.wait_for_function(f"window.studio.epochs.length === {epochs}", timeout=15_000)
        expect(page.locator(f"#jobs-table tr[data-job='{job}'] td.name")).to_have_text(by_id[job]["name"],
                                                                                     timeout=15_000)
        page.wait_for_timeout(400)  # the last render frame

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            def new_page(**ctx: Any) -> Page:
                pg = browser.new_context(viewport=VIEWPORT, **ctx).new_page()
                pg.on("pageerror", lambda exc: errors.append(str(exc)))
                return pg

            main = jobs[0]
            for scheme, name in (("light", "studio-overview.png"), ("dark", "studio-dark.png")):
                step = name
                page = new_page(color_scheme=scheme)
                open_run(page, main)
                save(page, out / name, written)
                page.context.close()

            step = "studio-compare.png"
            # No run viewed: the three ticked runs are the only curves, each in its own colour. The
            # side column (380 px) scrolls the 13-column table; for this picture the page takes its own
            # one-column layout (as under 900 px wide) with the form hidden, so the whole table shows.
            page = new_page(color_scheme="light")
            page.goto(f"{url}/")
            expect(page.locator("#jobs-table tbody tr")).to_have_count(len(jobs), timeout=15_000)
            for job in jobs:
                expect(page.locator(f"#jobs-table tr[data-job='{job}'] td.name")).to_have_text(by_id[job]["name"],
                                                                                             timeout=15_000)
            page.add_style_tag(content="main { grid-template-columns: minmax(0, 1fr); } #train-form { display: none; }"
                                       " .table-wrap { width: max-content; }")
            for job in jobs:
                page.check(f"#jobs-table tr[data-job='{job}'] input.sel")
            page.wait_for_function(f"window.studio.overlays.length === {len(jobs)}", timeout=15_000)
            page.wait_for_function("window.studio.charts.loss.series.length === 4 + 2 * %d" % len(jobs),
                                   timeout=15_000)
            page.locator("#smoothing").fill("0.6")
            expect(page.locator("#smoothing-value")).to_have_text("0.60")
            page.evaluate("window.dispatchEvent(new Event('resize'))")  # the charts take the new widths
            page.wait_for_timeout(500)
            bottom = page.evaluate("document.querySelector('#chart-acc').closest('.panel')"
                                   ".getBoundingClientRect().bottom + window.scrollY")
            page.set_viewport_size({"width": VIEWPORT["width"], "height": int(bottom) + 16})
            page.wait_for_timeout(300)
            save(page, out / "studio-compare.png", written)
            page.context.close()

            step = "studio-diagnoses.png"
            page = new_page(color_scheme="light")
            diag_job = jobs[-1]
            open_run(page, diag_job)  # the smallest run: the profiler has the most to say
            panel = page.locator("#diag-panel")
            expect(panel.locator("#layer-health tbody tr").first).to_be_visible(timeout=15_000)
            panel.scroll_into_view_if_needed()
            page.wait_for_timeout(200)
            save(panel, out / "studio-diagnoses.png", written)
            page.context.close()

            step = "studio-hardware.png"
            page = new_page(color_scheme="light")
            open_run(page, main)
            hw = page.locator("#hw-panel")
            expect(hw).to_be_visible(timeout=30_000)
            expect(page.locator("#hw-board")).to_have_value("icebreaker", timeout=15_000)
            expect(hw.locator("#hw-fits")).not_to_have_text("—", timeout=60_000)
            expect(hw.locator("#hw-build")).to_be_enabled()  # shown, never clicked: no synthesis
            hw.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            save(hw, out / "studio-hardware.png", written)
            page.context.close()
        except Failure:
            raise
        except Exception as exc:  # Playwright timeouts and the like: say which picture failed
            raise Failure(f"while taking {step}: {type(exc).__name__}: {exc}".splitlines()[0][:600]) from exc
        finally:
            browser.close()
    if errors:
        raise Failure(f"the page raised JavaScript errors: {errors[:3]}")
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="folder for the PNGs (docs/img)")
    ap.add_argument("--chromium", default=CHROMIUM, help="Chromium executable (Debian's /usr/bin/chromium)")
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        if not Path(args.chromium).exists():
            raise Failure(f"no Chromium at {args.chromium} (apt-get install -y chromium, or --chromium PATH)")
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            raise Failure(f"Playwright is not installed: {exc}") from exc
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="studio-shots-") as tmp, Studio(Path(tmp) / "studio.sqlite") as srv:
            print(f"studio at {srv.url} (database {tmp}/studio.sqlite); training {len(RUNS)} runs on digits ...",
                  flush=True)
            jobs = train_runs(srv.url)
            print(f"trained {', '.join(jobs)} in {time.monotonic() - t0:.0f} s; taking screenshots ...", flush=True)
            written = shoot(srv.url, jobs, args.out, args.chromium)
    except Failure as exc:
        print(f"studio_screenshots: FAILED: {exc}", file=sys.stderr)
        return 1
    for path in written:
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"wrote {shown} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real Studio servers on 127.0.0.1 for the tests: uvicorn in a thread, or ``python -m sw.studio``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sw.studio import StudioSettings, create_app
from sw.studio.server import StudioServer

REPO = Path(__file__).resolve().parents[2]
STREAM_TIMEOUT = 60.0  # no test stream may take longer than this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    server: StudioServer
    thread: threading.Thread

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 30.0), **kw)

    def stop(self) -> None:
        if self.server.should_exit:
            return
        self.server.handle_exit(signal.SIGTERM, None)  # as a signal would (no handlers outside the main thread)
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "uvicorn did not shut down"


def start_live_server(settings: StudioSettings) -> LiveServer:
    """Serve ``create_app(settings)`` on a free loopback port until ``stop()``."""
    port = free_port()
    server = StudioServer(create_app(settings), host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn failed to start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``make_server(**settings)``: a live server with its own SQLite file under tmp_path."""
    servers: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        overrides.setdefault("db_path", tmp_path / f"studio{len(servers)}.sqlite")
        overrides.setdefault("mnist_dir", None)
        overrides.setdefault("token", None)
        srv = start_live_server(StudioSettings(**overrides))
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    """A live server with default limits (2 jobs at once)."""
    return make_server()


def read_events(client: httpx.Client, job_id: str, *, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None, limit: int | None = None,
                timeout: float = STREAM_TIMEOUT) -> list[dict[str, Any]]:
    """Parse the SSE stream of a job until it ends (or ``limit`` events); checks ``id:`` == payload id."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/api/training/stream/{job_id}", headers=headers, params=params,
                       timeout=httpx.Timeout(timeout)) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        frame_id = None
        for line in resp.iter_lines():
            assert time.monotonic() < deadline, f"stream of {job_id} ran past {timeout}s"
            if line.startswith("id: "):
                frame_id = int(line[4:])
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                if event["event"] == "heartbeat":  # not stored, no id: line; carries the newest stored id
                    assert frame_id is None or event["id"] == frame_id
                else:
                    assert event["id"] == frame_id
                events.append(event)
                if limit is not None and len(events) >= limit:
                    break
    return events


def start_job(client: httpx.Client, **config: Any) -> str:
    res = client.post("/api/training/start", json=config)
    assert res.status_code == 200, res.text
    return res.json()["job_id"]


SMALL = {"dataset": "synthetic", "epochs": 3, "hidden": [16], "timesteps": 5, "batch_size": 64}
LONG = {"dataset": "synthetic", "epochs": 100, "hidden": [64], "timesteps": 20, "batch_size": 8}


def spawn_studio(db: Path, port: int, *extra: str, host: str = "127.0.0.1") -> subprocess.Popen:
    """``python -m sw.studio`` as a child process (for kill/restart tests)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SNN_STUDIO_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "sw.studio", "--host", host, "--port", str(port),
                             "--db", str(db), *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"studio exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(f"{url}/api/training/jobs", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"studio at {url} did not come up in {timeout}s")


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (``.ci/run`` installs it); every browser test drives it."""
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]


@pytest.fixture
def browser():
    """A headless Chromium (Playwright), closed after the test."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()

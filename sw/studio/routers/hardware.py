"""The hardware panel: a finished run's model on an iCE40 board, without and with synthesis.

* ``GET /api/runs/{job_id}/hardware?board=icebreaker``: float vs Q8.8 golden accuracy of the
  run's exported artifact (``<db folder>/artifacts/<job_id>.npz``, written by the trainer) on
  the run's validation set, the planner's resources against the board's budget, whether it
  fits, and inferences/s from the planner's cycle model on the golden model's spike activity.
  No synthesis; seconds at most (cached per run, board and artifact).
* ``GET /api/hardware/boards``: the boards one may pick.
* ``POST /api/runs/{job_id}/build?board=...``: a real bitstream build
  (``python -m hw.build`` as a child process, one at a time) as a job of its own;
  ``GET /api/builds/{build_id}/stream`` streams its stages (SSE, ``stage`` events in order,
  then ``completed`` or ``failed`` with the message), ``GET /api/builds/{build_id}`` its
  state, and ``/api/builds/{build_id}/report.json`` / ``snn_top.bin`` the results.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from ..deps import get_manager
from ..jobs import JobManager
from ..settings import StudioSettings
from .training_schemas import ERROR_JSON, JOB_ID_PATTERN

router = APIRouter(tags=["hardware"])
Manager = Annotated[JobManager, Depends(get_manager)]
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=30)]
BUILD_ID_PATTERN = r"^build_[0-9]{1,20}$"
BuildId = Annotated[str, Path(pattern=BUILD_ID_PATTERN, max_length=30)]

def _board_names() -> list[str]:
    from boards import BOARDS

    return list(BOARDS)


# The schema lists the boards (so a schema-valid request is one the server takes); any other
# name is answered 422 with the known boards, as is a string the pattern refuses.
BoardQ = Annotated[str, Query(min_length=1, max_length=40, description="board name (see /api/hardware/boards)",
                              json_schema_extra={"enum": _board_names()})]

REPO = FsPath(__file__).resolve().parents[3]
STAGES = ("load model", "quantize + plan", "generate Verilog", "synthesize (yosys)",
          "place & route (nextpnr)", "timing sign-off", "pack bitstream (icepack)", "report")
"""``hw.build.STAGES`` (not imported: that would load hw.build and its toolchain at startup)."""
UNPROCESSABLE = {422: {"description": "unknown board, or a model the planner cannot lay out (a string); "
                                      "a malformed parameter (a list of errors)",
                       "content": {"application/json": {"schema": {
                           "type": "object", "required": ["detail"],
                           "properties": {"detail": {"anyOf": [{"type": "string"},
                                                               {"type": "array", "items": {"type": "object"}}]}}}}}}}
NO_ARTIFACT = {404: {"description": "no job with this id, or the run has no hardware artifact (not completed)",
                     "content": ERROR_JSON}}
NO_BUILD = {404: {"description": "no build with this id, or that file is not there (yet)", "content": ERROR_JSON}}


# -- response models ---------------------------------------------------------------
class BoardInfo(BaseModel):
    name: str
    title: str
    target_hz: float


class Resource(BaseModel):
    planned: int | None
    budget: int
    fits: bool


class HardwareSummary(BaseModel):
    job_id: str
    board: BoardInfo
    artifact: str
    dataset: str
    n_val: int
    float_accuracy: float
    golden_accuracy: float
    accuracy_delta: float
    fits: bool
    fit_error: str | None
    resources: dict[str, Resource]
    cycles_per_inference: dict[str, float]
    clock_hz: float
    inferences_per_second: float
    worst_case_inferences_per_second: float


class BuildEvent(BaseModel):
    event: str
    data: dict[str, Any]
    id: int


class BuildState(BaseModel):
    build_id: str
    job_id: str
    board: str
    status: Literal["queued", "running", "completed", "failed"]
    message: str | None
    stages: list[str]
    events: list[BuildEvent]
    downloads: dict[str, str]


# -- the artifact and its numbers ----------------------------------------------------
def artifact_file(settings: StudioSettings, job_id: str) -> FsPath:
    from ..trainer import artifact_path

    return artifact_path(settings, job_id)


def _board(name: str) -> Any:
    from boards import UnknownBoardError, get_board

    try:
        return get_board(name)
    except UnknownBoardError as err:
        raise HTTPException(422, str(err)) from None


def _artifact(manager: JobManager, job_id: str) -> tuple[Any, FsPath]:
    record = manager.record(job_id)   # JobNotFound -> 404
    path = artifact_file(manager.settings, job_id)
    if not path.is_file():
        why = (f"run {job_id} is {record.status}; only a completed run has a hardware artifact"
               if record.status != "completed" else f"run {job_id} has no hardware artifact (trained before "
                                                    "the hardware panel existed, or its export failed)")
        raise HTTPException(404, why)
    return record, path


_CACHE: OrderedDict[tuple[str, str, int, str], dict[str, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def hardware_summary(settings: StudioSettings, job_id: str, config: dict[str, Any], path: FsPath,
                     board: Any) -> dict[str, Any]:
    """The panel's numbers for one run's artifact on one board (see the module docstring)."""
    import numpy as np

    from hw.build import FitError, check_memory_fit
    from hw.cores.plan import PlanError
    from hw.fixed import Q8_8
    from hw.ir import Network
    from hw.quantize import quantize_network
    from sim.golden import prepare_input, run_golden, simulate_float

    from ..datasets import load_dataset

    key = (job_id, board.name, path.stat().st_mtime_ns, str(settings.mnist_dir))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    network = Network.load(path)
    data = load_dataset(config["dataset"], settings.mnist_dir, config.get("seed", 0))
    x, y = data.x_val, data.y_val
    if x.shape[1] != network.n_input:
        raise HTTPException(422, f"the run's dataset now loads {x.shape[1]} features, its model takes "
                                 f"{network.n_input} (were the MNIST files added or removed since?)")
    float_acc = float(simulate_float(network, x, progress=False).accuracy(y))
    qnet = quantize_network(network, Q8_8)
    golden = run_golden(qnet, x, record=True, progress=False)
    golden_acc = float(golden.accuracy(y))
    try:
        plan = board.plan(qnet)
    except PlanError as err:
        raise HTTPException(422, f"{board.title}: the planner cannot lay this model out: {err}") from None
    need = plan.resources()
    b = board.budget
    fit_error = None
    try:
        check_memory_fit(plan, board)
    except FitError as err:
        fit_error = str(err)
    budgets = {"ebr": b.ebr, "spram": b.spram, "dsp": b.dsp}
    resources = {"lcs": {"planned": None, "budget": b.lcs, "fits": True}}   # LCs are known after synthesis
    for name, have in budgets.items():
        planned = int(need[name])
        counted = name != "dsp" or board.has_dsp   # without DSPs the multipliers are LUTs
        resources[name] = {"planned": planned, "budget": int(have), "fits": planned <= have or not counted}
    cycles = plan.activity_cycles(golden.layer_spikes, Q8_8.quantize(prepare_input(network, x)))
    mean = float(np.mean(cycles))
    worst = int(plan.cycles())
    result = {
        "job_id": job_id,
        "board": {"name": board.name, "title": board.title, "target_hz": float(board.target_hz)},
        "artifact": path.name, "dataset": data.name, "n_val": int(len(y)),
        "float_accuracy": float_acc, "golden_accuracy": golden_acc,
        "accuracy_delta": golden_acc - float_acc,
        "fits": fit_error is None, "fit_error": fit_error, "resources": resources,
        "cycles_per_inference": {"mean": mean, "max": float(np.max(cycles)), "worst_case": float(worst)},
        "clock_hz": float(board.target_hz),
        "inferences_per_second": float(board.target_hz) / mean,
        "worst_case_inferences_per_second": float(board.target_hz) / worst,
    }
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


@router.get("/api/hardware/boards", response_model=list[BoardInfo])
def boards() -> list[dict[str, Any]]:
    """The boards the hardware panel can plan for and build."""
    from boards import BOARDS

    return [{"name": b.name, "title": b.title, "target_hz": float(b.target_hz)} for b in BOARDS.values()]


@router.get("/api/runs/{job_id}/hardware", response_model=HardwareSummary,
            responses={**NO_ARTIFACT, **UNPROCESSABLE})
def hardware(job_id: JobId, manager: Manager, board: BoardQ = "icebreaker") -> dict[str, Any]:
    """A completed run's model on a board, no synthesis: float vs Q8.8 golden accuracy on the
    run's validation set, planned EBR/SPRAM/DSP against the budget, and inferences/s."""
    chosen = _board(board)
    record, path = _artifact(manager, job_id)
    return hardware_summary(manager.settings, job_id, record.config, path, chosen)


# -- bitstream builds ------------------------------------------------------------------
_STAGE_RE = re.compile(r"\[(\d+)/(\d+)\] (.+?) \.\.\.")
_DONE_RE = re.compile(r" (done|failed) \((\d+(?:\.\d+)?) s\)")
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_ONE_AT_A_TIME = threading.Semaphore(1)   # a build takes a core for a minute; they queue
_REGISTRY_LOCK = threading.Lock()


@atexit.register
def _kill_builds() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()


@dataclass
class Build:
    build_id: str
    job_id: str
    board: str
    model: FsPath
    out_dir: FsPath
    status: str = "queued"
    _stage: str | None = None
    _proc: subprocess.Popen | None = None
    _cancelled: str | None = None
    message: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _end_lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.events.append({"event": event, "data": data, "id": len(self.events) + 1})

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    def downloads(self) -> dict[str, str]:
        files = {"report.json": self.out_dir / "report.json", "snn_top.bin": self.out_dir / "snn_top.bin"}
        return {name: f"/api/builds/{self.build_id}/{name}" for name, p in files.items()
                if self.status == "completed" and p.is_file()}

    def state(self) -> dict[str, Any]:
        with self.lock:
            events = list(self.events)
        return {"build_id": self.build_id, "job_id": self.job_id, "board": self.board, "status": self.status,
                "message": self.message, "stages": list(STAGES), "events": events, "downloads": self.downloads()}

    # -- the worker thread --
    def cancel(self, reason: str) -> None:
        """End the build now (the server is shutting down): kill its child, emit ``failed``."""
        self._cancelled = reason
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._fail(reason)

    def run(self) -> None:
        with _ONE_AT_A_TIME:
            if self._cancelled:
                return
            try:
                self._run()
            except Exception as exc:  # noqa: BLE001 - never leave a build without its final event
                self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, message: str) -> None:
        with self._end_lock:   # one final event, whoever ends the build
            if self.finished:
                return
            self.status, self.message = "failed", message
            self.emit("failed", {"status": "failed", "message": message, "stage": self._stage})

    def _run(self) -> None:
        self.status = "running"
        self.emit("started", {"status": "running", "board": self.board, "job_id": self.job_id})
        self.out_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "hw.build", "--model", str(self.model), "--board", self.board,
               "--out", str(self.out_dir)]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        self._proc = proc
        if self._cancelled:
            proc.kill()
        text, seen, t0 = "", 0, time.monotonic()
        try:
            with open(self.out_dir / "build.log", "wb") as log:
                assert proc.stdout is not None
                while chunk := proc.stdout.read1(4096):
                    log.write(chunk)
                    log.flush()
                    text += chunk.decode("utf-8", "replace")
                    for m in _STAGE_RE.finditer(text):
                        index = int(m.group(1))
                        if index > seen:   # plain-mode status lines repeat the header: once each
                            if seen:
                                self.emit("stage", {"index": seen, "total": len(STAGES),
                                                    "stage": STAGES[seen - 1] if seen <= len(STAGES) else "",
                                                    "state": "done"})
                            seen = index
                            self._stage = m.group(3)
                            self.emit("stage", {"index": index, "total": int(m.group(2)), "stage": m.group(3),
                                                "state": "running", "elapsed_s": round(time.monotonic() - t0, 1)})
                    cut = text.rfind("\n")
                    if cut > 0 and len(text) > 65536:
                        text = text[cut + 1:]
            rc = proc.wait()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        if self._cancelled:
            self._fail(self._cancelled)
            return
        full = (self.out_dir / "build.log").read_text(errors="replace")
        if rc != 0:
            errors = [line[len("error: "):] for line in full.splitlines() if line.startswith("error: ")]
            self._fail(errors[-1] if errors else f"hw.build exited with status {rc}: {full[-500:]}")
            return
        try:
            report = json.loads((self.out_dir / "report.json").read_text())
        except (OSError, ValueError) as err:
            self._fail(f"the build wrote no readable report.json: {err}")
            return
        if seen:
            self.emit("stage", {"index": seen, "total": len(STAGES), "stage": STAGES[seen - 1], "state": "done"})
        with self._end_lock:
            if self.finished:
                return
            self.status = "completed"
            self._emit_completed(report, t0)

    def _emit_completed(self, report: dict[str, Any], t0: float) -> None:
        self.emit("completed", {
            "status": "completed", "seconds": round(time.monotonic() - t0, 1),
            "timing_met": report.get("timing_met"), "fmax_mhz": report.get("fmax_mhz"),
            "clock_mhz": report.get("clock_mhz"), "resources": report.get("resources"),
            "inferences_per_second": report.get("inferences_per_second"), "downloads": self.downloads()})


def _builds(request: Request) -> dict[str, Build]:
    state = request.app.state
    with _REGISTRY_LOCK:
        builds = state._state.get("hardware_builds")
        if builds is None:
            builds = state._state["hardware_builds"] = {}
    return builds


def stop_builds(state: Any, reason: str = "the server shut down during the build") -> None:
    """End every unfinished build of an app (its ``app.state``); called when the app stops."""
    with _REGISTRY_LOCK:
        builds = list(state._state.get("hardware_builds", {}).values())
    for build in builds:
        if not build.finished:
            build.cancel(reason)


_LAST_MS = [0]


@router.post("/api/runs/{job_id}/build", response_model=BuildState, responses={**NO_ARTIFACT, **UNPROCESSABLE})
def start_build(job_id: JobId, manager: Manager, request: Request, board: BoardQ = "icebreaker") -> dict[str, Any]:
    """Start a real bitstream build of a completed run for ``board`` (about a minute; one at a
    time, later ones wait); follow it on ``/api/builds/{build_id}/stream``."""
    chosen = _board(board)
    _, path = _artifact(manager, job_id)
    with _REGISTRY_LOCK:
        ms = max(int(time.time() * 1000), _LAST_MS[0] + 1)
        _LAST_MS[0] = ms
    build_id = f"build_{ms}"
    out = FsPath(manager.settings.db_path).parent / "builds" / build_id
    build = Build(build_id, job_id, chosen.name, path, out)
    build.emit("queued", {"status": "queued", "board": chosen.name, "job_id": job_id})
    _builds(request)[build_id] = build
    threading.Thread(target=build.run, name=f"studio-{build_id}", daemon=True).start()
    return build.state()


def _build(request: Request, build_id: str) -> Build:
    build = _builds(request).get(build_id)
    if build is None:
        raise HTTPException(404, f"no build {build_id!r}")
    return build


# The build-id GET routes are left out of the OpenAPI schema: a build id exists only after a
# minute-long build was started, so a schema fuzzer could only ever reach their 404s.
@router.get("/api/builds/{build_id}", response_model=BuildState, responses=NO_BUILD, include_in_schema=False)
def build_state(build_id: BuildId, request: Request) -> dict[str, Any]:
    """A build's status, its events so far and (once completed) its downloads."""
    return _build(request, build_id).state()


async def _sse(build: Build, after: int) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while True:
        with build.lock:
            pending = build.events[after:]
        for event in pending:
            yield f"id: {event['id']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
            after = event["id"]
            if event["event"] in ("completed", "failed"):
                return
        if pending:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 10:
            quiet_since = time.monotonic()
            yield f"data: {json.dumps({'event': 'heartbeat', 'data': {'status': build.status}, 'id': after})}\n\n"
        await asyncio.sleep(0.2)


@router.get("/api/builds/{build_id}/stream", response_class=StreamingResponse,
            responses={200: {"description": "Server-Sent Events: `data: {\"event\", \"data\", \"id\"}`; "
                                            "queued, started, stage ..., then completed or failed",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **NO_BUILD})
def build_stream(build_id: BuildId, request: Request,
                 last_event_id: Annotated[int, Query(ge=0, le=2**31)] = 0) -> StreamingResponse:
    """A build's events (replayed, then live) until ``completed`` or ``failed``."""
    build = _build(request, build_id)
    header = request.headers.get("last-event-id", "")
    after = max(last_event_id, int(header) if header.isdigit() and len(header) < 10 else 0)
    return StreamingResponse(_sse(build, after), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _download(request: Request, build_id: str, name: str, media_type: str) -> FileResponse:
    build = _build(request, build_id)
    path = build.out_dir / name
    if build.status != "completed" or not path.is_file():
        raise HTTPException(404, f"build {build_id} has no {name} ({build.status})")
    return FileResponse(path, media_type=media_type, filename=f"{build.job_id}_{build.board}_{name}")


@router.get("/api/builds/{build_id}/report.json", response_class=FileResponse, include_in_schema=False,
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **NO_BUILD})
def build_report(build_id: BuildId, request: Request) -> FileResponse:
    """The finished build's ``report.json`` (``hw.build``)."""
    return _download(request, build_id, "report.json", "application/json")


@router.get("/api/builds/{build_id}/snn_top.bin", response_class=FileResponse, include_in_schema=False,
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
                       **NO_BUILD})
def build_bitstream(build_id: BuildId, request: Request) -> FileResponse:
    """The finished build's bitstream ``snn_top.bin``."""
    return _download(request, build_id, "snn_top.bin", "application/octet-stream")

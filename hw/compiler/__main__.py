"""Command line: compile one neuron model to Verilog plus a ready-to-run cocotb testbench.

Examples::

    python -m hw.compiler "dv/dt = -(v - E_L)/tau_m + I/C" --threshold "v > -50" \\
        --reset "v = -65" --params E_L=-65,tau_m=10,C=2 --dt 0.5 -o build/lif_ode
    python -m hw.compiler --cell adex --params a=0.02 -o build/adex
    python -m hw.compiler "v = beta * v + I
    spike = v > 1
    v = v - spike" --states v --params beta=0.9 -o build/mine

DIR receives ``<name>.v`` (the single-cycle datapath), ``neuron_tb.py``
(cocotb 2 test module), ``vectors.npz`` (random stimuli + golden outputs),
``run_tb.py`` (runs the testbench on Icarus: ``python DIR/run_tb.py``), a
cocotb ``Makefile`` and ``manifest.json``.  ``--run`` runs the testbench right away.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from hw.cli import USAGE, ArgumentParser, error
from hw.fixed import OVERFLOW_MODES, ROUNDING_MODES, QFormat

from . import CompileError, CompiledNeuron, compile_cell, compile_equations, compile_ode

_RUN_TB = '''\
"""Run the generated cocotb testbench on Icarus: python run_tb.py (exit code 0 = bit-exact)."""
import os
import sys
from pathlib import Path
from xml.etree import ElementTree

from cocotb_tools.runner import get_runner

here = Path(__file__).resolve().parent
os.environ["NEURON_TB_VECTORS"] = str(here / "vectors.npz")
os.environ.setdefault("COCOTB_REWRITE_ASSERTION_FILES", "neuron_tb.py")  # not numpy: much faster start
sys.path.insert(0, str(here))
build = here / "sim_build"
results = build / "results.xml"
runner = get_runner("icarus")
runner.build(sources=[here / "{verilog}"], hdl_toplevel="{top}", build_dir=build,
             timescale=("1ns", "1ps"), always=True)
results.unlink(missing_ok=True)
try:
    runner.test(test_module="neuron_tb", hdl_toplevel="{top}", build_dir=build, results_xml=str(results))
except SystemExit:
    pass  # counted from the results file below
if not results.is_file():
    print("the simulation ended without a results file (see the log above)")
    sys.exit(1)
# count as cocotb does: a <failure>/<error> failed, a <skipped> was skipped, any other test passed
counts = dict(passed=0, failed=0, skipped=0)
for case in ElementTree.parse(results).getroot().iter("testcase"):
    kind = ("failed" if case.find("failure") is not None or case.find("error") is not None
            else "skipped" if case.find("skipped") is not None else "passed")
    counts[kind] += 1
print("cocotb: {{passed}} passed, {{failed}} failed, {{skipped}} skipped".format(**counts))
sys.exit(1 if counts["failed"] or not counts["passed"] else 0)
'''

_MAKEFILE = '''\
# cocotb make flow: `make` (needs cocotb and Icarus Verilog)
SIM ?= icarus
TOPLEVEL_LANG = verilog
VERILOG_SOURCES = $(PWD)/{verilog}
COCOTB_TOPLEVEL = {top}
COCOTB_TEST_MODULES = neuron_tb
export NEURON_TB_VECTORS = $(PWD)/vectors.npz
export COCOTB_REWRITE_ASSERTION_FILES ?= neuron_tb.py
include $(shell cocotb-config --makefiles)/Makefile.sim
'''


def parse_params(text: str | None) -> dict[str, float]:
    """``"a=1,b=-2.5"`` -> ``{"a": 1.0, "b": -2.5}`` with a clear error on bad items."""
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise CompileError(f"--params item {item!r} must look like name=value")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise CompileError(f"--params value of {name.strip()!r} is not a number: {value!r}") from None
    return out


def parse_format(text: str, overflow: str, rounding: str) -> QFormat:
    try:
        return QFormat.parse(text, overflow, rounding)
    except ValueError as err:
        raise CompileError(f"--format: {err}") from None


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m hw.compiler", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("equations", nargs="?", help="`dX/dt = ...` lines (continuous form) or update statements")
    p.add_argument("--cell", help="take the equations of a sw.training CELL_EQUATIONS entry (lif, adex, ...)")
    p.add_argument("--threshold", help="continuous form: spike condition, e.g. 'v > -50'")
    p.add_argument("--reset", help="continuous form: reset statements, e.g. 'v = -65' ('a = 0; b = b + 1')")
    p.add_argument("--dt", type=float, help="continuous form: forward-Euler time step")
    p.add_argument("--params", help="parameters as name=value,name=value")
    p.add_argument("--states", help="statement form: comma-separated state names")
    p.add_argument("--inputs", default="I", help="comma-separated input names (default I)")
    p.add_argument("--format", default="Q8.8", help="fixed-point format Qm.n (default Q8.8)")
    p.add_argument("--overflow", default="saturate", choices=OVERFLOW_MODES)
    p.add_argument("--rounding", default="nearest", choices=ROUNDING_MODES)
    p.add_argument("--name", default="neuron", help="Verilog top module name (default neuron)")
    p.add_argument("--vectors", type=int, default=10_000, help="random test vectors (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", action="store_true", help="run the testbench on Icarus after writing it")
    p.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    return p


def compile_from_args(args: argparse.Namespace) -> CompiledNeuron:
    fmt = parse_format(args.format, args.overflow, args.rounding)
    params = parse_params(args.params)
    inputs = tuple(n.strip() for n in args.inputs.split(",") if n.strip())
    if args.cell:
        if args.equations:
            raise CompileError("give either equations or --cell, not both")
        return compile_cell(args.cell, params, fmt=fmt)
    if not args.equations:
        raise CompileError("give the equations (or --cell NAME)")
    if re.search(r"^\s*d\s*\w+\s*/\s*dt\s*=", args.equations, re.M):
        missing = [f for f in ("threshold", "reset", "dt") if getattr(args, f) is None]
        if missing:
            raise CompileError("the continuous form needs " + ", ".join(f"--{m}" for m in missing))
        if len(inputs) != 1:
            raise CompileError("the continuous form takes one input (--inputs NAME)")
        return compile_ode(args.equations, threshold=args.threshold, reset=args.reset, params=params,
                           dt=args.dt, fmt=fmt, input_name=inputs[0])
    if not args.states:
        raise CompileError("update statements need --states (e.g. --states v,w)")
    states = tuple(n.strip() for n in args.states.split(",") if n.strip())
    return compile_equations(args.equations, states=states, inputs=inputs, params=params, fmt=fmt)


def write_outputs(neuron: CompiledNeuron, out: Path, *, name: str = "neuron", vectors: int = 10_000,
                  seed: int = 0) -> dict[str, Path]:
    """Write Verilog, testbench, vectors, runner script, Makefile and manifest into ``out``."""
    from hw.toolchain import to_verilog

    from .vectors import datapath_vectors, save_vectors

    if not name.isidentifier():
        raise CompileError(f"--name must be a Verilog identifier, got {name!r}")
    if vectors < 1:
        raise CompileError("--vectors must be >= 1")
    out.mkdir(parents=True, exist_ok=True)
    files = {"verilog": out / f"{name}.v", "testbench": out / "neuron_tb.py", "vectors": out / "vectors.npz",
             "runner": out / "run_tb.py", "makefile": out / "Makefile", "manifest": out / "manifest.json"}
    files["verilog"].write_text(to_verilog(neuron.datapath(), name))
    shutil.copyfile(Path(__file__).resolve().parents[2] / "sim" / "tb" / "neuron_tb.py", files["testbench"])
    save_vectors(files["vectors"], datapath_vectors(neuron, vectors, seed=seed), mode="datapath",
                 width=neuron.fmt.width)
    files["runner"].write_text(_RUN_TB.format(verilog=files["verilog"].name, top=name))
    files["makefile"].write_text(_MAKEFILE.format(verilog=files["verilog"].name, top=name))
    manifest = {
        "top": name, "format": str(neuron.fmt), "overflow": neuron.fmt.overflow,
        "rounding": neuron.fmt.rounding, "states": list(neuron.states), "inputs": list(neuron.inputs),
        "params": neuron.params, "params_raw": neuron.params_raw, "ops": neuron.op_counts(),
        "equations": neuron.program.text, "vectors": vectors, "seed": seed,
        "ports": {"in": [f"in_{n}" for n in neuron.inputs] + [f"st_{n}" for n in neuron.states],
                  "out": [f"out_{n}" for n in neuron.states] + ["spike"]},
    }
    files["manifest"].write_text(json.dumps(manifest, indent=2))
    return files


def _missing_for_run() -> str | None:
    """Why ``--run`` cannot work here (Icarus or cocotb missing), or ``None``."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return "--run needs Icarus Verilog (iverilog, vvp): install it (Debian: apt-get install iverilog)"
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "--run needs cocotb 2: pip install cocotb"
    return None


def run_testbench(out: Path) -> int:
    """Run ``out/run_tb.py`` (the written testbench) on Icarus; returns its exit code (0 = bit-exact)."""
    return subprocess.call([sys.executable, str(out / "run_tb.py")], cwd=out)


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 written (and, with ``--run``, bit-exact), 2 bad arguments/equations,
    1 the testbench failed or Icarus/cocotb is missing."""
    args = build_parser().parse_args(argv)
    if args.vectors < 1:
        return error("--vectors must be >= 1", USAGE)
    if args.out.exists() and not args.out.is_dir():
        return error(f"-o {args.out} is a file; give a directory", USAGE)
    if args.run and (why := _missing_for_run()) is not None:
        return error(why)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            neuron = compile_from_args(args)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        files = write_outputs(neuron, args.out, name=args.name, vectors=args.vectors, seed=args.seed)
    except CompileError as err:
        return error(str(err), USAGE)
    except OSError as err:
        return error(f"cannot write {args.out}: {err.strerror or err}")
    print(f"{neuron}\nwrote " + ", ".join(str(p) for p in files.values()))
    if args.run:
        sys.stdout.flush()
        if run_testbench(args.out) != 0:
            return error(f"the testbench in {args.out} failed (see the cocotb log above)")
        print(f"testbench passed: {args.vectors} vectors bit-exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())

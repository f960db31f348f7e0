"""Benchmark: the same cocotb RTL tests on Icarus and on Verilator, in one run.

    python bench/sim_speed.py [--tests tests/rtl/test_network_rtl.py ...] [-n WORKERS]

Runs ``pytest -m rtl`` on the chosen test files four times: on each simulator, once cold
and once warm.  A cold pass starts as on a clean CI machine: an empty cache folder
(``SNN_SIM_CACHE``: the Verilog of each design, :mod:`sim.tb.verilog_cache`, and for
Verilator the built executables, :mod:`sim.tb.build_cache`) and, for Verilator, an empty
ccache (``CCACHE_DIR``), all fresh temporary folders, one set per simulator.  The warm
pass reuses them (as when the suite runs again).  It prints each test's time (pytest's
``call`` duration: Verilog, compile, simulation and the test's own work) in each pass,
the totals and the ratios Icarus / Verilator, cold against cold and warm against warm
(> 1: Verilator is faster).  The post-synthesis netlist tests pick their simulators
themselves and are left out by default.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TESTS = ["tests/rtl/test_network_rtl.py", "tests/rtl/test_neuron_rtl.py", "tests/rtl/test_sc_rtl.py",
                 "tests/rtl/test_host_link.py", "tests/rtl/test_flash_boot.py"]
_DURATION = re.compile(r"^\s*([\d.]+)s (call|setup|teardown)\s+(\S+)")


def run(sim: str, tests: list[str], workers: int, marker: str,
        env: dict[str, str] | None = None) -> tuple[dict[str, float], float, str]:
    """pytest on ``tests`` with ``SIM=sim`` (and ``env``): ({test id: call seconds}, wall seconds, summary)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", marker, "--durations=0", "-p", "no:cacheprovider",
           *tests]
    if workers > 1:
        cmd += ["-n", str(workers)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "SIM": sim, **(env or {})},
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    times: dict[str, float] = {}
    for line in out.stdout.splitlines():
        m = _DURATION.match(line)
        if m and m.group(2) == "call":
            times[m.group(3)] = float(m.group(1))
    summary = next((ln for ln in reversed(out.stdout.splitlines()) if " passed" in ln or " failed" in ln), "?")
    if out.returncode not in (0,):
        print(out.stdout[-3000:], file=sys.stderr)
    return times, wall, summary.strip("= ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="test files or ids")
    parser.add_argument("-n", type=int, default=1, help="pytest-xdist workers (default 1: times add up)")
    parser.add_argument("-m", default="rtl", help='pytest marker expression (default "rtl")')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sim_speed_") as tmp:
        caches = {sim: {"SNN_SIM_CACHE": str(Path(tmp) / sim / "builds"),
                        "CCACHE_DIR": str(Path(tmp) / sim / "ccache")} for sim in ("icarus", "verilator")}
        passes = {"icarus cold": run("icarus", args.tests, args.n, args.m, caches["icarus"]),
                  "verilator cold": run("verilator", args.tests, args.n, args.m, caches["verilator"]),
                  "icarus warm": run("icarus", args.tests, args.n, args.m, caches["icarus"]),
                  "verilator warm": run("verilator", args.tests, args.n, args.m, caches["verilator"])}
    ti = passes["icarus cold"][0]
    names = sorted(set().union(*(p[0] for p in passes.values())), key=lambda k: -ti.get(k, 0.0))
    width = max([len(n) for n in names] + [20])
    cols = list(passes)
    print(f"\n{'test':<{width}}" + "".join(f"  {c + ' s':>16}" for c in cols)
          + f"  {'ratio cold':>10}  {'ratio warm':>10}")

    def row(label: str, values: list[float | None]) -> str:
        ic, vc, iw, vw = values
        ratios = [f"{a / b:10.2f}" if a and b else f"{'-':>10}" for a, b in ((ic, vc), (iw, vw))]
        cells = "".join(f"  {v:16.1f}" if v is not None else f"  {'-':>16}" for v in values)
        return f"{label:<{width}}{cells}  " + "  ".join(ratios)

    for n in names:
        print(row(n, [passes[c][0].get(n) for c in cols]))
    print(row("sum of test times", [sum(passes[c][0].values()) for c in cols]))
    print(row("pytest wall time", [passes[c][1] for c in cols]))
    for c in cols:
        print(f"{c}: {passes[c][2]}")
    return 0 if all("failed" not in p[2] for p in passes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

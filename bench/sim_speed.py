"""Benchmark: the same cocotb RTL tests on Icarus and on Verilator, in one run.

    python bench/sim_speed.py [--tests tests/rtl/test_network_rtl.py ...] [-n WORKERS]

Runs ``pytest -m rtl`` on the chosen test files twice, with ``SIM=icarus`` and
``SIM=verilator`` (``sim.tb.runner.default_simulator``), and prints each test's
time (pytest's ``call`` duration: compile + simulation) on both, the totals and
the ratio Icarus / Verilator (> 1: Verilator is faster).  The post-synthesis
netlist tests pick their simulators themselves and are left out by default.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TESTS = ["tests/rtl/test_network_rtl.py", "tests/rtl/test_neuron_rtl.py", "tests/rtl/test_sc_rtl.py",
                 "tests/rtl/test_host_link.py", "tests/rtl/test_flash_boot.py"]
_DURATION = re.compile(r"^\s*([\d.]+)s (call|setup|teardown)\s+(\S+)")


def run(sim: str, tests: list[str], workers: int, marker: str) -> tuple[dict[str, float], float, str]:
    """pytest on ``tests`` with ``SIM=sim``: ({test id: call seconds}, wall seconds, summary line)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", marker, "--durations=0", "-p", "no:cacheprovider",
           *tests]
    if workers > 1:
        cmd += ["-n", str(workers)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "SIM": sim}, capture_output=True, text=True)
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

    results = {sim: run(sim, args.tests, args.n, args.m) for sim in ("icarus", "verilator")}
    (ti, wi, si), (tv, wv, sv) = results["icarus"], results["verilator"]
    names = sorted(set(ti) | set(tv), key=lambda k: -ti.get(k, 0.0))
    width = max([len(n) for n in names] + [20])
    print(f"\n{'test':<{width}}  {'icarus s':>9}  {'verilator s':>11}  {'ratio':>6}")
    for n in names:
        a, b = ti.get(n), tv.get(n)
        ratio = f"{a / b:6.2f}" if a and b else "     -"
        print(f"{n:<{width}}  {a if a is not None else float('nan'):9.1f}  "
              f"{b if b is not None else float('nan'):11.1f}  {ratio}")
    sa, sb = sum(ti.values()), sum(tv.values())
    print(f"{'sum of test times':<{width}}  {sa:9.1f}  {sb:11.1f}  {sa / max(sb, 1e-9):6.2f}")
    print(f"{'pytest wall time':<{width}}  {wi:9.1f}  {wv:11.1f}  {wi / max(wv, 1e-9):6.2f}")
    print(f"icarus: {si}\nverilator: {sv}")
    return 0 if ("failed" not in si and "failed" not in sv) else 1


if __name__ == "__main__":
    sys.exit(main())

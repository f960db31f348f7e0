"""Synthesise every compiled neuron cell for the iCE40 UP5K and tabulate LCs, DSPs and Fmax.

For each ``CELL_EQUATIONS`` kind (Q8.8 by default):

1. the bare combinational datapath goes through ``synth_ice40 -dsp`` to count
   its cells (SB_LUT4, SB_CARRY, SB_MAC16 = DSPs) — the cost of the neuron alone;
2. the datapath wrapped in registers (inputs driven by a 1-pin shift chain
   of flip-flops, outputs registered and XOR-folded to 1 pin, so the small
   package's few IOs suffice and nothing is optimised away) is placed and
   routed by ``nextpnr-ice40 --up5k``: LCs used (incl. the ~W*(inputs+states)
   wrapper FFs) and Fmax of the register-to-register path through the datapath.

``--array N`` adds a row per cell for its ``NeuronArray`` over N neurons
(states in BRAM, inputs/outputs registered inside the core).

Peers measured in the same run: the ``if`` cell (adders only) is the
baseline; the table prints each cell's LUT4 count as a ratio to it.

Usage::

    python bench/cell_synthesis.py                 # all cells, writes build/cell_synthesis/table.md
    python bench/cell_synthesis.py --cells lif,adex --format Q8.8
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hw.compiler import compile_cell  # noqa: E402
from hw.fixed import QFormat  # noqa: E402
from hw.toolchain import run_nextpnr_ice40, run_yosys, to_verilog  # noqa: E402
from sw.training.equations import CELL_EQUATIONS  # noqa: E402


class ShiftChainWrapper(wiring.Component):
    """Synthesis wrapper: every input port of ``inner`` is driven from a 1-pin shift chain of
    flip-flops, every output port is registered and XOR-folded to 1 pin (so a small package's few
    IOs suffice, nothing is optimised away, and Fmax is register to register)."""

    def __init__(self, inner: wiring.Component) -> None:
        self.inner = inner
        super().__init__({"sin": In(1), "sout": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.inner = inner = self.inner
        ins = [(n, getattr(inner, n)) for n, mem in inner.signature.members.items() if mem.flow == In]
        outs = [getattr(inner, n) for n, mem in inner.signature.members.items() if mem.flow == Out]
        total = sum(len(sig) for _, sig in ins)
        chain = Signal(max(total, 1))
        m.d.sync += chain.eq(Cat(self.sin, chain[:-1]))
        pos = 0
        for _, sig in ins:
            m.d.comb += sig.eq(chain[pos:pos + len(sig)])
            pos += len(sig)
        captured = Signal(sum(len(o) for o in outs))
        m.d.sync += captured.eq(Cat(*outs))
        m.d.sync += self.sout.eq(captured.xor())
        return m


def _count(stat: str, cell: str) -> int:
    m = re.search(rf"^\s+(\d+)\s+{cell}\s*$", stat, re.M) or re.search(rf"^\s+{cell}\s+(\d+)\s*$", stat, re.M)
    return int(m.group(1)) if m else 0


def synthesise(kind: str, fmt: QFormat, work: Path, seed: int = 1, array: int = 0) -> dict:
    """Synthesis + place-and-route numbers of one cell (see the module docstring).

    ``array > 0`` measures the ``NeuronArray`` over that many neurons instead of the bare datapath.
    """
    work.mkdir(parents=True, exist_ok=True)
    neuron = compile_cell(kind, fmt=fmt)
    core = neuron.neuron_array(array) if array else neuron.datapath()
    (work / "datapath.v").write_text(to_verilog(core, "datapath"))
    (work / "top.v").write_text(to_verilog(ShiftChainWrapper(core), "top"))
    t0 = time.perf_counter()
    bare = run_yosys(["-q", "-p", "read_verilog datapath.v; synth_ice40 -dsp -top datapath; tee -o bare_stat.txt stat"],
                     cwd=work)
    del bare
    stat = (work / "bare_stat.txt").read_text()
    run_yosys(["-q", "-l", "synth.log", "-p", "read_verilog top.v; synth_ice40 -dsp -top top -json top.json"],
              cwd=work)
    t1 = time.perf_counter()
    run_nextpnr_ice40(["--up5k", "--package", "sg48", "--json", "top.json", "--pcf-allow-unconstrained",
                       "--timing-allow-fail", "--freq", "12", "--seed", str(seed),
                       "--report", "report.json", "--asc", "top.asc",
                       "--log", "pnr.log"], cwd=work)
    t2 = time.perf_counter()
    report = json.loads((work / "report.json").read_text())
    # DSP cells have their (unused) clock pin tied low, which nextpnr reports as a clock of its
    # own ("$PACKER_GND_NET"); the design's clock is the other one.
    clocks = {k: v.get("achieved", 0.0) for k, v in report.get("fmax", {}).items() if "PACKER_GND" not in k}
    fmax = min(clocks.values(), default=0.0)
    util = report.get("utilization", {})
    row = {
        "cell": kind if not array else f"{kind} ×{array} array", "format": str(fmt), "ops": neuron.op_counts(),
        "lut4": _count(stat, "SB_LUT4"), "carry": _count(stat, "SB_CARRY"), "dsp": _count(stat, "SB_MAC16"),
        "lc_placed": util.get("ICESTORM_LC", {}).get("used", 0),
        "lc_available": util.get("ICESTORM_LC", {}).get("available", 0),
        "dsp_placed": util.get("ICESTORM_DSP", {}).get("used", 0),
        "bram": _count(stat, "SB_RAM40_4K"),
        "fmax_mhz": round(fmax, 1), "synth_s": round(t1 - t0, 1), "pnr_s": round(t2 - t1, 1),
    }
    (work / "summary.json").write_text(json.dumps(row, indent=2))
    return row


def markdown(rows: list[dict]) -> str:
    base = next((r["lut4"] for r in rows if r["cell"] == "if"), None)
    lines = ["| cell | graph ops | datapath LUT4 | carry | DSP (SB_MAC16) | LUT4 vs `if` | "
             "BRAM | placed LCs (with wrapper) | Fmax (MHz) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ops = ", ".join(f"{k}×{v}" for k, v in sorted(r["ops"].items()))
        ratio = f"{r['lut4'] / base:.1f}×" if base else "-"
        lines.append(f"| {r['cell']} | {ops} | {r['lut4']} | {r['carry']} | {r['dsp']} | {ratio} | "
                     f"{r['bram']} | {r['lc_placed']} / {r['lc_available']} | {r['fmax_mhz']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default=",".join(CELL_EQUATIONS), help="comma-separated kinds (default all)")
    p.add_argument("--format", default="8.8", help="int_bits.frac_bits (default 8.8)")
    p.add_argument("--out", type=Path, default=Path("build/cell_synthesis"))
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--array", type=int, default=0,
                   help="also measure NeuronArray over this many neurons (e.g. 256)")
    p.add_argument("--array-cells", default=None, help="cells for --array (default: all of --cells but `if`)")
    args = p.parse_args(argv)
    fmt = QFormat.parse(args.format)
    kinds = [k.strip() for k in args.cells.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CELL_EQUATIONS]
    if unknown:
        p.error(f"unknown cells {unknown}; known: {', '.join(CELL_EQUATIONS)}")
    if "if" not in kinds:
        kinds.insert(0, "if")  # the baseline peer, measured in the same run
    rows = []
    array_kinds = [k.strip() for k in args.array_cells.split(",")] if args.array_cells else \
        [k for k in kinds if k != "if"]
    bad = [k for k in array_kinds if k not in CELL_EQUATIONS]
    if bad:
        p.error(f"unknown --array-cells {bad}")
    jobs = [(k, 0) for k in kinds] + ([(k, args.array) for k in array_kinds] if args.array else [])
    for kind, array in tqdm(jobs, desc="synthesising cells", unit="cell"):
        work = args.out / (kind if not array else f"{kind}_array{array}")
        rows.append(synthesise(kind, fmt, work, seed=args.seed, array=array))
    table = markdown(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table)
    (args.out / "table.json").write_text(json.dumps(rows, indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

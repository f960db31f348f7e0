"""Benchmark: the table of what the engine accepts, every cell measured.

    python bench/engine_matrix.py [--out build/matrix] [--jobs 2] [--kinds lif,if,...] [--json F]

A cell is (layer op x neuron kind x input encoding x arithmetic): Q8.8 over dense and
conv2d (+ 2x2 max-pool) layers, SC (``--arith sc``, dense layers only) at a 256-bit stream;
every accepted neuron kind (``sim.tb.engine_cases.ACCEPTED``); ``direct``, ``rate`` and
``latency`` inputs (the last two encoded on chip).  For each cell a small seeded network --
dense: 8 -> 6 -> 4, conv: a 1x4x4 input, 2 channels of 3x3 kernels (padding 1, pool 2) -> 4 --
with both layers of the kind (a recurrent kind is never the first layer of a direct-encoded
net: that one is LIF, and a recurrent conv layer is refused by the plan, so the conv layer is
LIF there), its weights scaled by the first of :data:`GAINS` at which every layer spikes, is

* run on the RTL (cocotb, Verilator) against its model (``sim.golden`` for Q8.8,
  ``sim.sc.fixed`` for SC): every layer's spikes at every step, the counts, the class and the
  cycle counter must be equal, on 4 random samples, and every layer must spike;
* built for the iCEBreaker by ``hw.build`` (yosys, nextpnr, timing signed off on every path
  group), so the cell also shows its LCs and worst-group Fmax.

A cell the engine refuses says why (the plan's one-line error).  Exit 1 if any accepted cell
fails either check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.tb.engine_cases import ACCEPTED, RECURRENT, neuron  # noqa: E402

ENCODINGS = ("direct", "rate", "latency")
SC_LENGTH = 256
SAMPLES = 4
CELLS = [("q8.8", op) for op in ("dense", "conv2d")] + [("sc", "dense")]


GAINS = (1.0, 4.0, 16.0, 64.0)
"""Weight gains tried in turn until every layer of a cell's network spikes (golden model, on the
cell's samples): a kind with a small input resistance (lapicque) needs larger weights."""


def cell_network(op: str, kind: str, encoding: str, seed: int = 0, gain: float = 1.0):
    """The small ``hw.ir.Network`` of one cell (see the module docstring), weights times ``gain``."""
    from hw.ir import Conv2d, Dense, Network

    rng = np.random.default_rng(seed)

    def w(mu: float, sd: float, shape: tuple[int, ...]) -> np.ndarray:
        return gain * rng.normal(mu, sd, shape)

    first = "lif" if kind in RECURRENT and (encoding == "direct" or op == "conv2d") else kind
    layers = []
    if op == "conv2d":
        layers.append(Conv2d("c0", w(0.4, 0.8, (2, 1, 3, 3)), w(0.1, 0.2, 2),
                             neuron(first), in_shape=(1, 4, 4), padding=1, pool=2))
        n_in, shape = 8, (1, 4, 4)
    else:
        layers.append(Dense("l0", w(0.3, 0.8, (6, 8)), w(0.1, 0.2, 6), neuron(first),
                            recurrent_weight=w(0, 0.5, (6, 6)) if first in RECURRENT else None))
        n_in, shape = 6, (8,)
    layers.append(Dense("l1", w(0.3, 0.8, (4, n_in)), w(0.1, 0.2, 4), neuron(kind),
                        recurrent_weight=w(0, 0.5, (4, 4)) if kind in RECURRENT else None))
    return Network(layers, shape, timesteps=8, encoding=encoding, name=f"{op}-{kind}-{encoding}")


def _rtl_equals_model(arith: str, plan, qnet, net, x: np.ndarray, work: Path) -> str:
    """Run ``x`` on ``plan``'s RTL and on its model; raises on any difference (and when a layer
    never spikes); returns a short summary."""
    from hw.fixed import Q8_8
    from sim.golden import prepare_input, run_golden
    from sim.tb.engine_cases import check_against_golden, check_sc_engine
    from sim.tb.network import run_plan_rtl

    if arith == "sc":
        _, model = check_sc_engine(plan, x, work)
        spikes = [int(s.sum()) for s in model.layer_spikes]
    else:
        rtl = run_plan_rtl(plan, Q8_8.quantize(prepare_input(net, x)), build_dir=work, trace=True)
        golden = run_golden(qnet, x, record=True, progress=False)
        check_against_golden(plan, qnet, rtl, golden)
        spikes = [int(s.sum()) for s in golden.layer_spikes]
    if min(spikes) == 0:
        raise AssertionError(f"a layer never spikes ({spikes} spikes per layer): the check proves little")
    return f"spikes per layer {spikes}"


def run_cell(arith: str, op: str, kind: str, encoding: str, out: str, build: bool) -> dict:
    """Plan, RTL check and build of one cell; never raises (the result says what happened)."""
    from hw.build import build as hw_build
    from hw.cores.plan import PlanError, plan_quantized
    from hw.fixed import Q8_8
    from hw.quantize import quantize_network
    from sim.golden import run_golden

    t0 = time.perf_counter()
    name = f"{arith}-{op}-{kind}-{encoding}"
    row = {"arith": arith, "op": op, "kind": kind, "encoding": encoding}
    work = Path(out) / name
    work.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(1).uniform(0, 1, (SAMPLES, 16 if op == "conv2d" else 8))
    for gain in GAINS:   # the first gain at which every layer spikes (Q8.8 golden model)
        net = cell_network(op, kind, encoding, gain=gain)
        try:
            spikes = run_golden(quantize_network(net, Q8_8), x, record=True, progress=False).layer_spikes
        except Exception:   # noqa: BLE001 -- refused below, with the plan's message
            break
        if all(s.sum() > 0 for s in spikes):
            break
    row["gain"] = gain
    try:
        qnet = quantize_network(net, Q8_8)
        if arith == "sc":
            from hw.cores.sc_plan import SCPlan

            plan = SCPlan(qnet, length=SC_LENGTH)
        else:
            plan = plan_quantized(qnet)
    except (PlanError, ValueError) as err:
        row.update(status="refused", why=str(err).splitlines()[0][:160])
        return row
    try:
        row["rtl"] = _rtl_equals_model(arith, plan, qnet, net, x, work / "rtl")
    except Exception as err:   # noqa: BLE001 -- the table reports it
        row.update(status="FAIL", why=f"RTL: {type(err).__name__}: {str(err).splitlines()[0][:200]}",
                   trace=traceback.format_exc()[-2000:])
        return row
    if build:
        path = work / "model.npz"
        net.save(path)
        try:
            rep = hw_build(path, "icebreaker", work / "build", quiet=True, arith=arith,
                           sc_length=SC_LENGTH).report
        except Exception as err:   # noqa: BLE001
            row.update(status="FAIL", why=f"build: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            return row
        row.update(lc=rep["resources"]["lc"]["used"], fmax_mhz=rep["fmax_mhz"], timing_met=rep["timing_met"])
        if not rep["timing_met"]:
            row.update(status="FAIL", why="timing not met")
            return row
    row.update(status="ok", seconds=round(time.perf_counter() - t0, 1))
    return row


def table(rows: list[dict], kinds: list[str]) -> str:
    """Markdown: one row per kind, one column per (arithmetic, op, encoding)."""
    cols = [(a, op, e) for a, op in CELLS for e in ENCODINGS]
    by = {(r["arith"], r["op"], r["kind"], r["encoding"]): r for r in rows}
    head = "| kind | " + " | ".join(f"{a} {op} {e}" for a, op, e in cols) + " |"
    lines = [head, "|---|" + "---|" * len(cols)]
    for kind in kinds:
        cells = []
        for a, op, e in cols:
            r = by.get((a, op, kind, e))
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                cells.append(f"ok {r['lc']} LC {r['fmax_mhz']:.0f} MHz" if "lc" in r else "ok (RTL)")
            elif r["status"] == "refused":
                cells.append("refused")
            else:
                cells.append("**FAIL**")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build/matrix")
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (default 2)")
    parser.add_argument("--kinds", default=",".join(ACCEPTED))
    parser.add_argument("--no-build", action="store_true", help="RTL checks only")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    jobs = [(a, op, k, e) for a, op in CELLS for k in kinds for e in ENCODINGS]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_cell, *job, args.out, not args.no_build) for job in jobs]
        for i, fut in enumerate(futures):
            row = fut.result()
            rows.append(row)
            print(f"[{i + 1}/{len(jobs)}] {row['arith']} {row['op']} {row['kind']} {row['encoding']}: "
                  f"{row['status']} gain {row.get('gain')} {row.get('why', '')}{row.get('rtl', '')} "
                  f"{row.get('lc', '')} LC {row.get('fmax_mhz', '')} MHz", flush=True)
    print()
    print(table(rows, kinds))
    ok = sum(r["status"] == "ok" for r in rows)
    refused = [r for r in rows if r["status"] == "refused"]
    failed = [r for r in rows if r["status"] == "FAIL"]
    print(f"\n{ok} cells {'' if args.no_build else 'built and '}RTL == model, {len(refused)} refused, "
          f"{len(failed)} failed")
    for r in refused:
        print(f"  refused {r['arith']} {r['op']} {r['kind']} {r['encoding']}: {r['why']}")
    for r in failed:
        print(f"  FAILED {r['arith']} {r['op']} {r['kind']} {r['encoding']}: {r['why']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

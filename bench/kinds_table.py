"""Benchmark: build a 64-32-10 network of every neuron kind the engine accepts, one table.

    python bench/kinds_table.py [--board icebreaker] [--out build/kinds] [--kinds lif,if,...]

Each network is 64 inputs -> 32 -> 10 neurons of one kind (the built-in
parameters of ``sw.training.equations.CELL_EQUATIONS``), with seeded random
weights (N(0.2, 1.2 / sqrt(n_in)), so the layers spike), built by ``hw.build``
with the full timing sign-off.  Activity (cycles per inference) comes from the
first 100 digits test images.  Prints, per kind: LCs, DSP, EBR, SPRAM, the
worst path group's Fmax, whether timing was met at the board clock, and
compute-only / end-to-end inferences/s.  A kind that misses timing at the board
clock is rebuilt at the clock the sign-off allows (and the table says so); one that
does not fit is reported with the build's one-line error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.tb.engine_cases import ACCEPTED  # noqa: E402  (the kinds the engine runs)


def kind_network(kind: str, seed: int = 0):
    """A 64-32-10 ``hw.ir.Network`` of ``kind`` neurons with seeded random weights."""
    from hw.ir import Dense, Network, Neuron
    from sw.training.equations import CELL_EQUATIONS

    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(((64, 32), (32, 10))):
        # a recurrent kind cannot be the analog first layer: LIF there, the kind in layer 1
        k = "lif" if (i == 0 and kind == "recurrent_lif") else kind
        e = CELL_EQUATIONS[k]
        w = rng.normal(0.2, 1.2 / np.sqrt(n_in), (n_out, n_in))
        b = rng.normal(0.0, 0.1, n_out)
        rec = rng.normal(0.0, 0.3 / np.sqrt(n_out), (n_out, n_out)) if k == "recurrent_lif" else None
        layers.append(Dense(f"l{i}", w, b, Neuron(k, e.text, e.states, e.inputs, dict(e.params)),
                            recurrent_weight=rec))
    return Network(layers, (64,), timesteps=25, name=f"{kind}-64-32-10")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--out", default="build/kinds")
    parser.add_argument("--kinds", default=",".join(ACCEPTED))
    args = parser.parse_args()

    from hw.build import BuildError, TimingError, build
    from sw.training.data import load_digits_data

    samples = load_digits_data()[1].numpy().astype(np.float64)[:100]
    rows = []
    for kind in args.kinds.split(","):
        out = Path(args.out) / kind
        out.mkdir(parents=True, exist_ok=True)
        path = out / "model.npz"
        kind_network(kind).save(path)
        t0 = time.perf_counter()
        note = ""
        try:
            try:
                r = build(path, args.board, out, quiet=True, activity_samples=samples).report
            except TimingError:
                # what a user does: rebuild at the clock the sign-off allows (its hint)
                missed = json.loads((out / "report.json").read_text())
                clock = math.floor(missed["fmax_mhz"] * 0.97 * 2) / 2
                note = (f"{missed['clock_mhz']:g} MHz missed (worst group {missed['fmax_mhz']} MHz); "
                        f"rebuilt with --clock-mhz {clock:g}")
                print(f"{kind}: {note}", flush=True)
                r = build(path, args.board, out, quiet=True, activity_samples=samples,
                          clock_mhz=clock).report
        except BuildError as err:
            rows.append((kind, None, str(err).splitlines()[0][:90], time.perf_counter() - t0))
            print(f"{kind}: FAILED: {str(err).splitlines()[0]}", flush=True)
            continue
        rows.append((kind, r, note, time.perf_counter() - t0))
        print(f"{kind}: built in {time.perf_counter() - t0:.0f} s", flush=True)

    print(f"\n64-32-10 networks on {args.board}, T=25, activity from 100 digits test images\n")
    print("| kind | LCs | DSP | EBR | SPRAM | Fmax (MHz, worst group) | clock | timing | "
          "inferences/s compute | end to end | build s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for kind, r, err, secs in rows:
        if r is None:
            print(f"| {kind} | | | | | | | failed: {err} | | | {secs:.0f} |")
            continue
        res, tp = r["resources"], r["throughput"]
        print(f"| {kind} | {res['lc']['used']} | {res['dsp']['used']} | {res['ebr']['used']} | "
              f"{res['spram']['used']} | {r['fmax_mhz']} | {r['clock_mhz']} | "
              f"{'met' if r['timing_met'] else 'MISSED'}{' (' + err + ')' if err else ''} | "
              f"{tp['compute']['mean']} | {tp['end_to_end']['mean']} | {secs:.0f} |")
    return 0 if all(r is not None for _, r, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

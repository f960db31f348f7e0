"""Speed of the seed 002 SC example: ``SCDenseLayer`` 128 neurons x 64 inputs, length 2048, ``run(T=500)``.

Runs the layer with the packed full-period LFSR tables (the default) and
with the reference path that generates every stream number by number
(``period_tables=False``), checks that both give identical spike trains, and
prints the times and their ratio.  Times are CPU time of this process
(``time.process_time``), so other load on the machine distorts them less.

    python3 bench/sc_speed.py            # the seed example, T=500
    python3 bench/sc_speed.py --steps 50 # quicker
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sim.sc import SCDenseLayer


def make_layer(period_tables: bool, seed: int = 42) -> SCDenseLayer:
    """The seed 002 layer; inputs and weights drawn from ``default_rng(0)``; noisy neurons so they spike."""
    rng = np.random.default_rng(0)
    x, w = rng.random(64), rng.random(64)
    layer = SCDenseLayer(n_neurons=128, x_inputs=x.tolist(), weight_values=w.tolist(),
                         x_min=0.0, x_max=1.0, w_min=0.0, w_max=1.0, length=2048,
                         y_max=0.1, neuron_params={"noise_std": 0.02, "tau_mem": 20.0,
                                                   "v_threshold": 0.5},
                         base_seed=seed)
    layer._matvec.period_tables = period_tables  # the switch under test
    return layer


def timed_run(period_tables: bool, steps: int) -> tuple[float, np.ndarray]:
    """CPU seconds for construction plus ``run(T=steps)``, and the spike trains."""
    t0 = time.process_time()
    layer = make_layer(period_tables)
    trains = layer.run(T=steps)
    return time.process_time() - t0, trains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500, help="timesteps T (the seed example: 500)")
    args = ap.parse_args()
    fast_s, fast = timed_run(True, args.steps)
    ref_s, ref = timed_run(False, args.steps)
    if not np.array_equal(fast, ref):
        raise SystemExit("spike trains differ between the two paths")
    print(f"SCDenseLayer 128x64, length 2048, T={args.steps}: {int(fast.sum())} spikes, identical on both paths")
    print(f"reference (number by number): {ref_s:8.2f} s CPU")
    print(f"packed period tables:         {fast_s:8.2f} s CPU")
    print(f"speed-up: {ref_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()

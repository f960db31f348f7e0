"""Overhead of ``SpikeProfiler.attach`` on one digits training epoch (goal: < 10 %).

Trains the default digits ``SpikingNet`` (64-128-128-10, T=25, batch 64) and
times ``train_epoch`` plain, with ``attach(model, gradients=False)`` and with
``attach(model)`` (spike, voltage and gradient statistics), interleaving the
variants so machine load affects them alike, and reports the median epoch time
and its ratio to the plain epoch.

    python bench/profiler_overhead.py [--repeats 5] [--device cpu|cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tqdm import tqdm

from sw.profiling import SpikeProfiler
from sw.training import SpikingNet, load_digits_data, make_loaders, train_epoch

T = 25


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_epoch(variant: str, loader, device: torch.device, seed: int) -> tuple[float, float]:
    """(wall, CPU) seconds for one ``train_epoch`` of a fresh model under ``variant``."""
    torch.manual_seed(seed)
    model = SpikingNet(64, 128, 10).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    prof = None
    if variant == "attach":
        prof = SpikeProfiler().attach(model)
    elif variant == "attach, no gradients":
        prof = SpikeProfiler().attach(model, gradients=False)
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    train_epoch(model, loader, opt, T, device=device)
    if prof is not None:
        prof.end_epoch()  # the report is part of the cost
    _sync(device)
    elapsed = time.perf_counter() - start, time.process_time() - cpu_start
    if prof is not None:
        prof.detach()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    loader, _ = make_loaders(*load_digits_data(), batch_size=64, seed=0)
    if device.type == "cuda":  # keep host->device copies out of the comparison
        loader = [(x.to(device), y.to(device)) for x, y in loader]
    variants = ["plain", "attach, no gradients", "attach"]
    time_epoch("plain", loader, device, 0)  # warm-up
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for r in tqdm(range(args.repeats), desc="epochs", unit="round"):
        for v in variants:
            w, c = time_epoch(v, loader, device, r)
            wall[v].append(w)
            cpu[v].append(c)
    print(f"digits SpikingNet 64-128-128-10, T={T}, batch 64, device {device}, "
          f"{args.threads} thread(s), median of {args.repeats} epochs")
    # CPU time is the steadier figure on a shared machine; wall time is what a user waits.
    print(f"{'variant':<24}{'wall s':>9}{'ratio':>8}{'CPU s':>9}{'ratio':>8}")
    for v in variants:
        w, c = statistics.median(wall[v]), statistics.median(cpu[v])
        print(f"{v:<24}{w:>9.3f}{w / statistics.median(wall['plain']):>8.3f}"
              f"{c:>9.3f}{c / statistics.median(cpu['plain']):>8.3f}")
    timing = wall if device.type == "cuda" else cpu
    ratio = statistics.median(timing["attach"]) / statistics.median(timing["plain"])
    kind = "wall" if device.type == "cuda" else "CPU"
    print(f"attach overhead ({kind} time) {(ratio - 1) * 100:.1f}% (goal < 10%): "
          f"{'OK' if ratio < 1.10 else 'ABOVE GOAL'}")

if __name__ == "__main__":
    main()

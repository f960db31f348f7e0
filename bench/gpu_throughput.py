"""Forward+backward time and peak memory vs snnTorch 1.0 and SpikingJelly 2.0, same run.

Workloads (the issue's):
  (a) x (T=500, B=16, 512) -> Linear(512, N) -> LIF, N = 4096 and 16384;
      a Linear alone is timed too (the floor no LIF can beat);
  (b) one training step (forward, backward, Adam) of a 784-512-512-10
      classifier, T=25, B=256, static input repeated over T.

LIF everywhere: beta 0.9 (SpikingJelly tau 10, decay_input=False), threshold
1, subtract reset with detached reset, ATan surrogate.  SpikingJelly runs in
multi-step mode with its automatic backend.

    python bench/gpu_throughput.py                        # CUDA, full sizes
    python bench/gpu_throughput.py --device cpu --quick   # smoke test anywhere
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sw.training import LIFCell, SpikingNet, prepare_input


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _measure(fn: Callable[[], None], dev: torch.device, repeats: int) -> tuple[float, float | None]:
    """Median ms per call and peak extra memory (GiB, CUDA only) of ``fn``."""
    for _ in range(2):
        fn()
    _sync(dev)
    peak = None
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        _sync(dev)
        peak = (torch.cuda.max_memory_allocated(dev) - base) / 2**30
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1e3 * times[len(times) // 2], peak


# -- neuron layers of the three frameworks, all (T, B, N) -> (T, B, N) ------------
def _ours() -> nn.Module:
    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = LIFCell(beta=0.9)

        def forward(self, x):
            return self.lif.forward_sequence(x)[0]

    return Ours()


def _snntorch() -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    class SnnTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = snn.Leaky(beta=0.9, spike_grad=surrogate.atan())

        def forward(self, x):
            mem, out = self.lif.init_leaky(), []
            for t in range(x.shape[0]):
                spk, mem = self.lif(x[t], mem)
                out.append(spk)
            return torch.stack(out)

    return SnnTorch()


def _spikingjelly() -> nn.Module:
    from spikingjelly.activation_based import functional, neuron, surrogate

    class SpikingJelly(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = neuron.LIFNode(tau=10.0, decay_input=False, v_reset=None,
                                      detach_reset=True, surrogate_function=surrogate.ATan(),
                                      step_mode="m")

        def forward(self, x):
            out = self.lif(x)
            functional.reset_net(self)
            return out

    return SpikingJelly()


FRAMEWORKS = {"sw.training": _ours, "snntorch": _snntorch, "spikingjelly": _spikingjelly}


def bench_layer(dev: torch.device, T: int, B: int, sizes: list[int], repeats: int,
                names: list[str]) -> None:
    print(f"(a) x ({T}, {B}, 512) -> Linear(512, N) -> LIF, forward+backward")
    for n in sizes:
        torch.manual_seed(0)
        x = torch.randn(T, B, 512, device=dev) * 0.5
        lin = nn.Linear(512, n, device=dev)
        rows = {}

        def floor():
            lin.zero_grad(set_to_none=True)
            lin(x).sum().backward()

        rows["Linear alone"] = _measure(floor, dev, repeats)
        for name in names:
            neuron = FRAMEWORKS[name]().to(dev)

            def step(neuron=neuron):
                lin.zero_grad(set_to_none=True)
                neuron(lin(x)).sum().backward()

            rows[name] = _measure(step, dev, repeats)
        _print_rows(f"N={n}", rows)


def _classifier(name: str) -> nn.Module:
    if name == "sw.training":
        return SpikingNet(784, 512, 10, n_layers=2)
    sizes = [784, 512, 512, 10]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), FRAMEWORKS[name]()]
    return nn.Sequential(*layers)


def bench_classifier(dev: torch.device, T: int, B: int, repeats: int, names: list[str]) -> None:
    print(f"(b) 784-512-512-10 classifier training step, T={T}, B={B}")
    torch.manual_seed(0)
    x = torch.rand(B, 784, device=dev)
    y = torch.randint(0, 10, (B,), device=dev)
    rows = {}
    for name in names:
        model = _classifier(name).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        if name == "sw.training":
            def forward(model=model):
                return model(prepare_input(model, x, T))[0]
        else:
            def forward(model=model):  # the peers' usual static-input idiom
                return model(x.unsqueeze(0).repeat(T, 1, 1)).sum(0)

        def step(forward=forward, opt=opt):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(forward(), y).backward()
            opt.step()

        rows[name] = _measure(step, dev, repeats)
    _print_rows("", rows)


def _print_rows(label: str, rows: dict[str, tuple[float, float | None]]) -> None:
    ref = rows.get("spikingjelly")
    for name, (ms, mem) in rows.items():
        m = f"{mem:6.2f} GiB" if mem is not None else "   n/a    "
        ratio = ""
        if ref and name != "spikingjelly":
            ratio = f"   time x{ms / ref[0]:.2f}"
            if mem is not None and ref[1]:
                ratio += f", memory x{mem / ref[1]:.2f}"
            ratio += " vs SpikingJelly"
        print(f"  {label:8s} {name:13s} {ms:9.2f} ms  {m}{ratio}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test that runs anywhere")
    p.add_argument("--repeats", type=int, default=None, help="timed repetitions (median reported)")
    p.add_argument("--skip", nargs="*", default=[], choices=["snntorch", "spikingjelly"])
    args = p.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --device cpu (add --quick for a smoke test)")
    if dev.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    names = [n for n in FRAMEWORKS if n not in args.skip]
    for n in names[1:]:
        try:
            FRAMEWORKS[n]()
        except ImportError as exc:
            raise SystemExit(f"{n} is not installed ({exc}); install it or pass --skip {n}")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"device {name}, torch {torch.__version__}{', quick sizes' if args.quick else ''}")
    if args.quick:
        bench_layer(dev, 20, 4, [256], args.repeats or 3, names)
        bench_classifier(dev, 5, 16, args.repeats or 3, names)
    else:
        bench_layer(dev, 500, 16, [4096, 16384], args.repeats or 20, names)
        bench_classifier(dev, 25, 256, args.repeats or 20, names)


if __name__ == "__main__":
    main()

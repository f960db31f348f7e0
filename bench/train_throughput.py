"""Training throughput on digits: this project vs snnTorch vs SpikingJelly, same run.

All three train the same 64-128-10 LIF network (beta 0.9 / tau 10, threshold 1,
subtract reset, ATan surrogate, T=25, batch 64, Adam lr 2e-3, cross-entropy on
output spike counts) on scikit-learn digits for the same number of epochs;
samples/s counts training samples only (no evaluation).  Epochs are
interleaved round-robin (one epoch of each framework in turn) so that a
shared, loaded machine slows all three alike.  Each framework's
own idiomatic fast path is used: snnTorch's step loop, SpikingJelly's
multi-step mode, and here ``train_epoch`` (fused LIF scan + first layer
computed once for the static input).

    python bench/train_throughput.py            # 10 epochs each, 1 thread
    python bench/train_throughput.py --epochs 2 --threads 2
    python bench/train_throughput.py --cells          # fused vs step-by-step, every cell kind
    python bench/train_throughput.py --cells alif adex --reps 50
    python bench/train_throughput.py --sparse         # dense vs gather-add crossovers
    python bench/train_throughput.py --cases [N ...] [OPTIONS]
        # = python bench/train_cases.py [--cases N ...] [OPTIONS]: the five cases against
        # snnTorch, SpikingJelly, Norse and BrainPy in one run, with ratios
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from tqdm.auto import tqdm

from sw.training import SpikingNet, load_digits_data, make_loaders, prepare_input, train_epoch

T, BATCH, LR, HIDDEN = 25, 64, 2e-3, 128


class _Trainer:
    """One framework's model + optimizer; ``epoch()`` trains one pass over ``train``."""

    def __init__(self, model: nn.Module, train, forward):
        self.model, self.train, self.forward = model, train, forward
        self.opt = torch.optim.Adam(model.parameters(), lr=LR)

    def epoch(self) -> None:
        self.model.train()
        for x, y in self.train:
            loss = F.cross_entropy(self.forward(x), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


class _Ours(_Trainer):
    def __init__(self, train):
        super().__init__(SpikingNet(64, HIDDEN, 10, n_layers=1), train, None)

    def epoch(self) -> None:
        train_epoch(self.model, self.train, self.opt, T)

    def predict(self, x):
        return self.model(prepare_input(self.model, x, T))[0]


class _SnnTorchNet(nn.Module):
    def __init__(self):
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        grad = surrogate.atan()
        self.fc1, self.fc2 = nn.Linear(64, HIDDEN), nn.Linear(HIDDEN, 10)
        self.lif1 = snn.Leaky(beta=0.9, spike_grad=grad)
        self.lif2 = snn.Leaky(beta=0.9, spike_grad=grad)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        counts = 0
        for _ in range(T):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            counts = counts + spk2
        return counts


class _SnnTorch(_Trainer):
    def __init__(self, train):
        model = _SnnTorchNet()
        super().__init__(model, train, model)
        self.predict = model


class _SpikingJelly(_Trainer):
    def __init__(self, train):
        from spikingjelly.activation_based import functional, neuron, surrogate

        def lif():
            return neuron.LIFNode(tau=10.0, decay_input=False, v_reset=None, detach_reset=True,
                                  surrogate_function=surrogate.ATan(), step_mode="m")

        net = nn.Sequential(nn.Linear(64, HIDDEN), lif(), nn.Linear(HIDDEN, 10), lif())

        def forward(x):
            out = net(x.unsqueeze(0).repeat(T, 1, 1)).sum(0)
            functional.reset_net(net)
            return out

        super().__init__(net, train, forward)
        self.predict = forward


@torch.no_grad()
def _accuracy(trainer: _Trainer, loader) -> float:
    trainer.model.eval()
    correct = n = 0
    for x, y in loader:
        correct += int((trainer.predict(x).argmax(1) == y).sum())
        n += len(y)
    return correct / n


CELL_KINDS = ("lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "alpha",
              "second_order_lif", "recurrent_lif", "exp_synapse", "leaky_readout")


class _CellNet(nn.Module):
    """64-128-128-10 ``[Linear -> cell]`` net of one cell kind (``exp_synapse``: Linear ->
    ExpSynapse -> LIF; ``leaky_readout``: LIF hidden layers, LeakyReadout output)."""

    def __init__(self, kind: str, sizes=(64, HIDDEN, HIDDEN, 10)):
        from sw.training import CELLS, ExpSynapse, LeakyReadout, LIFCell

        super().__init__()
        self.kind = kind
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        mods = []
        for i, n in enumerate(sizes[1:]):
            if kind == "exp_synapse":
                mods.append(nn.ModuleList([ExpSynapse(tau=5.0), LIFCell()]))
            elif kind == "leaky_readout":
                mods.append(LeakyReadout(beta=0.9) if i == len(sizes) - 2 else LIFCell())
            elif kind == "recurrent_lif":
                mods.append(CELLS[kind](n_neurons=n))
            else:
                mods.append(CELLS[kind]())
        self.cells = nn.ModuleList(mods)

    def forward(self, x):
        """``x (batch, 64)`` static input -> class scores ``(batch, 10)``."""
        h = self.fcs[0](x).unsqueeze(0).expand(T, x.shape[0], -1)  # layer 1 computed once
        self.rate = 0.0
        for i, (fc, cell) in enumerate(zip(self.fcs, self.cells)):
            cur = h if i == 0 else fc(h)
            if isinstance(cell, nn.ModuleList):  # synapse then LIF
                h, _ = cell[1].forward_sequence(cell[0].forward_sequence(cur)[0])
            elif self.kind == "alpha":
                h, _ = cell.forward_sequence((torch.relu(cur), torch.relu(-cur)))
            elif hasattr(cell, "input_names"):
                h, _ = cell.forward_sequence(cur)
            else:  # readout: membrane averaged over time
                return cell.forward_sequence(cur)[0].mean(0)
            if i == 0:
                self.rate = float(h.detach().mean())
        return h.sum(0)


def _cells_mode(args) -> dict[str, float]:
    """Fused scan vs step-by-step autograd, per cell kind, forward+backward (same run)."""
    from sw.training.fused import fused_scans

    reps = 3 if args.quick else args.reps
    kinds = args.cells or CELL_KINDS
    print(f"cells: 64-{HIDDEN}-{HIDDEN}-10, static input (layer 1 once), T={T}, batch {BATCH}, "
          f"forward+backward+Adam step, {reps} step(s) per path, fused / step-by-step "
          f"alternating, {args.threads} thread(s), torch {torch.__version__}")
    print(f"  {'cell':18s} {'fused ms':>9s} {'stepwise ms':>11s} {'speed-up':>8s} {'rate':>5s}")
    ratios: dict[str, float] = {}
    for kind in kinds:
        torch.manual_seed(0)
        net = _CellNet(kind)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        x, y = torch.rand(BATCH, 64), torch.randint(0, 10, (BATCH,))
        secs = {True: 0.0, False: 0.0}
        for r in range(reps + 1):  # the first round warms up
            for fused in (True, False):
                with fused_scans(fused):
                    t0 = time.perf_counter()
                    loss = F.cross_entropy(net(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if r:
                        secs[fused] += time.perf_counter() - t0
        ratios[kind] = secs[False] / secs[True]
        print(f"  {kind:18s} {1e3 * secs[True] / reps:9.2f} {1e3 * secs[False] / reps:11.2f} "
              f"{ratios[kind]:7.2f}x {net.rate:5.2f}", flush=True)
    return ratios


def _sparse_mode(args) -> dict[str, float]:
    """Dense matmul vs the compiled gather-add (``sw.training.sparse_kernels``, the CSR built
    in the timed forward as ``spike_linear`` does) and ``embedding_bag`` (the fallback), on
    binary inputs, by density."""
    from sw.training import sparse_kernels
    from sw.training.sparse import gather_linear, gather_weight_grad

    def median_ms(fn, n):
        fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return 1e3 * sorted(ts)[n // 2]

    compiled = sparse_kernels.available()
    n = 3 if args.quick else 7
    sizes = ((1600, 128, 128), (3200, 512, 512)) if args.quick else (
        (1600, 64, 128), (1600, 128, 128), (1600, 128, 64), (3200, 784, 512), (3200, 512, 512))
    print(f"sparse: x (rows, in) binary at each density, W (out, in); median of {n} ms; "
          f"x = dense / sparse, {args.threads} thread(s); C = sparse_kernels "
          f"({'built' if compiled else 'NOT BUILT: columns show -'}), eb = embedding_bag")
    print(f"  {'rows x in -> out':20s} {'density':>7s} {'fwd dense':>9s} {'C':>6s} {'x':>5s} "
          f"{'eb':>6s} {'x':>5s} {'dW dense':>9s} {'C':>6s} {'x':>5s} {'eb':>6s} {'x':>5s}")
    out: dict[str, float] = {}
    for rows, n_in, n_out in sizes:
        w, g = torch.randn(n_out, n_in), torch.randn(rows, n_out)
        for p in (0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
            x = (torch.rand(rows, n_in) < p).float()
            fd = median_ms(lambda: x @ w.t(), n)
            fe = median_ms(lambda: gather_linear(x, w), n)
            gd = median_ms(lambda: g.t() @ x, n)
            ge = median_ms(lambda: gather_weight_grad(g, x), n)
            if compiled:
                csr = sparse_kernels.to_csr(x)
                fc = median_ms(lambda: sparse_kernels.csr_linear(sparse_kernels.to_csr(x), w, None), n)
                gc = median_ms(lambda: sparse_kernels.csr_weight_grad(g, csr), n)
                out[f"{rows}x{n_in}->{n_out}@{p}:fwd"] = fd / fc
                out[f"{rows}x{n_in}->{n_out}@{p}:dW"] = gd / gc
                cols = [f"{fc:6.2f}", f"{fd / fc:5.2f}", f"{gc:6.2f}", f"{gd / gc:5.2f}"]
            else:
                cols = [f"{'-':>6s}", f"{'-':>5s}"] * 2
            out[f"{rows}x{n_in}->{n_out}@{p}:fwd-eb"] = fd / fe
            print(f"  {f'{rows} x {n_in} -> {n_out}':20s} {p:7.2f} {fd:9.2f} {cols[0]} {cols[1]} "
                  f"{fe:6.2f} {fd / fe:5.2f} {gd:9.2f} {cols[2]} {cols[3]} {ge:6.2f} {gd / ge:5.2f}",
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--cases"]:  # the five-case comparison lives in train_cases.py
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import train_cases

        rest = argv[1:]
        nums = rest[: next((i for i, a in enumerate(rest) if not a.isdigit()), len(rest))]
        return train_cases.main((["--cases", *nums] if nums else []) + rest[len(nums):])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--skip", nargs="*", default=[], choices=["snntorch", "spikingjelly"],
                   help="peers to leave out")
    p.add_argument("--cells", nargs="*", default=None, choices=CELL_KINDS,
                   help="instead of the peers: fused vs step-by-step speed per cell kind "
                        "(all kinds if none named)")
    p.add_argument("--reps", type=int, default=20, help="training steps per path (--cells)")
    p.add_argument("--quick", action="store_true", help="--cells / --sparse: fewer repeats")
    p.add_argument("--sparse", action="store_true",
                   help="instead of the peers: dense matmul vs gather-add crossover by density")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.sparse:
        return _sparse_mode(args)
    if args.cells is not None:
        return _cells_mode(args)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    n = len(X_tr) * args.epochs
    classes = {"sw.training": _Ours, "snntorch": _SnnTorch, "spikingjelly": _SpikingJelly}
    trainers: dict[str, _Trainer] = {}
    tests = {}
    for name, cls in classes.items():
        if name in args.skip:
            continue
        torch.manual_seed(0)
        train, tests[name] = make_loaders(X_tr, X_te, y_tr, y_te, BATCH, seed=0)
        trainers[name] = cls(train)
    print(f"digits 64-{HIDDEN}-10, T={T}, batch {BATCH}, {args.epochs} epoch(s), "
          f"{args.threads} thread(s), torch {torch.__version__}; epochs interleaved "
          "round-robin so all frameworks see the same machine load")
    seconds = dict.fromkeys(trainers, 0.0)
    for _ in tqdm(range(args.epochs), desc="epochs", leave=False):
        for name, tr in trainers.items():
            t0 = time.perf_counter()
            tr.epoch()
            seconds[name] += time.perf_counter() - t0
    rates: dict[str, float] = {}
    for name, tr in trainers.items():
        rates[name] = n / seconds[name]
        print(f"  {name:13s} {rates[name]:9.0f} samples/s   {seconds[name]:7.2f} s   "
              f"val acc {_accuracy(tr, tests[name]):.1%}", flush=True)
    ours = rates["sw.training"]
    for name, r in rates.items():
        if name != "sw.training":
            print(f"  ratio sw.training / {name}: {ours / r:.2f}x")
    return rates


if __name__ == "__main__":
    main()

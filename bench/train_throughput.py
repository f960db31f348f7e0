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


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--skip", nargs="*", default=[], choices=["snntorch", "spikingjelly"],
                   help="peers to leave out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
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

"""sw.export.to_ir: torch model -> hw.ir, checked by running both (torch float64 vs simulate_float)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hw.ir import Conv2d, Dense, IRError, Network
from sim.golden import run_golden, simulate_float
from sw.export import to_ir
from sw.training import (CELLS, CELL_EQUATIONS, ConvSpikingNet, SpikingNet, load_digits_data,
                         make_loaders, save_checkpoint, train_epoch)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits():
    _, X_te, _, y_te = load_digits_data()
    return X_te, y_te


@pytest.fixture(scope="module")
def trained() -> SpikingNet:
    """A digits SpikingNet after one epoch (learned beta/threshold so the export must copy them)."""
    torch.manual_seed(0)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, _ = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=64, seed=0)
    model = SpikingNet(64, 48, 10, n_layers=1, learn_beta=True, learn_threshold=True)
    train_epoch(model, train, torch.optim.Adam(model.parameters(), lr=5e-3), 25)
    return model


def torch_counts(model: nn.Module, x: torch.Tensor, T: int = 25) -> np.ndarray:
    with torch.no_grad():
        counts, _ = model(x.unsqueeze(0).expand(T, *x.shape))
    return counts.numpy().astype(np.int64)


def test_spikingnet_round_trip_identical_spike_counts(trained, digits, tmp_path: Path) -> None:
    x, y = digits
    net = to_ir(trained, timesteps=25)
    assert [type(l) for l in net.layers] == [Dense, Dense]
    assert [l.name for l in net.layers] == ["fcs.0", "fcs.1"]
    for layer, cell, fc in zip(net.layers, trained.lifs, trained.fcs):
        assert layer.neuron.equations == CELL_EQUATIONS["lif"].text
        assert layer.neuron.params == cell.equation_params()
        assert np.array_equal(layer.weight, fc.weight.detach().numpy())
    assert net.layers[0].neuron.params["threshold"] != 1.0  # learned, and copied
    # float64 torch (same weights, widened) == float64 simulation of the IR, spike for spike
    model64 = SpikingNet(**{k: v for k, v in trained.config.items() if k != "surrogate_fn"}).double()
    model64.load_state_dict(trained.state_dict())
    want = torch_counts(model64, x.double())
    got = simulate_float(net, x.numpy())
    assert np.array_equal(got.spike_counts, want)
    assert want.sum() > 1000
    # the saved file gives the same result, and float32 torch agrees on (almost) every sample
    again = simulate_float(Network.load(net.save(tmp_path / "m.npz")), x.numpy())
    assert np.array_equal(again.spike_counts, want)
    f32 = torch_counts(trained, x)
    assert np.mean(np.all(f32 == want, axis=1)) > 0.97
    print(f"\nfloat32 torch vs float64 IR simulation: identical count rows "
          f"{np.mean(np.all(f32 == want, axis=1)):.4f}, accuracy {got.accuracy(y.numpy()):.4f}")


def test_rate_encoded_round_trip(trained, digits) -> None:
    """Pre-encoded spike trains: the torch model and the IR with encoding='rate' agree."""
    x = digits[0][:80].double()
    spikes = (torch.rand((25, *x.shape), generator=torch.Generator().manual_seed(3), dtype=torch.float64) < x)
    spikes = spikes.double()
    model64 = SpikingNet(**{k: v for k, v in trained.config.items() if k != "surrogate_fn"}).double()
    model64.load_state_dict(trained.state_dict())
    with torch.no_grad():
        want = model64(spikes)[0].numpy().astype(np.int64)
    net = to_ir(trained, timesteps=25, encoding="rate")
    got = simulate_float(net, spikes.permute(1, 0, 2).numpy())
    assert np.array_equal(got.spike_counts, want) and want.sum() > 0
    q = run_golden(net, spikes.permute(1, 0, 2).numpy())
    assert np.mean(q.predictions == got.predictions) > 0.9


def test_convspikingnet_round_trip() -> None:
    torch.manual_seed(1)
    model = ConvSpikingNet(n_output=10)
    with torch.no_grad():
        for m in (*model.convs, model.fc):
            m.weight.mul_(3.0)
    net = to_ir(model, timesteps=12)
    assert [type(l) for l in net.layers] == [Conv2d, Conv2d, Dense]
    assert net.layers[0].out_shape == (12, 12, 12) and net.layers[1].out_shape == (32, 4, 4)
    assert net.input_shape == (1, 28, 28) and net.layers[0].pool == 2
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    want = torch_counts(model.double(), x, T=12)
    got = simulate_float(net, x.numpy(), record=True)
    assert np.array_equal(got.spike_counts, want)
    assert all(s.sum() > 0 for s in got.layer_spikes)


class CellNet(nn.Module):
    """A SpikingNet-like model of any cell, stepped in the order ``sim.golden`` defines
    (alpha cells get the currents through the positive / negated-negative weights)."""

    def __init__(self, kind: str, sizes: list[int]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        cls = CELLS[kind]
        self.lifs = nn.ModuleList(cls(b) if kind == "recurrent_lif" else cls() for b in sizes[1:])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        states: list[tuple] = [() for _ in self.lifs]
        counts = 0
        for t in range(x.shape[0]):
            h = x[t]
            for i, (fc, cell) in enumerate(zip(self.fcs, self.lifs)):
                if cell.EQUATIONS.kind == "alpha":
                    w, b = fc.weight, fc.bias
                    ins = (F.linear(h, w.clamp(min=0), b.clamp(min=0)), F.linear(h, (-w).clamp(min=0), (-b).clamp(min=0)))
                else:
                    ins = (fc(h),)
                out = cell(*ins, *states[i])
                h, states[i] = out[0], tuple(out[1:])
            counts = counts + h
        return counts, None


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_every_cell_kind_round_trip(kind: str, digits) -> None:
    torch.manual_seed(2)
    model = CellNet(kind, [64, 24, 6]).double()
    with torch.no_grad():
        for fc in model.fcs:
            fc.weight.mul_(5.0)
    net = to_ir(model, timesteps=10)
    assert net.layers[0].neuron.kind == kind
    assert (net.layers[0].recurrent_weight is not None) == (kind == "recurrent_lif")
    x = digits[0][:40].double()
    want = torch_counts(model, x, T=10)
    got = simulate_float(net, x.numpy(), record=True)
    assert got.layer_spikes[0].sum() > 0
    assert np.array_equal(got.spike_counts, want)
    run_golden(net, x.numpy())  # and the compiler accepts the exported neuron


def test_cli_exports_a_checkpoint(trained, tmp_path: Path, capsys) -> None:
    ckpt = save_checkpoint(trained, tmp_path / "model.pt", val_acc=0.9)
    out = tmp_path / "model.npz"
    proc = subprocess.run([sys.executable, "-m", "sw.export", str(ckpt), "-o", str(out), "--timesteps", "20"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    net = Network.load(out)
    ref = to_ir(trained, timesteps=20)
    assert net.timesteps == 20 and net.metadata["checkpoint"] == "model.pt"
    assert all(np.array_equal(a.weight, b.weight) and a.neuron == b.neuron for a, b in zip(net.layers, ref.layers))
    from sw.export.__main__ import main

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main([str(bad)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.pt")])


def test_to_ir_rejects_what_it_cannot_describe(trained) -> None:
    with pytest.raises(TypeError, match="SpikingNet-like"):
        to_ir(nn.Linear(3, 4))
    wrapped = to_ir(nn.DataParallel(trained))
    assert wrapped.equals(to_ir(trained))
    with pytest.raises(ValueError, match="encoding"):
        to_ir(trained, encoding="morse")
    conv = ConvSpikingNet()
    conv.convs[0] = nn.Conv2d(1, 12, 5, dilation=2)
    with pytest.raises(ValueError, match="dilation"):
        to_ir(conv)
    bad = CellNet("lif", [4, 3])
    bad.lifs[0] = nn.ReLU()
    with pytest.raises(TypeError, match="lifs.0"):
        to_ir(bad)
    nan = CellNet("lif", [4, 3])
    with torch.no_grad():
        nan.fcs[0].weight[0, 0] = float("nan")
    with pytest.raises(IRError) as info:
        to_ir(nan)
    assert info.value.field == "layers[0].weight"

"""``python -m sw.training --cell KIND --encoding ENC``: every neuron kind and encoding trains, and its
``hw.ir`` artifact is faithful (the artifact's float64 simulation equals the torch model run in
float64, spike count for spike count) and runs through the Q8.8 golden model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hw.ir import Conv2d, Dense, Network
from sim.golden import encode_pixels, is_pixels, prepare_input, run_golden, simulate_float
from sw.training import load_checkpoint, load_digits_data
from sw.training.__main__ import main
from sw.training.cells import CELLS
from sw.training.encoders import get_encoder
from sw.training.networks import CELL_KINDS, ConvSpikingNet, SpikingNet, has_beta

T = 8
SHORT = ["--epochs", "1", "--hidden", "12", "--n-layers", "1", "--timesteps", str(T), "--limit", "96",
         "--batch-size", "32", "--lr", "2e-2", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def test_images() -> tuple[torch.Tensor, np.ndarray]:
    _, X_te, _, y_te = load_digits_data()
    return X_te[:24], y_te[:24].numpy()


def _float64_twin(model: torch.nn.Module) -> torch.nn.Module:
    """The trained model rebuilt in float64 (same weights), the reference for simulate_float."""
    cls = type(model)
    twin = cls(**{k: v for k, v in model.config.items() if k != "surrogate_fn"}).double()
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def _train(tmp_path, *argv: str) -> tuple[torch.nn.Module, Network]:
    out = tmp_path / "model.pt"
    assert main([*SHORT, *argv, "--out", str(out)]) == 0
    return load_checkpoint(out), Network.load(out.with_suffix(".npz"))


def test_cli_offers_every_kind() -> None:
    assert set(CELL_KINDS) == set(CELLS) and len(CELL_KINDS) == 10


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_cell_trains_exports_and_runs(kind, tmp_path, test_images, capsys) -> None:
    learn = ["--learn-threshold"] + (["--learn-beta"] if has_beta(kind) else [])
    model, net = _train(tmp_path, "--cell", kind, *learn)
    assert f"({kind} neurons, direct encoding)" in capsys.readouterr().out
    assert model.config["cell"] == kind and net.encoding == "direct" and net.timesteps == T
    assert net.metadata["recipe"]["cell"] == kind
    # the artifact holds the kind's equations and the trained (learned) parameter values
    assert [type(l) for l in net.layers] == [Dense, Dense]
    for layer, cell, fc in zip(net.layers, model.lifs, model.fcs):
        assert type(cell) is CELLS[kind]
        assert layer.neuron.kind == kind and layer.neuron.equations == cell.EQUATIONS.text
        assert tuple(layer.neuron.inputs) == tuple(cell.EQUATIONS.inputs)
        assert layer.neuron.params == pytest.approx(cell.equation_params(), rel=0, abs=0)
        assert layer.neuron.params["threshold"] != 1.0          # learned, and copied
        assert np.array_equal(layer.weight, fc.weight.detach().numpy())
        assert (layer.recurrent_weight is not None) == (kind == "recurrent_lif")
        if kind == "recurrent_lif":
            assert np.array_equal(layer.recurrent_weight, cell.recurrent.weight.detach().numpy())
    if has_beta(kind):
        assert net.layers[0].neuron.params["beta"] != pytest.approx(0.9, abs=1e-6)
    # faithful: the artifact's float64 simulation == the torch model in float64, count for count
    x, y = test_images
    x = x * 4   # strong enough that even lapicque (tau 20 steps, T=8) spikes after one short epoch
    with torch.no_grad():
        want = _float64_twin(model)(x.double().unsqueeze(0).expand(T, *x.shape))[0]
    want = want.numpy().astype(np.int64)
    sim = simulate_float(net, x.numpy(), record=True, progress=False)
    assert np.array_equal(sim.spike_counts, want), kind
    assert sum(int(s.sum()) for s in sim.layer_spikes) > 0     # the comparison is not 0 == 0
    golden = run_golden(net, x.numpy(), progress=False)
    assert golden.spike_counts.shape == (len(x), 10) and golden.spike_counts.min() >= 0
    assert golden.spike_counts.max() <= T


@pytest.mark.parametrize("encoding", ["rate", "latency"])
def test_encoding_trains_and_artifact_takes_spike_trains(encoding, tmp_path, test_images, capsys) -> None:
    model, net = _train(tmp_path, "--encoding", encoding, "--cell", "synaptic")
    assert f"(synaptic neurons, {encoding} encoding)" in capsys.readouterr().out
    assert net.encoding == encoding and net.metadata["recipe"]["encoding"] == encoding
    assert model.checkpoint_extra["encoding"] == encoding
    x, _ = test_images
    trains = get_encoder(encoding, torch.Generator().manual_seed(5))(x.double(), T)  # (T, B, 64)
    assert set(torch.unique(trains).tolist()) <= {0.0, 1.0} and trains.sum() > 0
    if encoding == "latency":
        assert trains.sum(0).max() <= 1                           # at most one spike per input
    with torch.no_grad():
        want = _float64_twin(model)(trains)[0].numpy().astype(np.int64)
    batch_major = trains.permute(1, 0, 2).numpy()                 # sim.golden takes (B, T, n)
    assert prepare_input(net, batch_major).shape == (len(x), T, 64)
    pixels = prepare_input(net, x.numpy())                        # pixels: the on-chip encoder's input
    assert pixels.shape == (len(x), 64) and is_pixels(net, pixels)
    on_chip = encode_pixels(net, x.numpy())
    assert on_chip.shape == (len(x), T, 64) and set(np.unique(on_chip)) <= {0, 1}
    sim = simulate_float(net, batch_major, record=True, progress=False)
    assert np.array_equal(sim.spike_counts, want)
    assert sum(int(s.sum()) for s in sim.layer_spikes) > 0
    assert run_golden(net, batch_major, progress=False).spike_counts.shape == (len(x), 10)


def test_sim_verify_runs_a_rate_trained_artifact(tmp_path, capsys) -> None:
    """sim.verify feeds a rate-trained artifact the digits pixels through the board's encoder
    (hw.encoding): every model column sees the same on-chip spike trains."""
    from sim.verify import main as verify_main

    _train(tmp_path, "--encoding", "rate")
    capsys.readouterr()
    rc = verify_main(["--model", str(tmp_path / "model.npz"), "--rtl-samples", "0",
                      "--samples", "20"])
    out = capsys.readouterr().out
    assert rc in (0, 1)   # runs (1: a 96-sample, 1-epoch model may miss the accuracy goals)
    assert "input encoded on chip: kind rate" in out and "Q8.8 golden                       20" in out


def test_export_cli_keeps_the_trained_encoding(tmp_path, capsys) -> None:
    from sw.export.__main__ import main as export_main

    _train(tmp_path, "--encoding", "latency", "--cell", "if")
    assert export_main([str(tmp_path / "model.pt"), "-o", str(tmp_path / "again.npz")]) == 0
    again = Network.load(tmp_path / "again.npz")
    assert again.encoding == "latency" and again.layers[0].neuron.kind == "if"
    assert export_main([str(tmp_path / "model.pt"), "-o", str(tmp_path / "d.npz"),
                        "--encoding", "direct"]) == 0
    assert Network.load(tmp_path / "d.npz").encoding == "direct"


@pytest.mark.parametrize("kind", ["alpha", "alif"])
def test_conv_model_takes_the_cell(kind) -> None:
    """ConvSpikingNet with another cell: exported, and the artifact equals torch in float64
    (alpha: excitatory and inhibitory currents pooled separately, as sim.golden does)."""
    from sw.export import to_ir

    torch.manual_seed(2)
    model = ConvSpikingNet(10, cell=kind).double()
    with torch.no_grad():
        for m in (*model.convs, model.fc):
            m.weight.mul_(3.0)
    net = to_ir(model, timesteps=6)
    assert [type(l) for l in net.layers] == [Conv2d, Conv2d, Dense]
    assert {l.neuron.kind for l in net.layers} == {kind}
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        want = model(x.unsqueeze(0).expand(6, *x.shape))[0].numpy().astype(np.int64)
    sim = simulate_float(net, x.numpy(), record=True, progress=False)
    assert np.array_equal(sim.spike_counts, want)
    assert sum(int(s.sum()) for s in sim.layer_spikes) > 0


def test_cli_conv_with_a_cell(tmp_path) -> None:
    from .test_data import _fake_mnist

    _fake_mnist(tmp_path, n_train=16, n_test=4)
    out = tmp_path / "c.pt"
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--model", "conv", "--cell", "alif",
                 "--encoding", "rate", "--epochs", "1", "--timesteps", "2", "--threads", "1",
                 "--no-progress", "--out", str(out)]) == 0
    net = Network.load(out.with_suffix(".npz"))
    assert [l.neuron.kind for l in net.layers] == ["alif"] * 3 and net.encoding == "rate"
    dense = tmp_path / "d.pt"                        # dense net on 28x28 images, rate encoded
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--encoding", "rate", "--hidden", "8",
                 "--epochs", "1", "--timesteps", "2", "--threads", "1", "--no-progress",
                 "--out", str(dense)]) == 0
    assert Network.load(dense.with_suffix(".npz")).input_shape == (784,)


def test_cli_errors_before_training(tmp_path, capsys) -> None:
    cases = [
        (["--dataset", "mnist", "--data-dir", str(tmp_path), "--model", "conv", "--cell", "recurrent_lif"],
         "--cell recurrent_lif is dense only"),
        (["--cell", "if", "--beta", "0.5"], "--beta: the if cell has no membrane decay beta"),
        (["--cell", "lapicque", "--learn-beta"], "--learn-beta: the lapicque cell has no membrane decay"),
        (["--limit", "0"], "--limit must be >= 1"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "m.pt")]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, (argv, err)
    for argv, message in ((["--cell", "hodgkin_huxley"], "invalid choice: 'hodgkin_huxley'"),
                          (["--encoding", "morse"], "invalid choice: 'morse'")):
        with pytest.raises(SystemExit) as info:
            main([*argv, "--out", str(tmp_path / "m.pt")])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "m.pt").exists()


def test_library_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(ValueError, match="unknown cell kind"):
        SpikingNet(4, 3, 2, cell="hodgkin_huxley")
    with pytest.raises(ValueError, match="no beta to learn"):
        SpikingNet(4, 3, 2, cell="if", learn_beta=True)
    with pytest.raises(ValueError, match="not available for conv layers"):
        ConvSpikingNet(10, cell="recurrent_lif")
    with pytest.raises(ValueError, match="unknown encoding"):
        get_encoder("morse")
    assert get_encoder("direct") is None

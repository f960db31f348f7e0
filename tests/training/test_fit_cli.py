"""``fit`` (callback, early stop, Ctrl-C keeps the last finished epoch) and the CLI."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from sw.training import SpikingNet, fit, load_checkpoint, membrane_loss, spike_rate_loss
from sw.training.__main__ import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _toy(n=64):
    torch.manual_seed(0)
    X = torch.rand(n, 10)
    y = (X[:, 0] > 0.5).long()
    return DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)


class _InterruptingLoader:
    """Yields the real batches, but raises KeyboardInterrupt midway through epoch ``at``."""

    def __init__(self, loader, at):
        self.loader, self.at, self.epoch = loader, at, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.loader):
            if self.epoch == self.at and i == 2:
                raise KeyboardInterrupt
            yield batch


def test_fit_ctrl_c_keeps_last_finished_epoch(tmp_path):
    model = SpikingNet(10, 8, 2, n_layers=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = _InterruptingLoader(_toy(), at=3)
    res = fit(model, loader, opt, 5, epochs=5, checkpoint_path=tmp_path / "m.pt", progress=False)
    assert res.interrupted and len(res.history) == 2
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.checkpoint_extra["epoch"] == 2
    assert len(back.checkpoint_extra["history"]) == 2


def test_fit_callback_records_and_can_stop():
    model = SpikingNet(10, 8, 2, n_layers=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seen = []

    def cb(rec):
        seen.append(rec)
        return rec["epoch"] < 2

    res = fit(model, _toy(), opt, 5, epochs=6, val_loader=_toy(32), callback=cb, progress=False)
    assert res.stopped and len(seen) == 2
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"} <= set(seen[0])


@pytest.mark.parametrize("loss", [membrane_loss, spike_rate_loss])
def test_other_losses_train(loss):
    model = SpikingNet(10, 16, 2, n_layers=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    res = fit(model, _toy(256), opt, 8, epochs=4, val_loader=_toy(64), loss_fn=loss, progress=False)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_cli_defaults_match_the_issue():
    a = build_parser().parse_args([])
    assert (a.dataset, a.hidden, a.n_layers, a.timesteps, a.lr, a.batch_size, a.epochs) == \
        ("digits", 128, 2, 25, 2e-3, 64, 10)


def test_cli_short_run_saves_checkpoint(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["--epochs", "1", "--out", str(out), "--no-progress", "--hidden", "32"]) == 0
    text = capsys.readouterr().out
    assert "epoch  1" in text and "final validation accuracy" in text
    model = load_checkpoint(out)
    assert model.config["n_input"] == 64 and model.config["n_layers"] == 2
    assert model.checkpoint_extra["dataset"] == "digits"
    from hw.ir import Network  # the hw.ir artifact written next to the checkpoint
    net = Network.load(out.with_suffix(".npz"))
    assert [l.n_out for l in net.layers] == [32, 32, 10] and net.timesteps == 25
    assert "hardware artifact" in text


def test_cli_help_and_errors(capsys, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sw.training", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--data-dir" in proc.stdout and "runs/digits/model.pt" in proc.stdout
    # every mistake: exit 2, one line on stderr, nothing written (checked before any work)
    cases = [
        (["--dataset", "mnist"], "--dataset mnist needs --data-dir"),
        (["--dataset", "mnist", "--data-dir", str(tmp_path / "nope")], "is not a directory"),
        (["--dataset", "mnist", "--data-dir", str(tmp_path)], "missing train-images-idx3-ubyte"),
        (["--data-dir", str(tmp_path)], "only read with --dataset mnist"),
        (["--epochs", "-3"], "--epochs must be >= 1, got -3"),
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--lr", "-1"], "--lr must be > 0, got -1"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--timesteps", "0"], "--timesteps must be >= 1"),
        (["--hidden", "0"], "--hidden must be >= 1"),
        (["--n-layers", "-1"], "--n-layers must be >= 0"),
        (["--beta", "1.5"], "--beta must be <= 1"),
        (["--max-grad-norm", "0"], "--max-grad-norm must be > 0"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--model", "conv"], "--model conv needs 28x28 images"),
        (["--device", "gpu0"], "is not a torch device"),
        (["--out", str(tmp_path)], "is a directory"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "m.pt")] if "--out" not in argv else argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(SystemExit) as info:                   # argparse's own errors: one line too
        main(["--epochs", "three"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid int value: 'three'" in err and "--help" in err


def test_cli_mnist_from_idx_files(tmp_path, capsys):
    from .test_data import _fake_mnist

    _fake_mnist(tmp_path, n_train=40, n_test=10)
    out = tmp_path / "m.pt"
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--hidden", "16", "--timesteps", "4", "--out", str(out), "--no-progress"]) == 0
    assert load_checkpoint(out).config["n_input"] == 784
    out_c = tmp_path / "c.pt"
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--model", "conv", "--timesteps", "2", "--out", str(out_c), "--no-progress"]) == 0
    assert type(load_checkpoint(out_c)).__name__ == "ConvSpikingNet"
    assert "final validation accuracy" in capsys.readouterr().out


def test_fit_batch_callback_reports_and_stops_mid_epoch(tmp_path):
    model = SpikingNet(10, 8, 2, n_layers=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seen = []

    def on_batch(rec):
        seen.append(rec)
        return not (rec["epoch"] == 2 and rec["batch"] == 1)

    res = fit(model, _toy(), opt, 5, epochs=4, batch_callback=on_batch,
              checkpoint_path=tmp_path / "m.pt", progress=False)
    assert res.stopped and not res.interrupted and len(res.history) == 1
    assert [(r["epoch"], r["batch"]) for r in seen] == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1)]
    assert 0.0 <= seen[0]["accuracy"] <= 1.0 and seen[0]["loss"] > 0
    assert load_checkpoint(tmp_path / "m.pt").checkpoint_extra["epoch"] == 1


@pytest.mark.slow
def test_cli_real_ctrl_c_keeps_checkpoint(tmp_path):
    """SIGINT to a real training process: exit 130, checkpoint of a finished epoch kept."""
    import signal
    import time

    out = tmp_path / "model.pt"
    # A shell that runs this test as a background job ignores SIGINT, and the child would inherit
    # SIG_IGN (Python keeps an inherited SIG_IGN); give the child the default disposition, so Python
    # installs its KeyboardInterrupt handler however the test run was launched.
    proc = subprocess.Popen([sys.executable, "-m", "sw.training", "--epochs", "500", "--out",
                             str(out), "--no-progress", "--threads", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert out.exists(), "no checkpoint appeared"
        proc.send_signal(signal.SIGINT)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, text[-2000:]
    assert "interrupted after" in text
    model = load_checkpoint(out)
    assert model.checkpoint_extra["epoch"] >= 1

"""Accuracy on real data (scikit-learn digits, no download).

Default run: the constructor-default SpikingNet(64, 128, 10) (two hidden
layers) after 4 epochs must reach >= 95 %.  Slow run: the issue's full setup,
10 epochs, >= 97.5 %.
"""

import pytest
import torch

from sw.training import SpikingNet, evaluate, fit, load_digits_data, make_loaders, train_epoch


def _train(epochs: int, n_layers: int = 2, seed: int = 0) -> list[dict]:
    torch.manual_seed(seed)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=64, seed=seed)
    model = SpikingNet(64, 128, 10, n_layers=n_layers)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    return fit(model, train, opt, 25, epochs=epochs, val_loader=test, progress=False).history


def test_digits_short_run_reaches_95_percent():
    torch.manual_seed(0)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=64, seed=0)
    model = SpikingNet(64, 128, 10)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = [train_epoch(model, train, opt, 25)[0] for _ in range(4)]
    _, acc = evaluate(model, test, 25)
    assert acc >= 0.95, (acc, losses)
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_digits_full_run_reaches_97_5_percent():
    hist = _train(10)
    print(f"default SpikingNet(64,128,10) val acc after 10 epochs: {hist[-1]['val_acc']:.2%}")
    assert hist[-1]["val_acc"] >= 0.975, hist


@pytest.mark.slow
def test_digits_hardware_net_full_run():
    """The 64-128-10 net the CLI trains and the hardware builds (one hidden layer)."""
    hist = _train(10, n_layers=1)
    print(f"SpikingNet(64,128,10,n_layers=1) val acc after 10 epochs: {hist[-1]['val_acc']:.2%}")
    assert hist[-1]["val_acc"] >= 0.96, hist

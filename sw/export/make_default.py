"""Regenerate the built-in digits models ``hw/models/digits.npz`` and ``digits-small.npz``.

``python -m sw.export.make_default [--model digits|digits-small] [--seed 0] [--out PATH]``
trains the hardware
digits net exactly as the main training job does -- ``SpikingNet(64, 128, 10)``
(two hidden layers: 64-128-128-10, LIF beta 0.9, atan surrogate), T=25 with the sample
presented every step, Adam lr 2e-3, batch 64, 10 epochs on scikit-learn digits
(``load_digits_data``: 80/20 split, random_state 42) -- exports it with
``sw.export.to_ir`` and records in the metadata the recipe, the float (torch)
validation accuracy and the float64 / Q8.8 golden accuracies on the 360 test
samples.  ``--model digits-small`` trains ``SpikingNet(64, 32, 10, n_layers=1)``
(64-32-10, otherwise the same recipe): the built-in model of boards without SPRAM, where the
64-128-128-10 weights do not fit the block RAM (``boards.Board.default_model``).
``--model digits-tiny`` trains one layer, ``SpikingNet(64, 1, 10, n_layers=0, cell="if")``
(64 -> 10 IF neurons, no hidden layer) on rate-encoded pixels (``--encoding rate``, so the
board encodes on chip and the first layer only adds), 30 epochs at lr 5e-3: the built-in
model of the iCEstick, whose 1280 LCs hold no larger engine.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

SIZES = {"digits": (128, 2), "digits-small": (32, 1), "digits-tiny": (1, 0)}
"""Built-in model name -> (hidden width, hidden layers) of its ``SpikingNet(64, hidden, 10)``."""

VARIANTS = {"digits-tiny": {"cell": "if", "encoding": "rate", "epochs": 30, "lr": 5e-3}}
"""Built-in model name -> where its recipe differs from :data:`RECIPE` (LIF, direct, 10 epochs)."""

RECIPE = {"model": "SpikingNet(64, 128, 10)", "timesteps": 25, "encoding": "direct",
          "optimizer": "Adam", "lr": 2e-3, "batch_size": 64, "epochs": 10,
          "dataset": "sklearn digits /16, train_test_split(test_size=0.2, random_state=42)"}


def make_default(out: Path, seed: int = 0, epochs: int | None = None, progress: bool = True,
                 model_name: str = "digits"):
    """Train, export and save the built-in model ``model_name`` (:data:`SIZES`, :data:`VARIANTS`;
    ``epochs`` ``None``: the recipe's); returns the ``hw.ir.Network`` written."""
    import numpy as np
    import torch
    from hw.fixed import Q8_8
    from sim.golden import run_golden, simulate_float
    from sw.export.to_ir import to_ir
    from sw.training import SpikingNet, evaluate, fit, load_digits_data, make_loaders
    from sw.training.encoders import get_encoder

    torch.manual_seed(seed)
    np.random.seed(seed)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=RECIPE["batch_size"], seed=seed)
    hidden, n_layers = SIZES[model_name]
    variant = VARIANTS.get(model_name, {})
    cell, encoding = variant.get("cell", "lif"), variant.get("encoding", RECIPE["encoding"])
    lr = variant.get("lr", RECIPE["lr"])
    epochs = variant.get("epochs", RECIPE["epochs"]) if epochs is None else epochs
    encoder = get_encoder(encoding)
    model = SpikingNet(64, hidden, 10, n_layers=n_layers, cell=cell)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    T = RECIPE["timesteps"]
    result = fit(model, train, opt, T, epochs=epochs, val_loader=test, progress=progress,
                 encoder=encoder)
    history = [{"epoch": r["epoch"], "loss": round(r["train_loss"], 5),
                "train_acc": round(r["train_acc"], 5), "val_acc": round(r["val_acc"], 5)}
               for r in result.history]
    _, float_acc = evaluate(model, test, T, encoder=encoder)
    sizes = "-".join(str(n) for n in (64, *[hidden] * n_layers, 10))
    net = to_ir(model, timesteps=T, encoding=encoding, name=f"digits-{sizes}")
    x, y = X_te.numpy(), y_te.numpy()
    f64 = simulate_float(net, x, progress=False).accuracy(y)
    q = run_golden(net, x, Q8_8, progress=False).accuracy(y)
    net.metadata.update({
        "float_val_accuracy": float_acc,
        "float64_sim_accuracy": f64,
        "q8_8_golden_accuracy": q,
        "n_test": int(len(y)),
        "recipe": {**RECIPE, "epochs": epochs, "seed": seed, "lr": lr, "encoding": encoding, "cell": cell,
                   "model": f"SpikingNet(64, {hidden}, 10, n_layers={n_layers}, cell={cell!r})"},
        "history": history,
        "made_by": "python -m sw.export.make_default",
        "torch": torch.__version__, "python": platform.python_version(),
    })
    net.save(out)
    return net


def main(argv: list[str] | None = None) -> int:
    from hw.models import MODELS_DIR

    parser = argparse.ArgumentParser(prog="python -m sw.export.make_default", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="torch / shuffling seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the recipe's, 10; digits-tiny 30)")
    parser.add_argument("--model", choices=sorted(SIZES), default="digits",
                        help="which built-in model (default digits: 64-128-128-10)")
    parser.add_argument("--out", type=Path, default=None, help="output file (default hw/models/MODEL.npz)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    out = args.out or MODELS_DIR / f"{args.model}.npz"
    net = make_default(out, seed=args.seed, epochs=args.epochs, model_name=args.model)
    m = net.metadata
    print(net.summary())
    print(f"float (torch) val accuracy {m['float_val_accuracy']:.4f}, float64 sim {m['float64_sim_accuracy']:.4f}, "
          f"Q8.8 golden {m['q8_8_golden_accuracy']:.4f} on {m['n_test']} test samples")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

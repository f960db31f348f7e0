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
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

SIZES = {"digits": (128, 2), "digits-small": (32, 1)}
"""Built-in model name -> (hidden width, hidden layers) of its ``SpikingNet(64, hidden, 10)``."""

RECIPE = {"model": "SpikingNet(64, 128, 10)", "timesteps": 25, "encoding": "direct",
          "optimizer": "Adam", "lr": 2e-3, "batch_size": 64, "epochs": 10,
          "dataset": "sklearn digits /16, train_test_split(test_size=0.2, random_state=42)"}


def make_default(out: Path, seed: int = 0, epochs: int = 10, progress: bool = True,
                 model_name: str = "digits"):
    """Train, export and save the built-in model ``model_name`` (:data:`SIZES`); returns the
    ``hw.ir.Network`` written."""
    import numpy as np
    import torch
    from hw.fixed import Q8_8
    from sim.golden import run_golden, simulate_float
    from sw.export.to_ir import to_ir
    from sw.training import SpikingNet, evaluate, fit, load_digits_data, make_loaders

    torch.manual_seed(seed)
    np.random.seed(seed)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=RECIPE["batch_size"], seed=seed)
    hidden, n_layers = SIZES[model_name]
    model = SpikingNet(64, hidden, 10, n_layers=n_layers)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    T = RECIPE["timesteps"]
    result = fit(model, train, opt, T, epochs=epochs, val_loader=test, progress=progress)
    history = [{"epoch": r["epoch"], "loss": round(r["train_loss"], 5),
                "train_acc": round(r["train_acc"], 5), "val_acc": round(r["val_acc"], 5)}
               for r in result.history]
    _, float_acc = evaluate(model, test, T)
    sizes = "-".join(str(n) for n in (64, *[hidden] * n_layers, 10))
    net = to_ir(model, timesteps=T, encoding="direct", name=f"digits-{sizes}")
    x, y = X_te.numpy(), y_te.numpy()
    f64 = simulate_float(net, x, progress=False).accuracy(y)
    q = run_golden(net, x, Q8_8, progress=False).accuracy(y)
    net.metadata.update({
        "float_val_accuracy": float_acc,
        "float64_sim_accuracy": f64,
        "q8_8_golden_accuracy": q,
        "n_test": int(len(y)),
        "recipe": {**RECIPE, "epochs": epochs, "seed": seed,
                   "model": f"SpikingNet(64, {hidden}, 10, n_layers={n_layers})"},
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
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
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

"""``python -m sw.training``: train a spiking classifier and save its checkpoint.

With no arguments it trains the default network, ``SpikingNet(64, 128, 10)``
(two hidden layers of 128: the net the hardware path builds by default), on
scikit-learn's digits (T=25, Adam lr 2e-3,
batch 64, 10 epochs), prints per-epoch accuracy and the final validation
accuracy, and saves ``runs/digits/model.pt`` (the checkpoint) and
``runs/digits/model.npz`` (the ``hw.ir`` artifact that ``python -m hw.build``
and ``python -m sim.verify`` take).

Examples::

    python -m sw.training
    python -m sw.training --n-layers 1 --out runs/digits1/model.pt
    python -m sw.training --dataset mnist --data-dir ~/data/mnist --epochs 3
    python -m sw.training --dataset mnist --data-dir ~/data/mnist --model conv
    python -m sw.training --cell alif --out runs/alif/model.pt     # any of the 10 neuron kinds
    python -m sw.training --encoding rate --out runs/rate/model.pt  # Poisson spike-train input
    torchrun --nproc_per_node=2 -m sw.training      # DistributedDataParallel (gloo on CPU)

Ctrl-C stops after keeping the checkpoint of the last finished epoch (exit 130).
``--cell KIND`` puts that neuron kind (``lif``, ``if``, ``synaptic``, ``alif``, ``expif``,
``adex``, ``lapicque``, ``alpha``, ``second_order_lif``, ``recurrent_lif``) in every layer;
``--encoding rate|latency`` feeds the training a spike train of every sample (a fresh rate
draw each batch) instead of the sample itself (``direct``).  The artifact records both.

Bad arguments (``--epochs 0``, ``--lr -1``, a missing ``--data-dir`` ...) stop
with one ``error:`` line and exit 2 before anything is loaded or trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from hw.cli import USAGE, ArgumentParser, UsageError, check_number, error

from sw.training.data import load_digits_data, load_mnist_idx, make_loaders
from sw.training.encoders import ENCODINGS, get_encoder
from sw.training.distributed import (cleanup_distributed, init_distributed, is_main_process,
                                     wrap_ddp)
from sw.training.loop import auto_device, fit
from sw.training.losses import membrane_loss, spike_count_loss, spike_rate_loss
from sw.training.networks import (CELL_KINDS, CONV_CELL_KINDS, ConvSpikingNet, SpikingNet,
                                  has_beta)
from sw.training.surrogates import SURROGATES, get_surrogate

LOSSES = {"count": spike_count_loss, "membrane": membrane_loss, "rate": spike_rate_loss}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also used by ``--help``)."""
    p = ArgumentParser(prog="python -m sw.training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                   help="digits: scikit-learn 8x8 digits (built in); mnist: IDX files in --data-dir")
    p.add_argument("--data-dir", type=Path, help="directory holding the four MNIST IDX files")
    p.add_argument("--model", choices=["dense", "conv"], default="dense",
                   help="dense: SpikingNet; conv: ConvSpikingNet (28x28 input, MNIST only)")
    p.add_argument("--hidden", type=int, default=128, help="hidden layer width (default 128)")
    p.add_argument("--n-layers", type=int, default=2,
                   help="hidden layers of SpikingNet (default 2, as SpikingNet's own default; 0: one layer, inputs to classes)")
    p.add_argument("--cell", choices=CELL_KINDS, default="lif", metavar="KIND",
                   help="neuron kind of every layer: " + ", ".join(CELL_KINDS) + " (default lif)")
    p.add_argument("--encoding", choices=ENCODINGS, default="direct",
                   help="input encoding: direct (the sample at every step, default), rate "
                        "(Poisson spike trains), latency (one spike per input, strong ones first)")
    p.add_argument("--beta", type=float, default=None,
                   help="membrane decay of the kinds that have one (default 0.9; if and lapicque "
                        "have none)")
    p.add_argument("--surrogate", default="atan", choices=sorted(SURROGATES),
                   help="surrogate gradient (default atan)")
    p.add_argument("--learn-beta", action="store_true", help="train each layer's beta")
    p.add_argument("--learn-threshold", action="store_true", help="train each layer's threshold")
    p.add_argument("--loss", choices=sorted(LOSSES), default="count",
                   help="count: CE on spike counts (default); membrane; rate: MSE on rates")
    p.add_argument("--timesteps", "-T", type=int, default=25, help="timesteps per sample (25)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size per process (64)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (2e-3)")
    p.add_argument("--max-grad-norm", type=float, default=None, help="clip gradients to this norm")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, ...")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint path (default runs/<dataset>/model.pt)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)  # first N samples (tests)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Reject impossible settings before any work starts; raises :class:`hw.cli.UsageError`."""
    for name, minimum in (("epochs", 1), ("hidden", 1), ("n_layers", 0), ("timesteps", 1),
                          ("batch_size", 1), ("threads", 1), ("limit", 1)):
        check_number("--" + name.replace("_", "-"), getattr(args, name), minimum=minimum)
    check_number("--lr", args.lr, above=0)
    check_number("--max-grad-norm", args.max_grad_norm, above=0)
    check_number("--beta", args.beta, minimum=0, maximum=1)
    if args.dataset == "mnist":
        if args.data_dir is None:
            raise UsageError("--dataset mnist needs --data-dir DIR holding the IDX files "
                             "(train-images-idx3-ubyte, ...); nothing is downloaded")
        if not args.data_dir.is_dir():
            raise UsageError(f"--data-dir {args.data_dir} is not a directory")
    elif args.data_dir is not None:
        raise UsageError("--data-dir is only read with --dataset mnist")
    if args.model == "conv" and args.dataset != "mnist":
        raise UsageError("--model conv needs 28x28 images: use --dataset mnist")
    if args.model == "conv" and args.cell not in CONV_CELL_KINDS:
        raise UsageError(f"--cell {args.cell} is dense only (its recurrent weights have no hw.ir "
                         "conv layer form): use --model dense")
    if not has_beta(args.cell):
        if args.beta is not None:
            raise UsageError(f"--beta: the {args.cell} cell has no membrane decay beta")
        if args.learn_beta:
            raise UsageError(f"--learn-beta: the {args.cell} cell has no membrane decay beta")
    if args.device != "auto":
        try:
            device = torch.device(args.device)
        except (RuntimeError, ValueError):
            raise UsageError(f"--device {args.device!r} is not a torch device (auto, cpu, cuda, mps ...)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"--device {args.device}: CUDA is not available here (use --device cpu)")
    out = args.out or Path("runs") / args.dataset / "model.pt"
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give the checkpoint file (e.g. {out / 'model.pt'})")


def _build_model(args: argparse.Namespace, n_input: int) -> torch.nn.Module:
    sur = get_surrogate(args.surrogate)
    beta = 0.9 if args.beta is None else args.beta
    if args.model == "conv":
        return ConvSpikingNet(10, beta=beta, surrogate_fn=sur, learn_beta=args.learn_beta,
                              learn_threshold=args.learn_threshold, cell=args.cell)
    return SpikingNet(n_input, args.hidden, 10, n_layers=args.n_layers, beta=beta,
                      surrogate_fn=sur, learn_beta=args.learn_beta,
                      learn_threshold=args.learn_threshold, cell=args.cell)


def _sample_encoder(encoding: str, model: torch.nn.Module):
    """``get_encoder(encoding)`` applied to each batch reshaped to the model's sample shape
    (``(batch, 784)`` MNIST images for a dense net, ``(batch, 1, 28, 28)`` for a conv one), so
    the spike trains are ``(T, batch, *input_shape)``; ``None`` for direct encoding."""
    encode = get_encoder(encoding)
    if encode is None:
        return None
    shape = tuple(model.input_shape)
    return lambda x, n_timesteps: encode(x.reshape(x.shape[0], *shape), n_timesteps)


def _export_artifact(model: torch.nn.Module, checkpoint: Path, timesteps: int,
                     args: argparse.Namespace | None = None) -> Path:
    """Save the trained model as a ``hw.ir`` network file next to its checkpoint.

    The artifact's metadata records the recipe (data set, optimiser settings), so e.g.
    ``hw.build`` measures activity on the digits test set for a digits-trained net.
    """
    from sw.export import to_ir  # sw.export builds on sw.training: import late
    from sw.export.make_default import RECIPE

    encoding = "direct" if args is None else args.encoding
    recipe = {"timesteps": timesteps, "encoding": encoding}
    if args is not None:
        recipe.update({"dataset": RECIPE["dataset"] if args.dataset == "digits" else args.dataset,
                       "model": type(model).__name__, "cell": args.cell, "optimizer": "Adam",
                       "lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs,
                       "seed": args.seed})
        if args.limit is not None:
            recipe["limit"] = args.limit
    net = to_ir(model.cpu(), timesteps=timesteps, encoding=encoding, name=checkpoint.parent.name,
                metadata={"recipe": recipe})
    return net.save(checkpoint.with_suffix(".npz"))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
    except UsageError as err:
        return error(str(err), USAGE)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dataset == "mnist":
        try:
            X_tr, X_te, y_tr, y_te = load_mnist_idx(args.data_dir)
        except FileNotFoundError as err:
            return error(str(err), USAGE)
        except ValueError as err:  # a file that is not IDX, or mismatched shapes
            return error(f"{args.data_dir}: {err}")
    else:
        X_tr, X_te, y_tr, y_te = load_digits_data()
    if args.limit is not None:  # a subset (short test runs): the first N of each split
        X_tr, X_te, y_tr, y_te = X_tr[:args.limit], X_te[:args.limit], y_tr[:args.limit], y_te[:args.limit]
    out = args.out or Path("runs") / args.dataset / "model.pt"
    rank, world = init_distributed()
    device = auto_device() if args.device == "auto" else torch.device(args.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    torch.manual_seed(args.seed)
    n_input = int(X_tr[0].numel())
    model = _build_model(args, n_input).to(device)
    model = wrap_ddp(model)
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, args.batch_size, args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    main_proc = is_main_process()
    if main_proc:
        print(f"{type(getattr(model, 'module', model)).__name__} ({args.cell} neurons, "
              f"{args.encoding} encoding) on {args.dataset} "
              f"({len(X_tr)} train / {len(X_te)} validation), T={args.timesteps}, "
              f"device {device}, {world} process(es)", flush=True)

    def report(rec: dict) -> None:
        if main_proc:
            tqdm.write(f"epoch {rec['epoch']:2d}  train loss {rec['train_loss']:.4f} "
                       f"acc {rec['train_acc']:.1%}  val loss {rec['val_loss']:.4f} "
                       f"acc {rec['val_acc']:.1%}  ({rec['seconds']:.1f} s)")

    result = fit(model, train, opt, args.timesteps, epochs=args.epochs, val_loader=test,
                 loss_fn=LOSSES[args.loss], device=device, max_grad_norm=args.max_grad_norm,
                 checkpoint_path=out, callback=report, progress=not args.no_progress,
                 encoder=_sample_encoder(args.encoding, getattr(model, "module", model)),
                 dataset=args.dataset, seed=args.seed,
                 encoding=args.encoding)
    cleanup_distributed()
    if main_proc:
        if result.history:
            print(f"final validation accuracy: {result.final_val_acc:.2%}")
            print(f"checkpoint: {result.checkpoint}")
            artifact = _export_artifact(getattr(model, "module", model), out, args.timesteps, args)
            print(f"hardware artifact (hw.ir): {artifact}")
        if result.interrupted:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

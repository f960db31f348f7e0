"""``python -m sw.export CHECKPOINT -o model.npz``: a training checkpoint -> a ``hw.ir`` network file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw.ir import ENCODINGS, IRError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sw.export",
        description="Convert a checkpoint written by sw.training.save_checkpoint into a hw.ir "
                    "network file (.npz) for the golden model and the hardware build.")
    parser.add_argument("checkpoint", type=Path, help="checkpoint file (.pt)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output .npz (default: the checkpoint name with .npz)")
    parser.add_argument("--timesteps", type=int, default=25, help="steps per sample (default 25)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="direct",
                        help="input encoding (default direct: the sample is presented every step)")
    parser.add_argument("--name", default=None, help="network name (default: the model class)")
    args = parser.parse_args(argv)

    from sw.export.to_ir import to_ir
    from sw.training import load_checkpoint

    if not args.checkpoint.is_file():
        parser.error(f"no such checkpoint: {args.checkpoint}")
    try:
        model = load_checkpoint(args.checkpoint)
        net = to_ir(model, timesteps=args.timesteps, encoding=args.encoding, name=args.name,
                    metadata={"checkpoint": args.checkpoint.name})
    except (ValueError, TypeError, IRError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = net.save(args.output if args.output is not None else args.checkpoint.with_suffix(".npz"))
    print(net.summary())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

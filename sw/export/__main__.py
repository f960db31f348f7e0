"""``python -m sw.export CHECKPOINT -o model.npz``: a training checkpoint -> a ``hw.ir`` network file.

Exit status (``hw.cli``): 0 written, 2 bad arguments or an unreadable checkpoint, 1 the file
could not be written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hw.cli import USAGE, ArgumentParser, UsageError, check_number, error
from hw.ir import ENCODINGS, IRError


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m sw.export",
        description="Convert a checkpoint written by sw.training.save_checkpoint into a hw.ir "
                    "network file (.npz) for the golden model and the hardware build.")
    parser.add_argument("checkpoint", type=Path, help="checkpoint file (.pt)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output .npz (default: the checkpoint name with .npz)")
    parser.add_argument("--timesteps", type=int, default=25, help="steps per sample (default 25)")
    parser.add_argument("--encoding", choices=ENCODINGS, default=None,
                        help="input encoding (default: the one the checkpoint was trained with, "
                             "recorded by python -m sw.training; direct when it records none: the "
                             "sample is presented every step)")
    parser.add_argument("--name", default=None, help="network name (default: the model class)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"no such checkpoint: {args.checkpoint}")      # one line, exit 2
    try:
        check_number("--timesteps", args.timesteps, minimum=1)
        if args.output is not None and args.output.is_dir():
            raise UsageError(f"-o {args.output} is a directory; give the .npz file to write")
    except UsageError as exc:
        return error(str(exc), USAGE)

    from sw.export.to_ir import to_ir
    from sw.training import load_checkpoint

    try:
        model = load_checkpoint(args.checkpoint)
        encoding = args.encoding
        if encoding is None:
            encoding = getattr(model, "checkpoint_extra", {}).get("encoding", "direct")
        net = to_ir(model, timesteps=args.timesteps, encoding=encoding, name=args.name,
                    metadata={"checkpoint": args.checkpoint.name})
    except (ValueError, TypeError, IRError) as exc:
        return error(str(exc), USAGE)
    try:
        out = net.save(args.output if args.output is not None else args.checkpoint.with_suffix(".npz"))
    except OSError as exc:
        return error(f"cannot write the network file: {exc.strerror or exc} ({exc.filename})")
    print(net.summary())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

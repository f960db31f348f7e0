"""``python -m sw.export.nir IN -o OUT``: convert between NIR graphs and ``hw.ir`` files.

``IN.nir -> OUT.npz`` imports (``from_nir``); ``IN.npz -> OUT.nir`` exports (``to_nir``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw.ir import ENCODINGS, IRError, Network

from .errors import NIRExportError
from .exporter import to_nir
from .importer import from_nir
from .neurons import RESETS


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m sw.export.nir", description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path, help="a .nir graph or a .npz hw.ir network")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file: .npz when the input is .nir, .nir when it is .npz")
    parser.add_argument("--timesteps", type=int, help="steps per sample (import; default: "
                                                      "graph metadata or 25)")
    parser.add_argument("--encoding", choices=ENCODINGS, help="input encoding (import)")
    parser.add_argument("--dt", type=float, help="Euler step in seconds (default: graph "
                                                 "metadata or 1e-4)")
    parser.add_argument("--reset", choices=RESETS, help="reset rule (import; default: graph "
                                                        "metadata or subtract)")
    args = parser.parse_args(argv)
    try:
        if args.input.suffix == ".nir":
            net = from_nir(args.input, timesteps=args.timesteps, encoding=args.encoding,
                           dt=args.dt, reset=args.reset)
            written = net.save(args.output)
            kinds = ", ".join(f"{l.name}:{type(l).__name__}/{l.neuron.kind}" for l in net.layers)
            print(f"{args.input} -> {written}: {len(net.layers)} layers ({kinds}), "
                  f"T={net.timesteps}")
        elif args.input.suffix == ".npz":
            net = Network.load(args.input)
            to_nir(net, dt=args.dt if args.dt is not None else 1e-4, path=args.output)
            print(f"{args.input} -> {args.output}: {len(net.layers)} layers")
        else:
            parser.error(f"input must be a .nir or .npz file, got {args.input}")
    except (IRError, NIRExportError, ValueError) as exc:  # IRError covers NIRImportError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

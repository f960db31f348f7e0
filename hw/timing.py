"""``hw.timing``: timing sign-off from nextpnr-ice40's report, on EVERY path group.

nextpnr's "Max frequency for clock 'clk'" covers only paths that start and end
on flip-flops of that clock.  A block whose clock input is tied to a constant
(a combinational SB_MAC16 or RAM) makes nextpnr invent a clock for the constant
net (``$PACKER_GND_NET_$glb_clk``, spending a global buffer on it) and time the
paths into that block and out of it as two separate cross-domain groups, so the
whole path through it is never checked against the clock.  This module reads
nextpnr's ``--report`` JSON (``fmax``, ``critical_paths``) and its log (the
"Max delay A -> B" lines and "Clock 'X' has no interior paths"), and gives one
figure per ``(from edge -> to edge)`` group: worst delay, the Fmax it allows,
the period it must fit in, and whether it does.  Any clock other than the core
clock is a failure of its own (with the explanation above); ``timing_met`` is
the AND over all groups.

>>> t = parse_timing({"fmax": {"clk": {"achieved": 30.0, "constraint": 24.0}}}, "", core_clock="clk",
...                  target_mhz=24.0)
>>> t.timing_met, t.fmax_mhz
(True, 30.0)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PathGroup", "TimingReport", "parse_timing", "load_timing", "dsp_registers", "idle_write_clocks",
           "ASYNC"]

ASYNC = "<async>"
"""nextpnr's name for a path end that is a pin (no clock)."""

_MAX_DELAY = re.compile(r"Max delay\s+(.+?)\s*->\s*(.+?)\s*:\s*([0-9.]+)\s*ns")
_MAX_FREQ = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([0-9.]+)\s*MHz")
_NO_PATHS = re.compile(r"Clock\s+'([^']+)'\s+has no interior paths")


@dataclass
class PathGroup:
    """The worst path from one clock edge (or pin) to another.

    Attributes:
        source, sink: ``"posedge clk"``, ``"negedge clk"`` or ``"<async>"`` (a pin).
        delay_ns: worst path delay (nextpnr's critical path of the group).
        required_ns: the time the group must fit in at the target clock (a period; half of
            one between opposite edges).
        fmax_mhz: the clock the group allows (``1000 / delay`` scaled like ``required_ns``).
        met: ``delay_ns <= required_ns`` and both ends are on the core clock or a pin.
        problem: why the group fails (``None`` when it is met).
        start, end: first and last cell of the critical path (when the report has it).
        sources: the design source lines along the path (``hw/...py:N``), in path order.
        foreign_clock: the clock at one end that is not the core clock (``None``: none).
    """

    source: str
    sink: str
    delay_ns: float
    required_ns: float
    fmax_mhz: float
    met: bool
    problem: str | None = None
    start: str | None = None
    end: str | None = None
    sources: list[str] = field(default_factory=list)
    foreign_clock: str | None = None

    @property
    def name(self) -> str:
        return f"{self.source} -> {self.sink}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["group"] = self.name
        for key in ("delay_ns", "required_ns", "fmax_mhz"):
            d[key] = round(d[key], 3)
        return d


@dataclass
class TimingReport:
    """All path groups of one place-and-route run, judged against the core clock.

    Attributes:
        core_clock: the core clock's net name (``clk``).
        target_mhz: the frequency the design runs at.
        groups: one :class:`PathGroup` per group nextpnr timed.
        foreign_clocks: clocks other than the core clock (each one is a failure).
        problems: failures that are not a single group (a foreign clock with no paths,
            a core clock missing from the report).
        idle_clocks: constant-net clocks that time nothing and clock only the write ports of
            read-only block RAMs (:func:`idle_write_clocks`; not failures).
    """

    core_clock: str
    target_mhz: float
    groups: list[PathGroup]
    foreign_clocks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    idle_clocks: list[str] = field(default_factory=list)

    @property
    def timing_met(self) -> bool:
        return bool(self.groups) and all(g.met for g in self.groups) and not self.problems

    @property
    def fmax_mhz(self) -> float:
        """The highest clock every path group allows (the minimum over groups)."""
        return min((g.fmax_mhz for g in self.groups), default=0.0)

    @property
    def failing(self) -> list[PathGroup]:
        return [g for g in self.groups if not g.met]

    def to_dict(self) -> dict[str, Any]:
        return {"core_clock": self.core_clock, "target_mhz": round(self.target_mhz, 3),
                "fmax_mhz": round(self.fmax_mhz, 2), "timing_met": self.timing_met,
                "groups": [g.to_dict() for g in self.groups],
                "foreign_clocks": list(self.foreign_clocks), "problems": list(self.problems),
                "idle_clocks": list(self.idle_clocks)}

    def table(self) -> str:
        """One line per group: delay, Fmax, required period, verdict."""
        lines = [f"  {'path group':<52} {'delay':>9} {'Fmax':>10} {'needs':>9}"]
        for g in self.groups:
            lines.append(f"  {g.name:<52} {g.delay_ns:>6.2f} ns {g.fmax_mhz:>6.2f} MHz "
                         f"{g.required_ns:>6.2f} ns  {'ok' if g.met else 'FAIL'}")
        return "\n".join(lines)

    def explain(self) -> str:
        """Why sign-off failed, naming each failing group (empty when timing is met)."""
        if self.timing_met:
            return ""
        out = [f"timing sign-off failed at {self.target_mhz:g} MHz "
               f"({1000.0 / self.target_mhz:.2f} ns period on '{self.core_clock}')"]
        explained: set[str] = set()
        for g in self.failing:
            where = ""
            if g.start or g.end:
                where = f"\n      from {g.start} to {g.end}"
            if g.sources:
                where += f"\n      through {', '.join(g.sources[:6])}"
            problem = g.problem
            if g.foreign_clock is not None:
                if g.foreign_clock in explained:
                    problem = f"'{g.foreign_clock}' is not the core clock (see above)"
                explained.add(g.foreign_clock)
            out.append(f"  - {g.name}: {problem}{where}")
        out.extend(f"  - {p}" for p in self.problems)
        return "\n".join(out)


def _clock_of(edge: str) -> str | None:
    """``"posedge clk"`` -> ``"clk"``; ``"<async>"`` -> ``None``."""
    edge = edge.strip()
    if edge == ASYNC:
        return None
    parts = edge.split(None, 1)
    return parts[1] if len(parts) == 2 and parts[0] in ("posedge", "negedge") else edge


def _edge(edge: str) -> str:
    return edge.strip().split(None, 1)[0] if _clock_of(edge) is not None else ""


def _path_info(path: list[dict[str, Any]]) -> tuple[float, str | None, str | None, list[str]]:
    delay = sum(float(step.get("delay", 0.0)) for step in path)
    start = path[0].get("from", {}).get("cell") if path else None
    end = path[-1].get("to", {}).get("cell") if path else None
    sources: list[str] = []
    for step in path:
        for src in step.get("sources", []) or []:
            if "/share/" in src:          # yosys's own techmap files
                continue
            short = src.split("/hw/", 1)[-1] if "/hw/" in src else src
            short = ("hw/" + short) if "/hw/" in src else short
            if short not in sources:
                sources.append(short)
    return delay, start, end, sources


def _is_constant_net(clock: str) -> bool:
    return "PACKER_GND" in clock or "PACKER_VCC" in clock or "$glb_clk" in clock


def _foreign_problem(clock: str) -> str:
    if _is_constant_net(clock):
        return (f"'{clock}' is a constant net used as a clock: some block (SB_MAC16, RAM) has its "
                "clock input tied to a constant, so nextpnr times the paths into it and out of it "
                "separately and never the whole path through it against the core clock; register "
                "that block on the core clock (or keep it out of the design)")
    return (f"'{clock}' is not the core clock: paths between clock domains are not synchronised "
            "by this design, so they must not exist")


def parse_timing(report: dict[str, Any], log: str = "", *, core_clock: str = "clk",
                 target_mhz: float, idle_constant_clocks: bool = False) -> TimingReport:
    """Judge every path group of a nextpnr run.

    Parameters:
        report: nextpnr's ``--report`` JSON (parsed).
        log: nextpnr's log text (the last timing summary in it is used; may be empty).
        core_clock: the net name of the design's clock.
        target_mhz: the frequency the core clock runs at.
        idle_constant_clocks: the netlist's only clock pins tied to a constant are write clocks
            of read-only block RAMs (:func:`idle_write_clocks`): a constant-net clock that is in
            no path group is then no failure (it is listed in ``idle_clocks``).
    """
    if target_mhz <= 0:
        raise ValueError(f"target_mhz must be > 0, got {target_mhz}")
    period = 1000.0 / target_mhz
    fmax = {str(k): float(v.get("achieved", 0.0)) for k, v in (report.get("fmax") or {}).items()}

    # worst delay per group: the report's critical paths, then the log's summary lines
    found: dict[tuple[str, str], tuple[float, str | None, str | None, list[str]]] = {}
    for cp in report.get("critical_paths") or []:
        key = (str(cp.get("from", "")).strip(), str(cp.get("to", "")).strip())
        found[key] = _path_info(cp.get("path") or [])
    # the log repeats the summary (after placement, after routing): the last figure counts
    log_delay = {(a.strip(), b.strip()): float(ns) for a, b, ns in _MAX_DELAY.findall(log)}
    for key, ns in log_delay.items():
        if key not in found or found[key][0] <= 0:
            found[key] = (ns, None, None, [])
    log_fmax = {c: float(f) for c, f in _MAX_FREQ.findall(log)}
    for clk, f in log_fmax.items():
        fmax.setdefault(clk, f)
    for clk, f in fmax.items():  # a clock with its own paths but no critical path listed
        key = (f"posedge {clk}", f"posedge {clk}")
        if key not in found and f > 0 and not any(_clock_of(a) == clk and _clock_of(b) == clk
                                                  for a, b in found):
            found[key] = (1000.0 / f, None, None, [])

    in_paths = {c for a, b in found for c in (_clock_of(a), _clock_of(b)) if c is not None}
    clocks = set(fmax) | set(_NO_PATHS.findall(log)) | in_paths
    idle = sorted(c for c in clocks if idle_constant_clocks and _is_constant_net(c) and c not in in_paths)
    foreign = sorted(c for c in clocks if c != core_clock and c not in idle)

    groups = []
    for (a, b), (delay, start, end, sources) in found.items():
        ca, cb = _clock_of(a), _clock_of(b)
        half = ca is not None and cb is not None and _edge(a) != _edge(b)
        required = period / 2 if half else period
        if ca == cb and ca is not None and ca in fmax and fmax[ca] > 0 and not half:
            allowed = fmax[ca]               # nextpnr's own figure (includes clock skew)
        else:
            allowed = (500.0 if half else 1000.0) / delay if delay > 0 else float("inf")
        bad = [c for c in (ca, cb) if c is not None and c != core_clock]
        if bad:
            problem = _foreign_problem(bad[0])
        elif allowed < target_mhz - 1e-9:
            problem = (f"worst path {delay:.2f} ns > {required:.2f} ns allowed: "
                       f"Fmax {allowed:.2f} MHz < {target_mhz:g} MHz")
        else:
            problem = None
        groups.append(PathGroup(a, b, delay, required, allowed, problem is None, problem,
                                start, end, sources, bad[0] if bad else None))
    groups.sort(key=lambda g: (g.met, -g.delay_ns))

    problems = []
    for c in foreign:   # one group per path of ``found``: its clocks are ``in_paths``
        if c not in in_paths:
            problems.append(_foreign_problem(c))
    if core_clock not in clocks:
        problems.append(f"the core clock '{core_clock}' is not in nextpnr's report "
                        f"(clocks: {', '.join(sorted(clocks)) or 'none'})")
    return TimingReport(core_clock, float(target_mhz), groups, foreign, problems, idle)


def load_timing(build_dir: str | Path, *, core_clock: str = "clk", target_mhz: float,
                report: str = "pnr_report.json", log: str = "pnr.log",
                netlist_file: str = "snn_top.json") -> TimingReport:
    """:func:`parse_timing` on the files nextpnr wrote into ``build_dir`` (and yosys's netlist
    ``netlist_file``, for :func:`idle_write_clocks`)."""
    build_dir = Path(build_dir)
    data = json.loads((build_dir / report).read_text())
    log_path = build_dir / log
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    netlist = build_dir / netlist_file
    idle = netlist.exists() and idle_write_clocks(json.loads(netlist.read_text()))
    return parse_timing(data, text, core_clock=core_clock, target_mhz=target_mhz, idle_constant_clocks=idle)


CLOCK_PINS = {"SB_RAM40_4K": ("RCLK", "WCLK"), "SB_RAM40_4KNR": ("RCLKN", "WCLK"),
              "SB_RAM40_4KNW": ("RCLK", "WCLKN"), "SB_RAM40_4KNRNW": ("RCLKN", "WCLKN"),
              "SB_MAC16": ("CLK",), "SB_SPRAM256KA": ("CLOCK",)}
"""Clock pins of the iCE40 hard blocks (flip-flops: ``C``)."""


def idle_write_clocks(netlist: dict[str, Any]) -> bool:
    """Whether a yosys JSON netlist's clock pins tied to a constant (at least one) are all write
    clocks of block RAMs whose write clock enable is tied to 0: read-only RAMs (ROMs), which
    yosys builds for a memory without a write port.  nextpnr gives that constant net a clock
    of its own with nothing to time on it."""
    tied = []
    for mod in netlist.get("modules", {}).values():
        for info in mod.get("cells", {}).values():
            kind, conn = info.get("type", ""), info.get("connections", {})
            pins = CLOCK_PINS.get(kind, ("C",) if kind.startswith("SB_DFF") else ())
            for pin in pins:
                bits = conn.get(pin, [])
                if bits and all(isinstance(b, str) for b in bits):
                    enable = conn.get("WCLKE", [])
                    tied.append(pin.startswith("WCLK") and bool(enable) and all(b == "0" for b in enable))
    return bool(tied) and all(tied)


REGISTERED_OUTPUTS = frozenset({"SB_RAM40_4K", "SB_SPRAM256KA", "const"})
"""Cell types besides the rising-edge flip-flops (``SB_DFF*``, not ``SB_DFFN*``) whose outputs
are registers on the clock (block RAM and SPRAM read data), and constant bits: an operand
driven only by these starts a register-to-DSP path."""


def operand_registered(dsp: dict[str, Any], operand: str) -> bool:
    """Whether ``operand`` (``"a"`` or ``"b"``) of a :func:`dsp_registers` entry comes from a
    register: the DSP's own input register, or only registered drivers outside it."""
    return dsp[f"{operand}_reg"] or all(
        t in REGISTERED_OUTPUTS or (t.startswith("SB_DFF") and not t.startswith("SB_DFFN"))
        for t in dsp[f"{operand}_from"])


def dsp_registers(netlist: dict[str, Any], top: str | None = None) -> list[dict[str, Any]]:
    """Every SB_MAC16 of a yosys JSON netlist: its clock net and which registers it uses.

    Returns one dict per cell: ``cell``, ``clock`` (net name, or the constant ``"0"``/``"1"``),
    ``a_reg``, ``b_reg`` (inputs registered) and ``out_reg`` (product registered inside:
    the 8x8/16x16 pipeline registers or the accumulator output register), and ``a_from``,
    ``b_from``: the cell types that drive the operand's bits (``"const"`` for tied bits).
    An operand that is not registered inside is still register-to-register when all its
    drivers are in :data:`REGISTERED_OUTPUTS` (yosys leaves a register outside the DSP when
    other logic reads it too).
    """
    modules = netlist.get("modules", {})
    names = [top] if top else [n for n, m in modules.items() if m.get("attributes", {}).get("top")]
    out = []
    for name in names or list(modules):
        mod = modules[name]
        net_of: dict[Any, str] = {}
        for net, info in mod.get("netnames", {}).items():
            for bit in info.get("bits", []):
                if isinstance(bit, str):        # a constant bit ("0", "1", "x")
                    continue
                if net_of.get(bit) is None or net.count(".") < net_of[bit].count("."):
                    net_of[bit] = net
        driver: dict[Any, str] = {}
        for info in mod.get("cells", {}).values():
            for port, bits in info.get("connections", {}).items():
                if info.get("port_directions", {}).get(port) == "output":
                    for bit in bits:
                        driver[bit] = info.get("type", "?")

        def sources(bits: list[Any]) -> list[str]:
            return sorted({"const" if isinstance(b, str) else driver.get(b, "port") for b in bits})

        for cell, info in mod.get("cells", {}).items():
            if info.get("type") != "SB_MAC16":
                continue
            p = {k: int(str(v), 2) if set(str(v)) <= {"0", "1"} else v
                 for k, v in info.get("parameters", {}).items()}
            clk = info.get("connections", {}).get("CLK", ["0"])[0]
            out.append({
                "cell": cell, "clock": clk if isinstance(clk, str) else net_of.get(clk, str(clk)),
                "a_reg": bool(p.get("A_REG", 0)), "b_reg": bool(p.get("B_REG", 0)),
                "a_from": sources(info.get("connections", {}).get("A", [])),
                "b_from": sources(info.get("connections", {}).get("B", [])),
                "out_reg": bool(p.get("PIPELINE_16x16_MULT_REG1", 0) or p.get("PIPELINE_16x16_MULT_REG2", 0)
                                or p.get("TOPOUTPUT_SELECT", 0) == 1 or p.get("BOTOUTPUT_SELECT", 0) == 1),
            })
    return out

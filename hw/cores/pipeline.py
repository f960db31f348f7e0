"""``hw.cores.pipeline``: a compiled neuron's datapath cut into pipeline stages.

Golden function: :meth:`hw.compiler.CompiledNeuron.step` (the same operations as
``hw.cores.neuron.NeuronDatapath``, built by its :func:`~hw.cores.neuron.hdl_evaluate`);
only registers are added, so results are bit-identical, ``stages - 1`` cycles later.

The cut: every node gets an estimated delay (carry chains and saturation, in
"levels", :data:`OP_LEVELS`); a node runs in stage ``s`` when its arrival time
(longest path from the inputs) lies in the ``s``-th of ``stages`` equal slices of
the total.  Values that a later stage uses (inputs and intermediate results)
are carried in plain registers, so consecutive neurons can be updated one per
clock.  The timing report names the nets of the critical path
(``hw.timing``); the neuron update is where the engine's longest path was.

``exp`` is one graph operation but about a dozen levels of logic (range reduction, two
ROMs, a partial-product adder tree, saturation), so the pipeline first replaces it by its
parts (:func:`hw.compiler.graph.lower_exp`, ``exp_off`` ... ``exp_fit``, each with its own
delay in :data:`OP_LEVELS`); the cut can then put registers inside ``exp``, and registers
between parts are as wide as the part's values.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from amaranth import Module, Signal, signed

from hw.compiler.exp_pwl import EXP_PARTS, exp_table
from hw.compiler.graph import Node, hdl_width, lower_exp, topo_order
from hw.cores.neuron import hdl_evaluate
from hw.cores.rom import Rom

__all__ = ["OP_LEVELS", "LEVELS_PER_STAGE", "EXP_LEVELS_PER_STAGE", "PipelinedDatapath", "auto_stages", "levels", "stage_of"]

OP_LEVELS: dict[str, float] = {
    "const": 0.0, "var": 0.0,
    "add": 2.0, "sub": 2.0, "neg": 2.0,        # carry chain + saturation
    "mul": 4.0,                                # shift-add tree + rounding + saturation
    "shr": 2.0, "shl": 1.0,
    "min": 1.5, "max": 1.5, "cmp": 1.0,
    "select": 0.5, "mux": 0.5, "and": 0.5, "b2f": 0.5,
    # the parts of exp (it is lowered first): clamp (carry chain, compare, 2 muxes), the ROMs
    # (block RAM address setup: their data comes from the RAM's register, ROM_PARTS), one exact
    # add, saturation; exp_pp (partial products) counts by its terms, see _op_levels
    "exp_off": 3.0, "exp_base": 1.0, "exp_delta": 1.0, "exp_sum": 2.0, "exp_fit": 1.0,
}
"""Estimated delay of each graph operation (relative units; unknown ops count 2)."""

PP_TERM_LEVELS = 2.0
"""Delay of one adder level in an ``exp_pp`` partial-product tree (plus 0.5 for the AND terms)."""


VARIABLE_OPERAND_LEVELS: dict[str, float] = {"cmp": 3.5, "select": 1.5, "mux": 1.5}
"""Delay of ops whose operands are all variables: a comparison against a constant folds into a
few LUTs, one between two variables is a whole carry chain (the ALIF update, ``v > theta``
then ``v - spike * theta``, measured 47 ns in one stage with the constant-operand figures)."""


def _op_levels(node: Node) -> float:
    if node.op == "exp_pp":  # a balanced tree of (hi - lo) partial products (+ the base)
        lo, hi = node.attr
        terms = hi - lo + (len(node.args) == 3)
        return 0.5 + PP_TERM_LEVELS * math.ceil(math.log2(max(terms, 1)))
    if node.op in VARIABLE_OPERAND_LEVELS and all(a.op != "const" for a in node.args if a.kind == "fixed"):
        return VARIABLE_OPERAND_LEVELS[node.op]
    return OP_LEVELS.get(node.op, 2.0)


def _arrival(order: list[Node]) -> dict[int, float]:
    arrival: dict[int, float] = {}
    for node in order:
        start = max((arrival[id(a)] for a in node.args), default=0.0)
        arrival[id(node)] = start + _op_levels(node)
    return arrival


ROM_PARTS = ("exp_base", "exp_delta")
"""The ROM parts of ``exp``: in a cut of 2 or more stages each ends its stage and is a block RAM
(``SB_RAM40_4K``) read port, whose output register is the stage register (no LUTs, no flip-flops)."""


def _has_exp(order: list[Node]) -> bool:
    return any(n.op in EXP_PARTS for n in order)


def _registered_roms(order: list[Node], stage: dict[int, int]) -> set[int]:
    """The ROM parts whose readers are all in later stages (they become block RAM reads)."""
    first_user: dict[int, int] = {}
    for node in order:
        for a in node.args:
            first_user[id(a)] = min(first_user.get(id(a), 1 << 30), stage[id(node)])
    return {id(n) for n in order if n.op in ROM_PARTS and first_user.get(id(n), -1) > stage[id(n)]}


def _budget_cut(order: list[Node], budget: float, roms: bool = True) -> tuple[dict[int, int], int]:
    """Each node in the earliest stage where the path to it inside that stage fits ``budget``.

    ASAP: a node starts in its latest operand's stage and moves to the next one when the
    longest path through operands of that stage would exceed ``budget`` (a node longer than
    ``budget`` gets a stage of its own); with ``roms``, the readers of a ROM part start in the
    stage after it (:data:`ROM_PARTS`).  Earliest placement is optimal node by node, so this
    is the fewest stages for ``budget``.  Returns ``(id(node) -> stage, stages used)``.
    """
    stage: dict[int, int] = {}
    depth: dict[int, float] = {}
    for node in order:
        if node.op in ("const", "var"):
            stage[id(node)], depth[id(node)] = 0, 0.0
            continue
        s = max((stage[id(a)] + (roms and a.op in ROM_PARTS) for a in node.args), default=0)
        d = _op_levels(node) + max((depth[id(a)] for a in node.args if stage[id(a)] == s), default=0.0)
        if d > budget + 1e-9 and d > _op_levels(node):
            s, d = s + 1, _op_levels(node)
        stage[id(node)], depth[id(node)] = s, d
    return stage, max(stage.values(), default=0) + 1


def _stage_depth(order: list[Node], stage: dict[int, int]) -> float:
    """The longest path inside any one stage of the cut ``stage``."""
    depth: dict[int, float] = {}
    for node in order:
        depth[id(node)] = _op_levels(node) + max(
            (depth[id(a)] for a in node.args if stage[id(a)] == stage[id(node)]), default=0.0)
    return max(depth.values(), default=0.0)


def _carried_bits(order: list[Node], stage: dict[int, int], stages: int, width: int) -> int:
    """Register bits of the cut: each value held from its stage to its last reader's (results: the last)."""
    last: dict[int, int] = {}
    for node in order:
        for a in node.args:
            last[id(a)] = max(last.get(id(a), 0), stage[id(node)])
    roms = _registered_roms(order, stage)
    bits = 0
    for node in order:
        if node.op == "const":
            continue
        end = min(last.get(id(node), stages - 1), stages - 1)
        w = 1 if node.kind == "bool" else (node.width or width)
        bits += w * max(0, end - stage[id(node)] - (id(node) in roms))  # a block RAM holds the first
    return bits


def _sink(order: list[Node], stage: dict[int, int], stages: int, budget: float) -> dict[int, int]:
    """Move operations later (within ``budget``) where that holds fewer bits in registers.

    E.g. AdEx's ``rho * w``: computed early, both ``w`` and the product wait for the ``exp``
    chain; computed late, only ``w`` does.  Greedy, operations last to first, until nothing moves.
    """
    stage = dict(stage)
    width = max((n.width for n in order if n.op == "exp_fit" and n.width), default=16)
    users: dict[int, list[Node]] = {}
    for node in order:
        for a in node.args:
            users.setdefault(id(a), []).append(node)
    bits = _carried_bits(order, stage, stages, width)
    moved = True
    while moved:
        moved = False
        for node in reversed(order):
            if node.op in ("const", "var"):
                continue
            latest = min((stage[id(u)] for u in users.get(id(node), [])), default=stages - 1)
            latest -= node.op in ROM_PARTS and id(node) in _registered_roms(order, stage)
            here = stage[id(node)]
            for t in range(latest, here, -1):
                stage[id(node)] = t
                b = _carried_bits(order, stage, stages, width)
                if b < bits and _stage_depth(order, stage) <= budget + 1e-9:
                    bits, here, moved = b, t, True
                    break
            stage[id(node)] = here
    return stage


def _balanced_cut(order: list[Node], stages: int) -> dict[int, int]:
    """The :func:`_budget_cut` with the smallest budget (0.25-level steps) that needs <= ``stages``,
    then :func:`_sink` to hold fewer values in registers.  ROMs end their stage when ``stages``
    allows it (the whole graph in one stage: combinational ROMs)."""
    budget = max((_op_levels(n) for n in order), default=0.0)
    total = sum(_op_levels(n) for n in order)
    roms = stages > 1
    while True:
        stage, used = _budget_cut(order, budget, roms)
        if used <= stages:
            return _sink(order, stage, stages, max(budget, _stage_depth(order, stage)))
        if budget > total:  # the ROM stages alone need more than ``stages``
            roms, budget = False, max((_op_levels(n) for n in order), default=0.0)
            continue
        budget += 0.25


def stage_of(roots: list[Node], stages: int) -> dict[int, int]:
    """``id(node) -> stage`` (0-based) for every node reachable from ``roots``.

    A node whose operands are all earlier never runs before them (arrival times only grow).
    A graph with the parts of ``exp`` (ExpIF, AdEx) gets the balanced cut instead
    (:func:`_balanced_cut`: the smallest per-stage delay that fits in ``stages``); the
    equal slices put a long operation that straddles a slice boundary into the later
    stage, which costs those long graphs up to a third more delay in their worst stage.
    The other graphs keep the equal slices their timing was measured with.
    """
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    order = topo_order(roots)
    if _has_exp(order):
        return _balanced_cut(order, stages)
    arrival = _arrival(order)
    total = max((arrival[id(r)] for r in roots), default=0.0)
    out: dict[int, int] = {}
    for node in order:
        if node.op in ("const", "var") or total == 0:
            s = 0
        else:
            # the slice the node's result falls in (a result exactly on a boundary ends the stage)
            s = min(stages - 1, int((arrival[id(node)] - 1e-9) * stages // total))
        out[id(node)] = max([s] + [out[id(a)] for a in node.args])
    return out


class PipelinedDatapath:
    """Build the datapath of ``neuron`` into a module in ``stages`` pipeline stages.

    Parameters:
        neuron: a ``hw.compiler.CompiledNeuron``.
        stages: pipeline stages (1: purely combinational, like ``NeuronDatapath``).

    Use :meth:`build`: it takes the inputs and states (signed ``fmt.width`` values)
    of stage 0 and returns the new states and the spike, valid ``stages - 1`` cycles later.
    """

    def __init__(self, neuron: Any, stages: int = 2) -> None:
        self.neuron = neuron
        self.stages = int(stages)
        self.roots = _lowered_roots(neuron)
        self.stage = stage_of(self.roots, self.stages)

    @property
    def latency(self) -> int:
        """Clock cycles from the inputs to the outputs."""
        return self.stages - 1

    @property
    def rom_blocks(self) -> int:
        """Block RAMs (``SB_RAM40_4K``) :meth:`build` instantiates for the ROM parts of ``exp``."""
        if self.stages <= 1:
            return 0
        return len(_registered_roms(topo_order(self.roots), self.stage))

    def build(self, m: Module, env: dict[str, Any], prefix: str = "dp") -> tuple[dict[str, Any], Any]:
        """Add the logic to ``m``; ``env`` maps input and state names to values.

        Returns ``({state: new value}, spike)``.
        """
        fmt = self.neuron.fmt
        order = topo_order(self.roots)
        users_stage: dict[int, int] = {}          # latest stage that reads each node
        for node in order:
            for a in node.args:
                users_stage[id(a)] = max(users_stage.get(id(a), 0), self.stage[id(node)])
        for r in self.roots:
            users_stage[id(r)] = self.stages       # results leave after the last stage

        env = dict(env)
        roms = _registered_roms(order, self.stage) if self.stages > 1 else set()
        rewritten: dict[int, Node] = {}           # node -> the node standing for it in this stage
        for s in range(self.stages):
            here = [n for n in order if self.stage[id(n)] == s]
            for n in here:
                if n.op in ("const", "var"):
                    rewritten[id(n)] = n
                else:
                    rewritten[id(n)] = replace(n, args=tuple(rewritten[id(a)] for a in n.args))
            if s == self.stages - 1:
                break
            # values needed after this stage: computed now or carried from before
            live = [n for n in order if self.stage[id(n)] <= s and users_stage.get(id(n), 0) > s
                    and n.op != "const" and id(n) not in roms]
            reads = [n for n in order if self.stage[id(n)] == s and id(n) in roms]
            values = hdl_evaluate(m, [rewritten[id(n)] for n in live] + [rewritten[id(n.args[0])] for n in reads],
                                  env, fmt, prefix=f"{prefix}{s}_")
            for k, (n, v) in enumerate(zip(live, values)):
                name = f"_{prefix}{s}_{k}"
                reg = Signal(signed(hdl_width(n, fmt)) if n.kind == "fixed" else 1, name=f"{prefix}{s}_r{k}")
                m.d.sync += reg.eq(v)
                env[name] = reg
                rewritten[id(n)] = Node("var", kind=n.kind, attr=name, width=n.width)
            for k, (n, d) in enumerate(zip(reads, values[len(live):])):
                # the ROM as a block RAM: its read register is this stage's register
                name = f"_{prefix}{s}_m{k}"
                env[name] = _rom_read(m, n, d, fmt, f"{prefix}{s}_rom{k}")
                rewritten[id(n)] = Node("var", kind=n.kind, attr=name, width=n.width)
        outs = hdl_evaluate(m, [rewritten[id(r)] for r in self.roots], env, fmt,
                            prefix=f"{prefix}{self.stages - 1}_")
        states = dict(zip(self.neuron.states, outs[:-1]))
        return states, outs[-1]


def _rom_read(m: Module, node: Node, d: Any, fmt: Any, name: str) -> Any:
    """A synchronous read of ``node``'s ROM (``exp_base``/``exp_delta``) at offset ``d``: its data, a clock later."""
    table = exp_table(fmt)
    m.submodules[name] = rom = Rom(table.rom(node.op))
    m.d.comb += rom.addr.eq(table.rom_address(d))
    return rom.data


LEVELS_PER_STAGE = 6.0
"""Delay budget of one stage in :data:`OP_LEVELS` units: the LIF update (9.5 levels) measured
about 50 ns in one stage on the UP5K (nextpnr), so 6 levels keep a stage near 30 ns."""

EXP_LEVELS_PER_STAGE = 4.5
"""Stage budget of the graphs with ``exp`` (ExpIF, AdEx), cut by :func:`_balanced_cut`: their
stages are saturating adds and compares of run-time values back to back, slower per level than
the LIF calibration.  Datapath alone on the UP5K (nextpnr, registered in and out): stages of
5-5.5 levels took 35-40 ns (two adds and a compare), 4.5 levels at most 31-32 ns (ExpIF
8 stages 32.0 MHz, AdEx 10 stages 31-32.5 MHz over two seeds), so the 64-32-10 nets keep
margin at the 24 MHz clock."""


def _lowered_roots(neuron: Any) -> list[Node]:
    """The new states and the spike of ``neuron``'s graph, ``exp`` replaced by its parts."""
    roots = [neuron.program.outputs[s] for s in neuron.states] + [neuron.program.spike]
    return lower_exp(roots, neuron.fmt)


def levels(neuron: Any) -> float:
    """Estimated delay of ``neuron``'s whole update (longest path, :data:`OP_LEVELS` units)."""
    roots = _lowered_roots(neuron)
    arrival = _arrival(topo_order(roots))
    return max((arrival[id(r)] for r in roots), default=0.0)


def auto_stages(neuron: Any, per_stage: float | None = None) -> int:
    """Pipeline stages that keep every stage within ``per_stage`` levels (at least 1).

    Without ``exp``: ``ceil(levels / per_stage)``, ``per_stage`` = :data:`LEVELS_PER_STAGE`.
    With ``exp`` (cut by :func:`_balanced_cut`): the stages the budget cut needs at
    ``per_stage`` = :data:`EXP_LEVELS_PER_STAGE` (ExpIF 8, AdEx 10).
    """
    order = topo_order(_lowered_roots(neuron))
    if _has_exp(order):
        return _budget_cut(order, EXP_LEVELS_PER_STAGE if per_stage is None else per_stage)[1]
    per_stage = LEVELS_PER_STAGE if per_stage is None else per_stage
    return max(1, math.ceil(levels(neuron) / per_stage - 1e-9))

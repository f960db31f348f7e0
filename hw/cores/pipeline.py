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
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from amaranth import Module, Signal, signed

from hw.compiler.graph import Node, topo_order
from hw.cores.neuron import hdl_evaluate

__all__ = ["OP_LEVELS", "LEVELS_PER_STAGE", "PipelinedDatapath", "auto_stages", "levels", "stage_of"]

OP_LEVELS: dict[str, float] = {
    "const": 0.0, "var": 0.0,
    "add": 2.0, "sub": 2.0, "neg": 2.0,        # carry chain + saturation
    "mul": 4.0,                                # shift-add tree + rounding + saturation
    "shr": 2.0, "shl": 1.0,
    "min": 1.5, "max": 1.5, "cmp": 1.0,
    "select": 0.5, "mux": 0.5, "and": 0.5, "b2f": 0.5,
    "exp": 4.0,
}
"""Estimated delay of each graph operation (relative units; unknown ops count 2)."""


VARIABLE_OPERAND_LEVELS: dict[str, float] = {"cmp": 3.5, "select": 1.5, "mux": 1.5}
"""Delay of ops whose operands are all variables: a comparison against a constant folds into a
few LUTs, one between two variables is a whole carry chain (the ALIF update, ``v > theta``
then ``v - spike * theta``, measured 47 ns in one stage with the constant-operand figures)."""


def _op_levels(node: Node) -> float:
    if node.op in VARIABLE_OPERAND_LEVELS and all(a.op != "const" for a in node.args if a.kind == "fixed"):
        return VARIABLE_OPERAND_LEVELS[node.op]
    return OP_LEVELS.get(node.op, 2.0)


def _arrival(order: list[Node]) -> dict[int, float]:
    arrival: dict[int, float] = {}
    for node in order:
        start = max((arrival[id(a)] for a in node.args), default=0.0)
        arrival[id(node)] = start + _op_levels(node)
    return arrival


def stage_of(roots: list[Node], stages: int) -> dict[int, int]:
    """``id(node) -> stage`` (0-based) for every node reachable from ``roots``.

    A node whose operands are all earlier never runs before them (arrival times only grow).
    """
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    order = topo_order(roots)
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
        self.roots = [neuron.program.outputs[s] for s in neuron.states] + [neuron.program.spike]
        self.stage = stage_of(self.roots, self.stages)

    @property
    def latency(self) -> int:
        """Clock cycles from the inputs to the outputs."""
        return self.stages - 1

    def build(self, m: Module, env: dict[str, Any], prefix: str = "dp") -> tuple[dict[str, Any], Any]:
        """Add the logic to ``m``; ``env`` maps input and state names to values.

        Returns ``({state: new value}, spike)``.
        """
        fmt, w = self.neuron.fmt, self.neuron.fmt.width
        order = topo_order(self.roots)
        users_stage: dict[int, int] = {}          # latest stage that reads each node
        for node in order:
            for a in node.args:
                users_stage[id(a)] = max(users_stage.get(id(a), 0), self.stage[id(node)])
        for r in self.roots:
            users_stage[id(r)] = self.stages       # results leave after the last stage

        env = dict(env)
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
                    and n.op != "const"]
            values = hdl_evaluate(m, [rewritten[id(n)] for n in live], env, fmt, prefix=f"{prefix}{s}_")
            for k, (n, v) in enumerate(zip(live, values)):
                name = f"_{prefix}{s}_{k}"
                reg = Signal(signed(w) if n.kind == "fixed" else 1, name=f"{prefix}{s}_r{k}")
                m.d.sync += reg.eq(v)
                env[name] = reg
                rewritten[id(n)] = Node("var", kind=n.kind, attr=name)
        outs = hdl_evaluate(m, [rewritten[id(r)] for r in self.roots], env, fmt,
                            prefix=f"{prefix}{self.stages - 1}_")
        states = dict(zip(self.neuron.states, outs[:-1]))
        return states, outs[-1]


LEVELS_PER_STAGE = 6.0
"""Delay budget of one stage in :data:`OP_LEVELS` units: the LIF update (9.5 levels) measured
about 50 ns in one stage on the UP5K (nextpnr), so 6 levels keep a stage near 30 ns."""


def levels(neuron: Any) -> float:
    """Estimated delay of ``neuron``'s whole update (longest path, :data:`OP_LEVELS` units)."""
    roots = [neuron.program.outputs[s] for s in neuron.states] + [neuron.program.spike]
    arrival = _arrival(topo_order(roots))
    return max((arrival[id(r)] for r in roots), default=0.0)


def auto_stages(neuron: Any, per_stage: float = LEVELS_PER_STAGE) -> int:
    """Pipeline stages that keep every stage within ``per_stage`` levels (at least 1)."""
    return max(1, math.ceil(levels(neuron) / per_stage - 1e-9))

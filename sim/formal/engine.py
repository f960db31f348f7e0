"""``sim.formal.engine``: the layer engine always finishes a command within the cycle model.

Two properties, on a small plan (:func:`small_plan`, 4-3-2 LIF by default):

* :class:`LayerHarness` -- one :class:`hw.cores.layer.LayerUnit` with every input free
  (spike list contents and length, weights written through the load port, read ports,
  the timestep ``t``), ``start`` pulsed whenever the previous command is done with any
  command the core issues to that layer (``FIRST`` and ``STEP``; the analog input layer
  also ``PREP``).  Asserted: a ``FIRST`` or ``STEP`` command takes exactly
  :meth:`hw.cores.plan.LayerPlan.command_cycles` cycles (of the item count sampled at
  start) from its start strobe to the core's next start (``done`` + 1), a ``PREP`` at most
  its worst case (every input nonzero), ``done`` never comes unasked, and between commands
  the unit's FSM is in ``IDLE``.  Proved unboundedly by k-induction (``smtbmc yices``,
  ``mode prove``) with a depth above twice the longest command: a window that long that
  keeps the bound must pass through a completed command, after which harness and unit agree.
* :class:`CoreHarness` -- the whole :class:`hw.cores.network.NetworkCore`, free input RAM
  and weight writes, ``start`` whenever idle: ``busy`` lasts at most
  :meth:`hw.cores.plan.NetworkPlan.cycles` (worst case, every neuron spiking).  Bounded
  (``bmc``) over the first inference after power-up (depth = the bound + a few cycles).

Products are cut free (``cutpoint t:$mul``): the control never reads a product, and a
free value is an over-approximation, so a proof with cut products holds for the real ones.

Negative checks (must FAIL): ``stall=True``, the same harness around the unit or core
wrapped in ``EnableInserter`` with a free enable (an engine that can get stuck); ``extra=1``,
a cycle model one cycle too long for ``FIRST``/``STEP`` (the exact count is checked).
"""

from __future__ import annotations

import warnings

import numpy as np
from amaranth import EnableInserter, Module, Signal
from amaranth.hdl import Assert, Assume
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .sby import SbyResult, no_reset, run_sby

__all__ = ["small_plan", "EXACT_MODES", "command_bound", "free_inputs", "LayerHarness", "CoreHarness",
           "check_layer", "check_core"]

CUT_PRODUCTS = "cutpoint -noscopeinfo t:$mul"


def small_plan(sizes: tuple[int, ...] = (4, 3, 2), kind: str = "lif", timesteps: int = 2, seed: int = 0,
               **options):
    """A :class:`hw.cores.plan.NetworkPlan` of random dense ``sizes`` layers of ``kind`` neurons."""
    from hw.compiler import compile_neuron
    from hw.cores.plan import plan_network
    from hw.fixed import Q8_8
    from sim.tb.engine_cases import neuron

    rng = np.random.default_rng(seed)
    weights = [rng.integers(-300, 300, (n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-100, 100, n_out) for n_out in sizes[1:]]
    neurons = [neuron(kind) for _ in weights]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = [compile_neuron(n, Q8_8) for n in neurons]
    return plan_network(weights, biases, neurons, compiled, fmt=Q8_8, timesteps=timesteps, **options)


def _modes(analog: bool) -> dict[str, int]:
    """The command codes of ``hw.cores.layer`` the core issues to a layer of this kind.

    ``hw.cores.network.NetworkCore`` starts every layer with ``FIRST`` (its first step of a
    sample) or ``STEP``, and the analog input layer also with ``PREP``.
    """
    from hw.cores.layer import FIRST, PREP, STEP

    return {"FIRST": FIRST, "STEP": STEP, **({"PREP": PREP} if analog else {})}


EXACT_MODES = ("FIRST", "STEP")
"""Commands whose cycle count :meth:`hw.cores.plan.LayerPlan.command_cycles` gives exactly
(``PREP``'s depends on how many inputs are nonzero: its bound is the worst case)."""


def command_bound(layer, mode: str, items: int) -> int:
    """Cycles from the start strobe of command ``mode`` to the core's next command (the cycle model).

    ``items``: length of the spike list (spike layers); the analog ``PREP`` takes the worst
    case, every input nonzero.  From :meth:`hw.cores.plan.LayerPlan.command_cycles`.
    """
    if mode == "PREP":
        return layer.command_cycles(layer.n_in, prep=True)
    if mode in EXACT_MODES:
        return layer.command_cycles(0 if layer.analog else items)
    raise ValueError(f"unknown layer command {mode!r}")


def _idle_of(module: Module):
    """The ``IDLE`` indicator of the module's FSM named ``fsm`` (the layer unit's control)."""
    fsm = getattr(module, "_generated", {}).get("fsm")
    if fsm is None:
        raise AssertionError("hw.cores.layer.LayerUnit has no FSM named 'fsm' with a state 'IDLE'")
    return fsm.ongoing("IDLE")


def free_inputs(component) -> dict:
    """``In`` ports mirroring every input of ``component``."""
    return {name: In(member.shape) for name, member in component.signature.members.items()
            if member.is_port and member.flow == In}


class LayerHarness(wiring.Component):
    """One ``LayerUnit`` of ``plan`` with free inputs; ``Assert`` the command bound.

    Parameters:
        plan: the network plan; index: the layer.
        stall: wrap the unit in ``EnableInserter`` with a free enable (must FAIL).
        extra: cycles added to the exact commands' bounds, a wrong cycle model (nonzero:
            must FAIL, the commands end sooner).
    """

    def __init__(self, plan, index: int, stall: bool = False, extra: int = 0) -> None:
        from hw.cores.layer import LayerUnit

        self.plan, self.index, self.stall = plan, index, stall
        self.layer = plan.layers[index]
        self.unit = LayerUnit(plan, index)
        self.modes = _modes(self.layer.analog)
        self.bounds = {(v, s): command_bound(self.layer, name, s) + (extra if name in EXACT_MODES else 0)
                       for name, v in self.modes.items() for s in range(self.layer.n_in + 1)}
        self.max_bound = max(self.bounds.values())
        ports = free_inputs(self.unit)
        ports["enable"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        m = Module()
        no_reset(m)
        unit, lp = self.unit, self.layer
        body = unit.elaborate(platform)
        idle = _idle_of(body)
        m.submodules.unit = EnableInserter(self.enable)(body) if self.stall else body

        running = Signal()
        go = Signal()
        m.d.comb += go.eq(self.start & ~running)
        for name in self.signature.members:
            if name == "enable":
                continue
            m.d.comb += getattr(unit, name).eq(go if name == "start" else getattr(self, name))
        m.d.comb += Assume(self.src_count <= lp.n_in)
        with m.If(go):
            m.d.comb += Assume(self.mode.matches(*self.modes.values()))

        c = Signal(range(self.max_bound + 3))
        bound = Signal(range(self.max_bound + 1))
        exact = Signal()
        with m.If(go):
            m.d.sync += [running.eq(1), c.eq(2)]
            with m.Switch(self.mode):
                for name, v in self.modes.items():
                    with m.Case(v):
                        m.d.sync += exact.eq(name in EXACT_MODES)
                        with m.Switch(self.src_count):
                            for s in range(lp.n_in + 1):
                                with m.Case(s):
                                    m.d.sync += bound.eq(self.bounds[(v, s)])
        with m.Elif(running):
            with m.If(c < self.max_bound + 2):
                m.d.sync += c.eq(c + 1)
            with m.If(unit.done):
                m.d.sync += running.eq(0)
        # c counts the cycles from the start strobe to the core's next start (done + 1)
        m.d.comb += [Assert(~running | (c <= bound), "command longer than the cycle model"),
                     Assert(~(running & unit.done & exact) | (c == bound), "command shorter than the cycle model"),
                     Assert(~unit.done | running, "done without a command")]
        m.d.comb += Assert(running | idle, "unit not idle between commands")
        return m


class CoreHarness(wiring.Component):
    """The ``NetworkCore`` of ``plan`` with free inputs; ``Assert`` busy <= ``plan.cycles()``.

    Parameters:
        plan: the network plan.
        stall: wrap the core in ``EnableInserter`` with a free enable (must FAIL).
    """

    def __init__(self, plan, stall: bool = False) -> None:
        from hw.cores.network import NetworkCore

        self.plan, self.stall = plan, stall
        self.core = NetworkCore(plan)
        self.bound = plan.cycles()
        ports = free_inputs(self.core)
        ports["enable"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        m = Module()
        no_reset(m)
        core = self.core
        m.submodules.core = EnableInserter(self.enable)(core) if self.stall else core
        for name in self.signature.members:
            if name != "enable":
                m.d.comb += getattr(core, name).eq(getattr(self, name))
        c = Signal(range(self.bound + 3))
        with m.If(core.busy):
            with m.If(c < self.bound + 2):
                m.d.sync += c.eq(c + 1)
        with m.Else():
            m.d.sync += c.eq(1)   # the start cycle counts: plan.cycles() is start to done
        m.d.comb += Assert(~core.busy | (c <= self.bound), "inference longer than plan.cycles()")
        return m


def check_layer(index: int, *, plan=None, stall: bool = False, extra: int = 0, depth: int | None = None,
                workdir=None, timeout: float = 300.0) -> SbyResult:
    """k-induction proof of the command bound of layer ``index`` (``stall``, ``extra``: must FAIL)."""
    plan = plan or small_plan()
    harness = LayerHarness(plan, index, stall=stall, extra=extra)
    depth = depth or 2 * harness.max_bound + 4
    name = f"layer{index}" + ("_stall" if stall else "") + (f"_extra{extra}" if extra else "")
    return run_sby(name, harness, mode="prove", engine="smtbmc yices", depth=depth,
                   workdir=workdir, timeout=timeout, extra_script=CUT_PRODUCTS)


def check_core(*, plan=None, stall: bool = False, slack: int = 4, workdir=None,
               timeout: float = 300.0) -> SbyResult:
    """Bounded check: the first inference after power-up ends within ``plan.cycles()``."""
    plan = plan or small_plan(timesteps=1)
    harness = CoreHarness(plan, stall=stall)
    name = "core" + ("_stall" if stall else "")
    return run_sby(name, harness, mode="bmc", engine="smtbmc yices", depth=harness.bound + slack,
                   workdir=workdir, timeout=timeout, extra_script=CUT_PRODUCTS)

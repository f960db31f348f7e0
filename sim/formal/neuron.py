"""``sim.formal.neuron``: every neuron datapath equals the saturating reference, for all inputs.

Property (per neuron kind): for ALL values of the operands (free 16-bit signals), every
operation of the datapath that can leave the format's range (``add``, ``sub``, ``neg``,
``mul``, ``shr``, ``shl``, ``exp``), as :func:`hw.cores.neuron.hdl_evaluate` builds it for
:class:`hw.cores.neuron.NeuronDatapath` and every stage of
:class:`hw.cores.pipeline.PipelinedDatapath`, equals :func:`reference_evaluate`:

* the operation is computed exactly in a wide signal (Amaranth widens every sum and
  product; a product is a plain ``*`` where the datapath builds shift-add trees of
  canonical signed digits, ``exp`` is the piecewise-linear formula of
  :mod:`hw.compiler.exp_pwl`'s docstring with a plain multiply where the datapath sums
  partial products), then
* saturated by two comparisons against ``min_raw``/``max_raw`` -- the ``saturate`` rule
  of :meth:`hw.fixed.QFormat.fit` (``np.clip``) written as HDL; the datapath's
  :meth:`~hw.fixed.QFormat.hdl_fit` uses a sign-bit test instead, and that is what is proved.

Rounding is not restated: both sides use :meth:`hw.fixed.QFormat.hdl_shift_round`, the one
definition of the rounding rules (``tests/hw/test_fixed.py`` checks it against the numpy
:meth:`~hw.fixed.QFormat.shift_round`); this check is about overflow.  The other operations
(``min``, ``max``, ``cmp``, ``select``, ``mux``, ``and``, ``b2f``) only pass one of their
operands, 0 or the constant ``fit(one)`` on, so the reference takes them from
:func:`~hw.cores.neuron.hdl_evaluate` itself.  So no state output can wrap: an overflowing
operation gives exactly the saturated value, with its sign.

The reference always saturates, whatever the design's overflow mode: a neuron compiled
with ``overflow="wrap"`` (:func:`check_neuron_ops` with ``mutant_wrap=True``) must fail.

:class:`PipelineHarness`: the pipelined datapath with the engine's stage count
(``hw.cores.pipeline.auto_stages``) equals the single-cycle one ``stages - 1`` cycles later.
Engine: ``smtbmc yices``, ``bmc`` of depth ``stages + 1``.  That is a complete proof: the
datapaths are feed-forward (no register feeds back), so from cycle ``stages - 1`` on every
register holds a function of the last ``stages - 1`` free inputs, and the check at those
cycles ranges over all of them.
"""

from __future__ import annotations

from dataclasses import replace

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.hdl import Array, Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hw.compiler.exp_pwl import EXP_PARTS, exp_table
from hw.compiler.graph import Node, topo_order
from hw.cores.neuron import NeuronDatapath, hdl_evaluate
from hw.cores.pipeline import PipelinedDatapath, auto_stages
from hw.fixed import QFormat

from .sby import SbyResult, no_reset, run_sby

__all__ = ["OVERFLOW_OPS", "reference_evaluate", "NeuronOpsHarness", "PipelineHarness", "check_neuron_ops",
           "check_pipeline", "engine_kinds", "compile_kind"]

OVERFLOW_OPS: tuple[str, ...] = ("add", "sub", "neg", "mul", "shr", "shl", "exp")
"""Operations whose exact result can leave the format's range (each one is checked)."""


def _clamp(x, fmt: QFormat):
    """``QFormat.fit``'s saturate rule (``np.clip(x, min_raw, max_raw)``) by two comparisons."""
    hi, lo = fmt.max_raw, fmt.min_raw
    return Mux(x > hi, hi, Mux(x < lo, lo, x))[:fmt.width].as_signed()


def _exp(x, fmt: QFormat):
    """``fit(base[k] + shift_round(delta[k] * r, seg_shift))`` (``hw.compiler.exp_pwl``)."""
    table = exp_table(fmt)
    lo, hi = table.x_lo, table.x_hi
    d = Mux(x < lo, lo, Mux(x > hi, hi, x)) - lo
    k = d >> table.seg_shift
    r = d & ((1 << table.seg_shift) - 1)
    wide = signed(2 * fmt.width + 2)
    base = Array(Const(v, wide) for v in table.base)[k]
    delta = Array(Const(v, wide) for v in table.delta)[k]
    return _clamp(base + fmt.hdl_shift_round(delta * r, table.seg_shift), fmt)


def _ref_overflow_op(node: Node, v: list, fmt: QFormat):
    op = node.op
    if op == "add":
        return _clamp(v[0] + v[1], fmt)
    if op == "sub":
        return _clamp(v[0] - v[1], fmt)
    if op == "neg":
        return _clamp(-v[0], fmt)
    if op == "mul":
        return _clamp(fmt.hdl_shift_round(v[0] * v[1], fmt.frac_bits), fmt)
    if op == "shr":
        return _clamp(fmt.hdl_shift_round(v[0], node.attr), fmt)
    if op == "shl":
        return _clamp(v[0] << node.attr, fmt)
    assert op == "exp", op
    return _exp(v[0], fmt)


def _shared_op(m: Module, node: Node, v: list, fmt: QFormat, prefix: str):
    """A non-overflowing operation, as :func:`hw.cores.neuron.hdl_evaluate` builds it."""
    names = [f"a{j}" for j in range(len(node.args))]
    args = tuple(a if a.op == "const" else Node("var", (), a.kind, n) for a, n in zip(node.args, names))
    return hdl_evaluate(m, [replace(node, args=args)], dict(zip(names, v)), fmt, prefix=prefix)[0]


def reference_evaluate(m: Module, roots: list[Node], env: dict, fmt: QFormat) -> list:
    """Signals of ``roots`` under the graph semantics, with saturation after every operation.

    ``fmt``'s overflow mode is ignored: the reference always saturates.
    """
    sat = QFormat(fmt.int_bits, fmt.frac_bits, "saturate", fmt.rounding)
    values: dict[int, object] = {}
    for i, node in enumerate(topo_order(roots)):
        v = [values[id(a)] for a in node.args]
        if node.op in EXP_PARTS:
            raise ValueError(f"{node.op}: check the graph before hw.compiler.graph.lower_exp")
        if node.op == "const":
            values[id(node)] = Const(node.attr, signed(fmt.width))
        elif node.op == "var":
            values[id(node)] = env[node.attr]
        elif node.op in OVERFLOW_OPS:
            sig = Signal(signed(fmt.width), name=f"ref{i}_{node.op}")
            m.d.comb += sig.eq(_ref_overflow_op(node, v, sat))
            values[id(node)] = sig
        else:
            values[id(node)] = _shared_op(m, node, v, sat, prefix=f"ref{i}_")
    return [values[id(r)] for r in roots]


def _cut(node: Node, i: int) -> Node:
    """``node`` with every non-constant operand replaced by a free variable ``x<i>_<j>``."""
    args = tuple(a if a.op == "const" else Node("var", (), a.kind, f"x{i}_{j}")
                 for j, a in enumerate(node.args))
    return replace(node, args=args)


def _op_key(node: Node) -> tuple:
    return (node.op, node.kind, node.attr,
            tuple(("const", a.attr) if a.op == "const" else ("var", a.kind) for a in node.args))


class NeuronOpsHarness(wiring.Component):
    """Each operation of ``neuron``'s graph that can overflow, on free operands, against the reference.

    Every distinct such operation (``add``, a product by one constant, ``exp``, ...) is built by
    :func:`hw.cores.neuron.hdl_evaluate` -- the function that builds
    :class:`~hw.cores.neuron.NeuronDatapath` and every stage of
    :class:`~hw.cores.pipeline.PipelinedDatapath`, one node per signal -- with its
    non-constant operands cut free (ports ``x<i>_<j>``), and asserted equal to
    :func:`reference_evaluate` of the same node.  By induction over the graph (each node
    of the datapath is that node's HDL applied to its operands' signals; the reference takes
    the other operations from the same HDL), the whole datapath equals the reference for
    all inputs.

    Parameters:
        neuron: the design (``hw.compiler.CompiledNeuron``).
        ref_fmt: the reference's format (default: the design's, always saturating).
    """

    def __init__(self, neuron, ref_fmt: QFormat | None = None) -> None:
        self.neuron = neuron
        f = neuron.fmt
        self.ref_fmt = ref_fmt or QFormat(f.int_bits, f.frac_bits, "saturate", f.rounding)
        roots = [neuron.program.outputs[s] for s in neuron.states] + [neuron.program.spike]
        seen: dict[tuple, Node] = {}
        for node in topo_order(roots):
            if node.op in OVERFLOW_OPS:
                seen.setdefault(_op_key(node), node)
        self.cuts = [_cut(n, i) for i, n in enumerate(seen.values())]
        ports = {}
        for node in self.cuts:
            for a in node.args:
                if a.op == "var":
                    ports[a.attr] = In(signed(f.width) if a.kind == "fixed" else 1)
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        m = Module()
        no_reset(m)
        env = {name: getattr(self, name) for name in self.signature.members}
        design = hdl_evaluate(m, self.cuts, env, self.neuron.fmt, prefix="dut")
        ref = reference_evaluate(m, self.cuts, env, self.ref_fmt)
        for node, d, r in zip(self.cuts, design, ref):
            m.d.comb += Assert(d == r, f"{node!r}: datapath != saturating reference")
        return m


class PipelineHarness(wiring.Component):
    """:class:`~hw.cores.pipeline.PipelinedDatapath` (the engine's stages) against
    :class:`~hw.cores.neuron.NeuronDatapath` on the inputs of ``latency`` cycles before.

    Parameters:
        neuron: the compiled neuron.
        stages: pipeline stages (default: ``hw.cores.pipeline.auto_stages``, the engine's).
        delay: cycles the reference inputs are delayed (default: the pipeline's latency;
            another value is a deliberately wrong expectation, for the negative check).
    """

    def __init__(self, neuron, stages: int | None = None, delay: int | None = None) -> None:
        self.neuron = neuron
        self.stages = auto_stages(neuron) if stages is None else int(stages)
        self.delay = self.stages - 1 if delay is None else int(delay)
        w = neuron.fmt.width
        names = [f"in_{n}" for n in neuron.inputs] + [f"st_{n}" for n in neuron.states]
        super().__init__({n: In(signed(w)) for n in names})

    def elaborate(self, platform) -> Module:
        nrn, w = self.neuron, self.neuron.fmt.width
        m = Module()
        no_reset(m)
        names = [(n, f"in_{n}") for n in nrn.inputs] + [(n, f"st_{n}") for n in nrn.states]
        env = {n: getattr(self, port) for n, port in names}
        outs, spike = PipelinedDatapath(nrn, self.stages).build(m, env, prefix="pipe")
        m.submodules.dp = dp = NeuronDatapath(nrn)
        for n, port in names:   # the single-cycle datapath sees the inputs `delay` cycles late
            value = getattr(self, port)
            for k in range(self.delay):
                reg = Signal(signed(w), name=f"{port}_d{k + 1}")
                m.d.sync += reg.eq(value)
                value = reg
            m.d.comb += getattr(dp, port).eq(value)
        warm = Signal(range(self.stages + 1), init=0)   # cycles since power-up, saturating
        with m.If(warm != self.stages):
            m.d.sync += warm.eq(warm + 1)
        with m.If(warm >= max(self.delay, self.stages - 1)):
            for s in nrn.states:
                m.d.comb += Assert(outs[s] == getattr(dp, f"out_{s}"), f"pipelined {s} != datapath")
            m.d.comb += Assert(spike == dp.spike, "pipelined spike != datapath")
        return m


def engine_kinds() -> list[str]:
    """Neuron kinds the FPGA engine accepts: every ``hw.ir.NEURON_KINDS`` kind with equations
    (``hw.cores.plan`` runs all of them since alpha and recurrent_lif joined the engine)."""
    from hw.equations import NEURON_EQUATIONS
    from hw.ir import NEURON_KINDS

    return [k for k in NEURON_EQUATIONS if k in NEURON_KINDS]


def compile_kind(kind: str, fmt: QFormat | None = None):
    """The compiled default-parameter neuron of ``kind`` (``hw.compiler.compile_equations``)."""
    import warnings

    from hw.compiler import compile_equations
    from hw.fixed import Q8_8
    from hw.equations import NEURON_EQUATIONS

    eq = NEURON_EQUATIONS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # precision warnings of the default parameters
        return compile_equations(eq.text, states=eq.states, inputs=eq.inputs, params=eq.params,
                                 fmt=fmt or Q8_8, kind=kind)


def check_neuron_ops(kind: str, *, mutant_wrap: bool = False, workdir=None,
                     timeout: float = 300.0) -> SbyResult:
    """Prove every operation of ``kind``'s datapath equals the saturating reference.

    ``mutant_wrap``: the design is compiled with ``overflow="wrap"`` (the reference still
    saturates), so the run must FAIL.
    """
    from hw.fixed import Q8_8

    nrn = compile_kind(kind, QFormat(8, 8, "wrap") if mutant_wrap else Q8_8)
    name = f"ops_{kind}" + ("_wrap" if mutant_wrap else "")
    return run_sby(name, NeuronOpsHarness(nrn, ref_fmt=Q8_8), mode="bmc", engine="smtbmc yices",
                   depth=1, workdir=workdir, timeout=timeout)


def check_pipeline(kind: str, *, stages: int | None = None, delay: int | None = None,
                   workdir=None, timeout: float = 300.0) -> SbyResult:
    """Prove the engine's pipelined datapath of ``kind`` equals the single-cycle one, delayed.

    ``delay`` other than the latency is a wrong expectation (the run must FAIL).
    """
    harness = PipelineHarness(compile_kind(kind), stages=stages, delay=delay)
    name = f"pipe_{kind}" + ("" if delay is None else f"_d{delay}")
    return run_sby(name, harness, mode="bmc", engine="smtbmc yices", depth=harness.stages + 1,
                   workdir=workdir, timeout=timeout)

"""The typed dataflow graph the compiler builds, and its bit-exact numpy evaluation.

Every node has a type: ``fixed`` (a raw integer of the format) or ``bool``
(0/1).  The integer semantics of each operation (``fmt`` = the neuron's
:class:`hw.fixed.QFormat`; rounding and overflow happen after EVERY operation):

==========  ===============================================================
op          result (raw integers)
==========  ===============================================================
const       the constant, quantized once at compile time
var         a state or input
add, sub    ``fmt.fit(a ± b)``
neg         ``fmt.fit(-a)``
mul         ``fmt.fit(fmt.shift_round(a * b, frac_bits))`` (by a constant: shift-add in HDL)
shr k       ``fmt.fit(fmt.shift_round(a, k))``
shl k       ``fmt.fit(a << k)``
min, max    exact
exp         :class:`hw.compiler.exp_pwl.ExpTable` (piecewise linear)
exp_*       the parts of ``exp`` (:data:`hw.compiler.exp_pwl.EXP_PARTS`), made only by
            :func:`lower_exp` for the pipeline; their values may be wider than ``fmt``
cmp         bool ``a OP b`` for OP in ``> >= < <= == !=``
select      ``b ? a : 0`` (a bool times a value: no multiplier)
mux         ``b ? a : c`` (the reset of the continuous form)
and         bool ``b1 & b2``
b2f         ``b ? fmt.fit(one) : 0`` (a bool used as a number is 1.0)
==========  ===============================================================

The HDL twin of :func:`evaluate` is :func:`hw.cores.neuron.hdl_evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hw.fixed import FixedOverflowError, QFormat

from .exp_pwl import EXP_PARTS, exp_table

__all__ = ["Node", "evaluate", "topo_order", "const_factor", "lower_exp", "hdl_width", "CMP_OPS"]

CMP_OPS = (">", ">=", "<", "<=", "==", "!=")


@dataclass(eq=False)
class Node:
    """One operation of the dataflow graph.

    Attributes:
        op: operation name (see the module docstring).
        args: operand nodes.
        kind: ``"fixed"`` or ``"bool"``.
        attr: the raw value (``const``), the name (``var``), the comparison
            (``cmp``) or the shift amount (``shr``/``shl``).
        src: source snippet, for error messages.
        fval: the float value before quantization (``const``), or the constant factor a
            ``shr``/``shl`` stands for when it came from a multiplication (so it can be folded).
        width: signed bits of the value in hardware when it is not the format's width
            (the ``exp_*`` parts of :func:`lower_exp`); ``None``: ``fmt.width``.
    """

    op: str
    args: tuple["Node", ...] = ()
    kind: str = "fixed"
    attr: int | str | None = None
    src: str = ""
    fval: float | None = field(default=None)
    width: int | None = field(default=None)

    def __repr__(self) -> str:
        inner = ", ".join(repr(a) for a in self.args)
        extra = f"{self.attr}" if self.attr is not None else ""
        return f"{self.op}({extra}{', ' if extra and inner else ''}{inner})"


def topo_order(roots: list[Node]) -> list[Node]:
    """All nodes reachable from ``roots``, operands before users, each once."""
    seen: set[int] = set()
    order: list[Node] = []

    def visit(n: Node) -> None:
        stack = [(n, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for a in reversed(node.args):
                if id(a) not in seen:
                    stack.append((a, False))

    for r in roots:
        visit(r)
    return order


def hdl_width(node: Node, fmt: QFormat) -> int:
    """Bits of ``node``'s value in hardware: 1 for ``bool``, else ``node.width`` or ``fmt.width`` (signed)."""
    if node.kind == "bool":
        return 1
    return node.width if node.width is not None else fmt.width


def lower_exp(roots: list[Node], fmt: QFormat) -> list[Node]:
    """The same graph with every ``exp`` replaced by its parts (``exp_off`` ... ``exp_fit``).

    The parts come from :meth:`hw.compiler.exp_pwl.ExpTable.compose`, so the lowered graph
    evaluates bit-identically (numpy and HDL); each part's node carries the width its values
    need, so a pipeline can register between them.  Nodes without an ``exp`` below them are
    returned as they are; a graph without ``exp`` comes back unchanged.
    """
    table = exp_table(fmt)
    full = (fmt.min_raw, fmt.max_raw)
    new: dict[int, Node] = {}
    ranges: dict[int, tuple[int, int]] = {}
    for node in topo_order(roots):
        args = tuple(new[id(a)] for a in node.args)
        if node.op == "exp":
            def part(op: str, attr, *operands: Node, src: str = node.src) -> Node:
                rs = [ranges.get(id(a), full) for a in operands]
                out = Node(op, tuple(operands), "fixed", attr, src, width=table.part_width(op, attr, rs))
                ranges[id(out)] = table.part_range(op, attr, rs)
                return out

            new[id(node)] = table.compose(args[0], part)
        elif all(a is b for a, b in zip(args, node.args)):
            new[id(node)] = node
        else:
            new[id(node)] = replace(node, args=args)
    return [new[id(r)] for r in roots]


def const_factor(node: Node) -> tuple[int, int] | None:
    """For a ``mul`` with a constant operand: ``(index of the other operand, the constant's raw)``.

    ``None`` for any other node.  Such a product needs no multiplier in hardware (shift-and-add,
    :meth:`hw.fixed.QFormat.hdl_mul_const`); only a ``mul`` of two run-time values may use a DSP.
    """
    if node.op != "mul":
        return None
    a, b = node.args
    if b.op == "const":
        return 0, int(b.attr)
    if a.op == "const":
        return 1, int(a.attr)
    return None


def _cmp(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
            "==": np.equal, "!=": np.not_equal}[op](a, b).astype(np.int64)


def _eval_node(node: Node, v: list[np.ndarray], fmt: QFormat, env: dict[str, np.ndarray]) -> np.ndarray:
    op = node.op
    if op == "const":
        return np.int64(node.attr)
    if op == "var":
        return env[node.attr]
    if op == "add":
        return fmt.fit(v[0] + v[1])
    if op == "sub":
        return fmt.fit(v[0] - v[1])
    if op == "neg":
        return fmt.fit(-v[0])
    if op == "mul":
        return fmt.fit(fmt.shift_round(v[0] * v[1], fmt.frac_bits))
    if op == "shr":
        return fmt.fit(fmt.shift_round(v[0], node.attr))
    if op == "shl":
        return fmt.fit(np.asarray(v[0], dtype=np.int64) << node.attr)
    if op == "min":
        return np.minimum(v[0], v[1])
    if op == "max":
        return np.maximum(v[0], v[1])
    if op == "exp":
        return exp_table(fmt).eval_np(v[0])
    if op in EXP_PARTS:
        return exp_table(fmt).part_np(op, node.attr, v)
    if op == "cmp":
        return _cmp(node.attr, v[0], v[1])
    if op == "select":
        return np.where(v[0] != 0, v[1], 0).astype(np.int64)
    if op == "mux":
        return np.where(v[0] != 0, v[1], v[2]).astype(np.int64)
    if op == "and":
        return (v[0] & v[1]).astype(np.int64)
    if op == "b2f":
        return np.where(v[0] != 0, fmt.fit(fmt.one), 0).astype(np.int64)
    raise AssertionError(f"unknown op {op}")


def evaluate(roots: list[Node], env: dict[str, np.ndarray], fmt: QFormat,
             order: list[Node] | None = None) -> list[np.ndarray]:
    """Raw int64 values of ``roots`` given raw int64 arrays for every ``var`` name in ``env``.

    ``order`` may pass a precomputed ``topo_order(roots)``.

    Raises:
        FixedOverflowError: in ``trap`` mode, naming the term that overflowed.
    """
    values: dict[int, np.ndarray] = {}
    for node in (order if order is not None else topo_order(roots)):
        args = [values[id(a)] for a in node.args]
        try:
            values[id(node)] = _eval_node(node, args, fmt, env)
        except FixedOverflowError as err:
            raise FixedOverflowError(f"{err} in `{node.src}`") from None
    return [np.broadcast_to(values[id(r)], _shape(env)).astype(np.int64) for r in roots]


def _shape(env: dict[str, np.ndarray]) -> tuple[int, ...]:
    shapes = [np.shape(a) for a in env.values()]
    return np.broadcast_shapes(*shapes) if shapes else ()

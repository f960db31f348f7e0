"""Equation text -> typed dataflow graph (:class:`Program`), with errors that point at the term.

Two input forms:

* discrete statements (grammar in :mod:`sw.training.equations`), e.g.
  ``v = beta * v + I`` / ``spike = v > threshold`` / ``v = v - spike * threshold``;
* the continuous form ``dv/dt = -(v - E_L)/tau_m + I/C`` with a threshold
  (``v > -50``) and a reset (``v = -65``), discretised by forward Euler: all
  derivatives are evaluated on the old state, then ``x += dt * dx/dt`` with
  ``dt`` distributed over the additive terms of the right-hand side (so
  ``dt/tau_m`` becomes one constant), then ``spike`` = threshold, then the
  reset statements apply where ``spike`` is 1.

Constant folding (compile time, in float, quantized once): any
subexpression made only of constants and parameters; chains of constant
factors (``(x * c1) * c2 -> x * (c1*c2)``; ``x / c -> x * (1/c)``);
multiplication by a power of two becomes an exact shift; a bool times a
value becomes a select (no multiplier).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import textwrap
import warnings
from dataclasses import dataclass

from hw.fixed import QFormat

from .errors import CompileError, PrecisionWarning
from .graph import Node

__all__ = ["Program", "build_program", "build_ode_program"]

_FUNCS = ("exp", "min", "max", "clip")
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.RShift: ">>", ast.LShift: "<<"}
_CMPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_PRECISION_WARN = 0.10  # warn when quantizing a constant changes it by more than 10 %


@dataclass
class Program:
    """The compiled graph of one neuron model.

    Attributes:
        fmt: number format.
        states, inputs: names, in port order.
        params: parameter values (float) as given.
        outputs: new value of each state (fixed nodes).
        spike: the spike output (a bool node).
    """

    fmt: QFormat
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    params: dict[str, float]
    outputs: dict[str, Node]
    spike: Node
    text: str = ""


@dataclass
class _F:
    """A compile-time constant (float) not yet quantized."""

    value: float
    src: str
    node: ast.AST | None = None  # where it was written, for error positions


@dataclass
class _Piece:
    """Where a parsed string sits in the user's text (for error positions)."""

    source: str
    line: int = 1
    col_shift: int = 0
    full_line: str | None = None
    label: str | None = None  # e.g. "threshold": positions are then within that string


class _Builder:
    def __init__(self, fmt: QFormat, params: dict[str, float], states, inputs) -> None:
        self.fmt = fmt
        self.params = dict(params)
        self.states = tuple(states)
        self.inputs = tuple(inputs)
        self.env: dict[str, Node] = {}
        self.piece = _Piece("")
        self._consts: dict[tuple[int, float], Node] = {}

    # -- errors -----------------------------------------------------------
    def err(self, node: ast.AST | None, msg: str) -> CompileError:
        if node is None or not hasattr(node, "col_offset"):
            return CompileError(msg)
        lines = self.piece.source.splitlines() or [""]
        lineno = getattr(node, "lineno", 1)
        src_line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        col = node.col_offset + 1
        if lineno == 1:
            col += self.piece.col_shift
            src_line = self.piece.full_line if self.piece.full_line is not None else src_line
        snippet = ast.get_source_segment(self.piece.source, node)
        if self.piece.label is not None:
            return CompileError(f"{self.piece.label}, column {col}: {msg}", snippet=snippet,
                                source_line=src_line, col=col)
        return CompileError(msg, line=self.piece.line + lineno - 1, col=col, snippet=snippet, source_line=src_line)

    def src(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.piece.source, node) or ast.unparse(node)

    # -- constants --------------------------------------------------------
    def const(self, f: _F, where: ast.AST | None) -> Node:
        """Quantize a compile-time constant, refusing underflow and out-of-range values."""
        fmt = self.fmt
        if f.node is not None and hasattr(f.node, "col_offset"):
            where = f.node
        if not math.isfinite(f.value):
            raise self.err(where, f"constant `{f.src}` = {f.value} is not finite")
        if f.value > fmt.max_value + fmt.resolution / 2 or f.value < fmt.min_value - fmt.resolution / 2:
            raise self.err(where, f"constant `{f.src}` = {f.value:g} is outside the {fmt} range "
                                  f"[{fmt.min_value:g}, {fmt.max_value:g}]; use more integer bits")
        raw = int(QFormat(fmt.int_bits, fmt.frac_bits, "saturate", fmt.rounding).quantize(f.value))
        if raw == 0 and f.value != 0.0:
            widest = QFormat.MAX_WIDTH - fmt.int_bits   # the most fraction bits a format can have
            need = fmt.frac_bits + 1
            while need <= widest and int(QFormat(fmt.int_bits, need, "saturate",
                                                 fmt.rounding).quantize(f.value)) == 0:
                need += 1
            hint = (f"use at least {need} fraction bits (e.g. Q{fmt.int_bits}.{need})" if need <= widest
                    else f"not even Q{fmt.int_bits}.{widest} ({QFormat.MAX_WIDTH} bits) holds it")
            raise self.err(where, f"constant `{f.src}` = {f.value:g} underflows {fmt} (its LSB is "
                                  f"{fmt.resolution:g}) and would become 0; {hint}")
        rel = abs(raw * fmt.resolution - f.value) / abs(f.value) if f.value else 0.0
        if rel > _PRECISION_WARN:
            warnings.warn(f"constant `{f.src}` = {f.value:g} becomes {raw * fmt.resolution:g} in {fmt} "
                          f"({100 * rel:.0f} % off); consider more fraction bits", PrecisionWarning,
                          stacklevel=4)
        key = (raw, f.value)
        if key not in self._consts:
            self._consts[key] = Node("const", (), "fixed", raw, f.src, f.value)
        return self._consts[key]

    def fixed(self, x, where) -> Node:
        """Any operand as a fixed node (bools become 0 / 1.0, constants are quantized)."""
        if isinstance(x, _F):
            return self.const(x, where)
        if x.kind == "bool":
            return Node("b2f", (x,), "fixed", None, x.src)
        return x

    # -- operators --------------------------------------------------------
    def binop(self, op: str, a, b, where: ast.AST | None, src: str):
        if isinstance(a, _F) and isinstance(b, _F):
            try:
                return _F(self._fold(op, a.value, b.value, where), src, where)
            except OverflowError:
                raise self.err(where, "this constant expression overflows") from None
        if op in ("+", "-"):
            if isinstance(b, _F) and b.value == 0.0:
                return self.fixed(a, where)
            if op == "+" and isinstance(a, _F) and a.value == 0.0:
                return self.fixed(b, where)
            if op == "-" and isinstance(a, _F) and a.value == 0.0:
                return self.neg(b, where, src)
            return Node("add" if op == "+" else "sub", (self.fixed(a, where), self.fixed(b, where)), "fixed",
                        None, src)
        if op == "*":
            return self.mul(a, b, where, src)
        if op == "/":
            if not isinstance(b, _F):
                raise self.err(getattr(where, "right", where),
                               "division is only allowed by a parameter or constant (it becomes a "
                               "constant multiply)")
            if b.value == 0.0:
                raise self.err(getattr(where, "right", where), "division by zero")
            return self.mul(a, _F(1.0 / b.value, f"1/({b.src})"), where, src)
        if op in (">>", "<<"):
            right = getattr(where, "right", where)
            if not isinstance(b, _F) or b.value != int(b.value) or b.value < 0:
                raise self.err(right, "shift amounts must be non-negative integer constants")
            k = int(b.value)
            x = self.fixed(a, where)
            if k == 0:
                return x
            return Node("shr" if op == ">>" else "shl", (x,), "fixed", k, src)
        raise self.err(where, f"operator {op} is not supported")

    def _fold(self, op: str, a: float, b: float, where) -> float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0.0:
                raise self.err(getattr(where, "right", where), "division by zero")
            return a / b
        if op in (">>", "<<"):
            if b != int(b) or b < 0:
                raise self.err(getattr(where, "right", where), "shift amounts must be non-negative integers")
            return a / 2 ** b if op == ">>" else a * 2 ** b
        raise self.err(where, f"operator {op} is not supported")

    def mul(self, a, b, where, src: str):
        if isinstance(a, _F):
            a, b = b, a
        if isinstance(b, _F):  # value * constant
            if a.kind == "bool":
                if b.value == 0.0:
                    return _F(0.0, src)
                return Node("select", (a, self.const(b, where)), "fixed", None, src)
            return self.scale(a, b, where, src)
        if a.kind == "bool" and b.kind == "bool":
            return Node("and", (a, b), "bool", None, src)
        if a.kind == "bool":
            return Node("select", (a, b), "fixed", None, src)
        if b.kind == "bool":
            return Node("select", (b, a), "fixed", None, src)
        return Node("mul", (a, b), "fixed", None, src)

    def scale(self, x: Node, c: _F, where, src: str):
        """``x * c`` for a fixed node and a compile-time constant."""
        if x.op == "mul":  # fold constant factor chains
            for i, arg in enumerate(x.args):
                if arg.op == "const" and arg.fval is not None:
                    other = x.args[1 - i]
                    return self.scale(other, _F(arg.fval * c.value, f"{arg.src} * {c.src}"), where, src)
        if x.op == "neg":  # -(a) * c -> a * (-c)
            return self.scale(x.args[0], _F(-c.value, f"-{c.src}"), where, src)
        if x.op in ("shr", "shl") and x.fval is not None:  # a shift that came from a constant factor
            return self.scale(x.args[0], _F(x.fval * c.value, f"{x.fval:g} * {c.src}"), where, src)
        v = c.value
        if v == 0.0:
            return _F(0.0, src)
        if v == 1.0:
            return x
        if v == -1.0:
            return Node("neg", (x,), "fixed", None, src)
        exponent = math.log2(abs(v))
        if v > 0 and exponent == int(exponent):
            k = int(exponent)
            return Node("shl" if k > 0 else "shr", (x,), "fixed", abs(k), src, v)
        return Node("mul", (x, self.const(c, where)), "fixed", None, src)

    def neg(self, a, where, src: str):
        if isinstance(a, _F):
            return _F(-a.value, src)
        a = self.fixed(a, where)
        if a.op == "mul" and any(arg.op == "const" and arg.fval is not None for arg in a.args):
            return self.scale(a, _F(-1.0, "-1"), where, src)
        if a.op == "neg":
            return a.args[0]
        return Node("neg", (a,), "fixed", None, src)

    def compare(self, op: str, a, b, where, src: str):
        if isinstance(a, _F) and isinstance(b, _F):
            fn = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
                  "==": operator.eq, "!=": operator.ne}[op]
            return _F(float(fn(a.value, b.value)), src)
        return Node("cmp", (self.fixed(a, where), self.fixed(b, where)), "bool", op, src)

    def minmax(self, fn: str, a, b, where, src: str):
        if isinstance(a, _F) and isinstance(b, _F):
            return _F((min if fn == "min" else max)(a.value, b.value), src)
        return Node(fn, (self.fixed(a, where), self.fixed(b, where)), "fixed", None, src)

    # -- expressions ------------------------------------------------------
    def expr(self, node: ast.AST):
        src = self.src(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.err(node, f"only numeric constants are allowed, not {node.value!r}")
            return _F(float(node.value), src, node)
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.env:
                return self.env[name]
            if name in self.params:
                return _F(float(self.params[name]), name, node)
            raise self.err(node, f"unknown name `{name}` (states: {', '.join(self.states) or '-'}; "
                                 f"inputs: {', '.join(self.inputs) or '-'}; parameters: "
                                 f"{', '.join(sorted(self.params)) or '-'}; temporaries must be "
                                 f"assigned before use)")
        if isinstance(node, ast.UnaryOp):
            val = self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return self.neg(val, node, src)
            if isinstance(node.op, ast.UAdd):
                return val
            raise self.err(node, f"unary operator {type(node.op).__name__} is not supported")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.err(node, f"operator {type(node.op).__name__} is not supported "
                                     f"(use + - * / >> <<)")
            return self.binop(op, self.expr(node.left), self.expr(node.right), node, src)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise self.err(node, "chained comparisons are not supported; use one comparison")
            op = _CMPS.get(type(node.ops[0]))
            if op is None:
                raise self.err(node, f"comparison {type(node.ops[0]).__name__} is not supported")
            return self.compare(op, self.expr(node.left), self.expr(node.comparators[0]), node, src)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            vals = [self.expr(v) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = self.mul(self._as_bool(out, node), self._as_bool(v, node), node, src)
            return out
        if isinstance(node, ast.Call):
            return self.call(node, src)
        raise self.err(node, f"unsupported syntax {type(node).__name__}")

    def _as_bool(self, v, where):
        if isinstance(v, _F) or v.kind != "bool":
            raise self.err(where, "`and` needs comparisons on both sides")
        return v

    def call(self, node: ast.Call, src: str):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
            raise self.err(node, f"unknown function `{self.src(node.func)}` (supported: {', '.join(_FUNCS)})")
        fn = node.func.id
        if node.keywords:
            raise self.err(node, f"{fn}() takes no keyword arguments")
        arity = {"exp": 1, "min": 2, "max": 2, "clip": 3}[fn]
        if len(node.args) != arity:
            raise self.err(node, f"{fn}() takes {arity} argument{'s' if arity > 1 else ''}, "
                                 f"got {len(node.args)}")
        args = [self.expr(a) for a in node.args]
        if fn == "exp":
            (x,) = args
            if isinstance(x, _F):
                try:
                    return _F(math.exp(x.value), src)
                except OverflowError:
                    raise self.err(node, "exp() of this constant overflows") from None
            return Node("exp", (self.fixed(x, node),), "fixed", None, src)
        if fn in ("min", "max"):
            return self.minmax(fn, args[0], args[1], node, src)
        x, lo, hi = args
        if isinstance(lo, _F) and isinstance(hi, _F) and lo.value > hi.value:
            raise self.err(node, f"clip() lower bound {lo.value:g} is above upper bound {hi.value:g}")
        return self.minmax("min", self.minmax("max", x, lo, node, src), hi, node, src)

    # -- statements -------------------------------------------------------
    def assign(self, name: str, value, where: ast.AST) -> None:
        if name in self.params:
            raise self.err(where, f"cannot assign to parameter `{name}`")
        if name in self.inputs:
            raise self.err(where, f"cannot assign to input `{name}`")
        if name in _FUNCS:
            raise self.err(where, f"`{name}` is a function name")
        if isinstance(value, _F):
            value = self.const(value, where)
        self.env[name] = value

    def finish(self, text: str) -> Program:
        if "spike" not in self.env:
            raise CompileError("the equations never assign `spike` (e.g. `spike = v > threshold`)")
        spike = self.env["spike"]
        if spike.kind != "bool":
            raise CompileError("`spike` must be assigned a comparison (e.g. `spike = v > threshold`), "
                               f"got `{spike.src}`")
        outputs = {s: self.fixed(self.env[s], None) for s in self.states}
        params_f = {k: float(v) for k, v in self.params.items()}
        return Program(self.fmt, self.states, self.inputs, params_f, outputs, spike, text)


def _check_names(states, inputs, params) -> None:
    names = list(states) + list(inputs) + list(params)
    seen = set()
    for n in names:
        if not isinstance(n, str) or not n.isidentifier():
            raise CompileError(f"{n!r} is not a valid name")
        if n in seen:
            raise CompileError(f"name `{n}` is used twice among states, inputs and parameters")
        if n == "spike":
            raise CompileError("`spike` is the output; it cannot be a state, input or parameter")
        seen.add(n)
    if not states:
        raise CompileError("a neuron needs at least one state")
    for k, v in params.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
            raise CompileError(f"parameter `{k}` must be a finite number, got {v!r}")


def build_program(text: str, *, states, inputs, params: dict[str, float], fmt: QFormat) -> Program:
    """Compile discrete update statements (``name = expr`` per line) to a :class:`Program`."""
    if not isinstance(text, str) or not text.strip():
        raise CompileError("the equation text is empty")
    _check_names(states, inputs, params)
    text = textwrap.dedent(text)
    b = _Builder(fmt, params, states, inputs)
    b.piece = _Piece(text)
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as e:
        lines = text.splitlines()
        line = lines[e.lineno - 1] if e.lineno and e.lineno - 1 < len(lines) else None
        raise CompileError(f"syntax error: {e.msg}", line=e.lineno, col=e.offset,
                           snippet=None, source_line=line) from None
    for name in (*states, *inputs):
        b.env[name] = Node("var", (), "fixed", name, name)
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise b.err(stmt, "each line must be `name = expression`")
        b.assign(stmt.targets[0].id, b.expr(stmt.value), stmt)
    return b.finish(text)


_ODE_LINE = re.compile(r"^\s*d\s*([A-Za-z_]\w*)\s*/\s*dt\s*=(.*)$")


def _additive_terms(node: ast.AST, sign: int = 1) -> list[tuple[int, ast.AST]]:
    """Split ``a + b - c`` into [(+1, a), (+1, b), (-1, c)] (top level only)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right_sign = sign if isinstance(node.op, ast.Add) else -sign
        return _additive_terms(node.left, sign) + _additive_terms(node.right, right_sign)
    return [(sign, node)]


def build_ode_program(ode_text: str, *, threshold: str, reset: str, params: dict[str, float], dt: float,
                      fmt: QFormat, inputs=("I",)) -> Program:
    """Compile ``dx/dt = f(x, I)`` lines + threshold + reset by forward Euler (see module docstring)."""
    if not isinstance(ode_text, str) or not ode_text.strip():
        raise CompileError("the differential equation text is empty")
    if not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise CompileError(f"dt must be a positive number, got {dt!r}")
    lines = [ln for ln in textwrap.dedent(ode_text).splitlines()]
    rhs: list[tuple[str, str, int, int, str]] = []  # state, rhs text, line, col shift, full line
    for i, line in enumerate(lines, start=1):
        code = line.split("#", 1)[0]
        if not code.strip():
            continue
        m = _ODE_LINE.match(code)
        if m is None:
            raise CompileError("expected `dX/dt = expression`", line=i, col=1, snippet=code.strip(),
                               source_line=line)
        rhs.append((m.group(1), m.group(2), i, m.start(2), line))
    states = tuple(r[0] for r in rhs)
    if len(set(states)) != len(states):
        raise CompileError(f"a state has two differential equations: {', '.join(states)}")
    params = dict(params)
    params.setdefault("dt", float(dt))
    _check_names(states, inputs, params)
    b = _Builder(fmt, params, states, inputs)
    for name in (*states, *inputs):
        b.env[name] = Node("var", (), "fixed", name, name)

    def parse(piece: _Piece, what: str) -> ast.AST:
        b.piece = piece
        try:
            return ast.parse(piece.source.strip(), mode="eval").body if what == "eval" else \
                ast.parse(piece.source.strip(), mode="exec")
        except SyntaxError as e:
            raise CompileError(f"syntax error in {what if what != 'eval' else 'expression'}: {e.msg}",
                               line=piece.line, col=(e.offset or 1) + piece.col_shift,
                               source_line=piece.full_line) from None

    dt_f = _F(float(dt), "dt")
    new: dict[str, Node] = {}
    for state, text, line, shift, full in rhs:
        stripped = text.lstrip()
        piece = _Piece(stripped.rstrip(), line, shift + len(text) - len(stripped), full)
        tree = parse(piece, "eval")
        value = b.env[state]
        for sign, term in _additive_terms(tree):
            t = b.expr(term)
            step = b.binop("*", t, dt_f, term, f"dt * ({b.src(term)})")
            value = b.binop("+" if sign > 0 else "-", value, step, term, f"{state} + dt * ...")
        new[state] = b.fixed(value, tree)
    b.env.update(new)  # simultaneous (forward Euler) update

    b.piece = _Piece(threshold.strip(), label="threshold")
    try:
        th = ast.parse(threshold.strip(), mode="eval").body
    except SyntaxError as e:
        raise CompileError(f"syntax error in threshold `{threshold}`: {e.msg}") from None
    spike = b.expr(th)
    if isinstance(spike, _F) or spike.kind != "bool":
        raise CompileError(f"the threshold must be a comparison such as `v > -50`, got `{threshold}`")
    b.env["spike"] = spike  # a reset statement may read it (it is 1 wherever the reset applies)
    b.piece = _Piece("\n".join(part.strip() for part in reset.replace(";", "\n").splitlines()), label="reset")
    try:
        reset_tree = ast.parse(b.piece.source, mode="exec")
    except SyntaxError as e:
        raise CompileError(f"syntax error in reset `{reset}`: {e.msg}") from None
    after = dict(b.env)
    for stmt in reset_tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id in states):
            raise CompileError(f"the reset must be `state = expression` statements, got `{reset}`")
        name = stmt.targets[0].id
        val = b.fixed(b.expr(stmt.value), stmt)
        b.env[name] = val
    for name in states:
        if b.env[name] is not after[name]:
            b.env[name] = Node("mux", (spike, b.env[name], after[name]), "fixed", None, f"reset {name}")
    b.env["spike"] = spike
    text = f"{ode_text.strip()}\n# threshold: {threshold}\n# reset: {reset}\n# dt = {dt}"
    return b.finish(text)

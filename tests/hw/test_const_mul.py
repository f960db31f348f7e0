"""Shift-and-add products (``hw.fixed``): bit-exact with ``QFormat.mul`` over every input raw.

The Amaranth expressions are evaluated by a small numpy interpreter of Amaranth's value tree
(vectorised over all 65 536 raws of Q8.8, so hundreds of constants take seconds); the interpreter
itself is checked against Amaranth's own simulator on the same expressions and on a real ``*``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Const, Signal, signed, unsigned
from amaranth.hdl._ast import Concat, Operator, Slice, SwitchValue

from hw.compiler.exp_pwl import exp_table
from hw.fixed import QFormat, csd_digits, hdl_const_product, hdl_narrow_product

Q88 = QFormat(8, 8)
ALL_RAWS = np.arange(Q88.min_raw, Q88.max_raw + 1, dtype=np.int64)


# -- a numpy interpreter of Amaranth values -----------------------------------------------------
def _norm(x: np.ndarray, width: int, is_signed: bool) -> np.ndarray:
    """Two's complement reinterpretation of int64 ``x`` as a ``width``-bit value."""
    assert width <= 62, f"{width}-bit value does not fit the int64 interpreter"
    x = np.asarray(x, dtype=np.int64) & np.int64((1 << width) - 1)
    if is_signed and width:
        x = x - ((x >> (width - 1)) << width)  # subtract 2**width where the sign bit is set
    return x


def _pattern_mask(pattern: str) -> tuple[int, int]:
    mask = value = 0
    for ch in pattern:  # MSB first
        mask, value = mask << 1, value << 1
        if ch != "-":
            mask |= 1
            value |= int(ch)
    return mask, value


def np_eval(expr, *env: tuple[Signal, np.ndarray]) -> np.ndarray:
    """Value of Amaranth expression ``expr`` given ``(signal, int64 array)`` pairs (raises on unknown nodes)."""
    memo: dict[int, np.ndarray] = {}
    inputs = {id(sig): arr for sig, arr in env}

    def ev(v) -> np.ndarray:
        if id(v) in memo:
            return memo[id(v)]
        if isinstance(v, Const):
            out = np.int64(v.value)
        elif isinstance(v, Signal):
            out = inputs[id(v)]
        elif isinstance(v, Operator):
            xs = [ev(o) for o in v.operands]
            op = v.operator
            if op in ("r|", "r&", "r^"):
                w = len(v.operands[0])
                bits = _norm(xs[0], w, False)
                out = {"r|": bits != 0, "r&": bits == (1 << w) - 1,
                       "r^": sum((bits >> i) & 1 for i in range(w)) & 1}[op]
                out = np.asarray(out).astype(np.int64)
            elif len(xs) == 1:
                out = {"-": lambda a: -a, "~": lambda a: ~a, "u": lambda a: a, "s": lambda a: a,
                       "b": lambda a: (a != 0).astype(np.int64)}[op](xs[0])
            else:
                a, b = xs
                out = {"+": np.add, "-": np.subtract, "*": np.multiply, "&": np.bitwise_and,
                       "|": np.bitwise_or, "^": np.bitwise_xor, "<<": np.left_shift, ">>": np.right_shift,
                       "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                       "==": np.equal, "!=": np.not_equal}[op](a, b)
                out = np.asarray(out).astype(np.int64)
        elif isinstance(v, Slice):
            out = np.right_shift(ev(v.value), v.start)
        elif isinstance(v, Concat):
            out, pos = np.int64(0), 0
            for part in v.parts:
                out = out | (_norm(ev(part), len(part), False) << pos)
                pos += len(part)
        elif isinstance(v, SwitchValue):
            test = _norm(ev(v.test), len(v.test), False)
            out = np.int64(0)  # no case matched
            for patterns, value in reversed(v.cases):
                val = ev(value)
                if patterns is None:
                    out = np.broadcast_to(val, np.broadcast_shapes(np.shape(val), np.shape(test)))
                    continue
                hit = np.zeros(np.shape(test), dtype=bool)
                for p in patterns:
                    mask, want = _pattern_mask(p)
                    hit |= (test & mask) == want
                out = np.where(hit, val, out)
        else:
            raise TypeError(f"the interpreter does not know {type(v).__name__}: {v!r}")
        exact = isinstance(v, Operator) and v.operator not in ("~", "u", "s", "&", "|", "^")
        if not exact:  # Amaranth's + - * << >> and comparisons are exact in their result shape
            shape = v.shape()
            out = _norm(out, shape.width, shape.signed)
        memo[id(v)] = out
        return out

    shape = np.broadcast_shapes(*(np.shape(arr) for _, arr in env))
    return np.broadcast_to(ev(expr), shape)


def _sim_eval(expr, sig: Signal, stimuli: list[int]) -> list[int]:
    """The same values from Amaranth's simulator (slow; for checking the interpreter)."""
    from amaranth.hdl import Module
    from amaranth.sim import Simulator

    y = Signal(expr.shape())
    m = Module()
    m.d.comb += y.eq(expr)
    out: list[int] = []

    async def bench(ctx):
        for s in stimuli:
            ctx.set(sig, s)
            out.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return out


# -- the constants under test --------------------------------------------------------------------
def _constants() -> list[int]:
    special = {0, 1, -1, 2, -2, Q88.max_raw, Q88.min_raw, Q88.max_raw - 1, Q88.min_raw + 1,
               0x5555, -0x5555, 0x2AAA, -0x2AAB, 0x7777, 230, 205, 461, 253, 13, 3, 218, 243}
    special |= {s * (1 << k) for k in range(15) for s in (1, -1)}            # powers of two
    special |= {s * ((1 << k) - 1) for k in range(1, 16) for s in (1, -1)}   # runs of ones
    rng = np.random.default_rng(12)
    special |= set(rng.integers(Q88.min_raw, Q88.max_raw + 1, size=200).tolist())
    return sorted(special)


CONSTANTS = _constants()


def test_csd_digits_recode_every_16_bit_value() -> None:
    for value in range(-(1 << 15), 1 << 15):
        digits = csd_digits(value)
        assert sum(d << k for k, d in digits) == value
        shifts = [k for k, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), (value, digits)  # canonical
        assert len(digits) <= bin(abs(value)).count("1")  # never more adders than binary
    assert csd_digits(230) == ((1, -1), (3, 1), (5, -1), (8, 1))
    assert csd_digits(0) == ()


def test_interpreter_agrees_with_amaranth_simulator() -> None:
    a = Signal(signed(16))
    rng = np.random.default_rng(1)
    stimuli = sorted(set(rng.integers(Q88.min_raw, Q88.max_raw + 1, size=150).tolist())
                     | {Q88.min_raw, Q88.max_raw, 0, -1, 1})
    exprs = [Q88.hdl_mul_const(a, c) for c in (230, -205, Q88.min_raw, 0x5555, 1, 0)]
    exprs.append(Q88.hdl_mul(a, Const(-1234, signed(16))))  # a real `*` and saturation
    exprs.append(QFormat(8, 8, "wrap", "banker").hdl_mul_const(a, 12345))
    exprs.append(hdl_narrow_product(a[3:13].as_signed(), a[:5]))
    exprs.append(exp_table(Q88).eval_hdl(a))  # ROM (Array) lookups
    x = np.asarray(stimuli, dtype=np.int64)
    for e in exprs:
        assert np_eval(e, (a, x)).tolist() == _sim_eval(e, a, stimuli), repr(e)[:200]


@pytest.mark.parametrize("fmt", [Q88, QFormat(8, 8, "wrap", "truncate"), QFormat(8, 8, "saturate", "banker")],
                         ids=lambda f: f"{f}-{f.overflow}-{f.rounding}")
def test_const_mul_equals_qformat_mul_for_every_raw(fmt: QFormat) -> None:
    a = Signal(signed(16))
    for c in (CONSTANTS if fmt == Q88 else CONSTANTS[::3]):  # all for the default format
        got = np_eval(fmt.hdl_mul_const(a, c), (a, ALL_RAWS))
        want = fmt.mul(ALL_RAWS, c)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{fmt} x * {c}: x={ALL_RAWS[bad[0]]} gives {got[bad[0]]}, want {want[bad[0]]}"


def test_const_mul_other_formats() -> None:
    for fmt in (QFormat(6, 10, "saturate", "banker"), QFormat(4, 4, "wrap", "nearest"), QFormat(12, 0)):
        a = Signal(signed(fmt.width))
        raws = np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)
        rng = np.random.default_rng(fmt.width)
        for c in {fmt.min_raw, fmt.max_raw, 0, -1, 3, *rng.integers(fmt.min_raw, fmt.max_raw + 1, 40).tolist()}:
            assert (np_eval(fmt.hdl_mul_const(a, c), (a, raws)) == fmt.mul(raws, c)).all(), (fmt, c)


def test_exact_products() -> None:
    a = Signal(signed(16))
    for c in CONSTANTS[::7]:
        assert (np_eval(hdl_const_product(a, c), (a, ALL_RAWS)) == ALL_RAWS * c).all(), c
    # narrow operand: every 14-bit signed times every 5-bit unsigned, and a signed narrow operand
    w = Signal(signed(14))
    n = Signal(unsigned(5))
    ww, nn = np.meshgrid(np.arange(-(1 << 13), 1 << 13), np.arange(32), indexing="ij")
    got = np_eval(hdl_narrow_product(w, n), (w, ww.ravel()), (n, nn.ravel()))
    assert (got == ww.ravel() * nn.ravel()).all()
    s = Signal(signed(4))
    ww, ss = np.meshgrid(np.arange(-(1 << 13), 1 << 13), np.arange(-8, 8), indexing="ij")
    got = np_eval(hdl_narrow_product(w, s), (w, ww.ravel()), (s, ss.ravel()))
    assert (got == ww.ravel() * ss.ravel()).all()
    got = np_eval(hdl_narrow_product(w, s, addend=(n, 3)), (w, ww.ravel()), (s, ss.ravel()), (n, ss.ravel() + 8))
    assert (got == ww.ravel() * ss.ravel() + ((ss.ravel() + 8) << 3)).all()


def test_exp_table_hdl_equals_numpy_for_every_raw() -> None:
    for fmt in (Q88, QFormat(6, 10, "saturate", "banker"), QFormat(8, 8, "wrap", "truncate")):
        a = Signal(signed(fmt.width))
        raws = np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)
        table = exp_table(fmt)
        assert (np_eval(table.eval_hdl(a), (a, raws)) == table.eval_np(raws)).all(), fmt

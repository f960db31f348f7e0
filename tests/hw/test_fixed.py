"""Property tests for hw.fixed: rounding, saturation, wrap, trap — numpy rules and their HDL twins.

References are computed independently with exact rationals (``fractions.Fraction``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw.fixed import OVERFLOW_MODES, Q8_8, ROUNDING_MODES, FixedOverflowError, QFormat

formats = st.builds(QFormat, int_bits=st.integers(1, 12), frac_bits=st.integers(0, 12),
                    overflow=st.sampled_from(OVERFLOW_MODES), rounding=st.sampled_from(ROUNDING_MODES))
wide = st.integers(-(1 << 40), 1 << 40)


def ref_round(q: Fraction, mode: str) -> int:
    """Exact rounding of a rational to an integer."""
    floor = math.floor(q)
    if mode == "truncate":
        return floor
    rem = q - floor
    if mode == "nearest":
        return floor + (1 if rem >= Fraction(1, 2) else 0)
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


def ref_fit(x: int, fmt: QFormat) -> int:
    if fmt.overflow == "saturate":
        return min(max(x, fmt.min_raw), fmt.max_raw)
    if fmt.overflow == "wrap":
        return (x - fmt.min_raw) % (1 << fmt.width) + fmt.min_raw
    if not fmt.min_raw <= x <= fmt.max_raw:
        raise FixedOverflowError
    return x


def expect(fn, *args):
    """Result of fn or the exception class it raises."""
    try:
        return fn(*args)
    except FixedOverflowError:
        return FixedOverflowError


@given(formats, wide)
def test_fit_matches_reference(fmt: QFormat, x: int) -> None:
    want = expect(ref_fit, x, fmt)
    got = expect(lambda: int(fmt.fit(x)))
    assert got == want


@given(formats, wide)
def test_saturate_never_wraps(fmt: QFormat, x: int) -> None:
    sat = QFormat(fmt.int_bits, fmt.frac_bits, "saturate", fmt.rounding)
    y = int(sat.fit(x))
    assert sat.min_raw <= y <= sat.max_raw
    assert (y == x) or (x > sat.max_raw and y == sat.max_raw) or (x < sat.min_raw and y == sat.min_raw)


@given(formats, wide, st.integers(0, 20))
def test_shift_round_matches_exact_rounding(fmt: QFormat, x: int, shift: int) -> None:
    assert int(fmt.shift_round(x, shift)) == ref_round(Fraction(x, 1 << shift), fmt.rounding)


@given(formats, st.floats(-300, 300, allow_nan=False))
def test_quantize_matches_exact_rounding(fmt: QFormat, x: float) -> None:
    want = expect(lambda: ref_fit(ref_round(Fraction(x) * (1 << fmt.frac_bits), fmt.rounding), fmt))
    got = expect(lambda: int(fmt.quantize(x)))
    assert got == want


@given(formats, st.data())
def test_mul_is_exact_product_rounded_once(fmt: QFormat, data) -> None:
    a = data.draw(st.integers(fmt.min_raw, fmt.max_raw))
    b = data.draw(st.integers(fmt.min_raw, fmt.max_raw))
    want = expect(lambda: ref_fit(ref_round(Fraction(a * b, 1 << fmt.frac_bits), fmt.rounding), fmt))
    assert expect(lambda: int(fmt.mul(a, b))) == want


@given(formats, st.data())
def test_add_sub_follow_overflow_rule(fmt: QFormat, data) -> None:
    a = data.draw(st.integers(fmt.min_raw, fmt.max_raw))
    b = data.draw(st.integers(fmt.min_raw, fmt.max_raw))
    assert expect(lambda: int(fmt.add(a, b))) == expect(ref_fit, a + b, fmt)
    assert expect(lambda: int(fmt.sub(a, b))) == expect(ref_fit, a - b, fmt)


@given(st.integers(-(1 << 15), (1 << 15) - 1))
def test_q88_round_trip_is_exact(raw: int) -> None:
    assert int(Q8_8.quantize(Q8_8.to_float(raw))) == raw


def test_ties_are_stated() -> None:
    half = 0.5 / 256
    assert int(Q8_8.quantize(half)) == 1 and int(Q8_8.quantize(-half)) == 0  # half up
    assert int(QFormat(rounding="banker").quantize(half)) == 0
    assert int(QFormat(rounding="banker").quantize(3 * half)) == 2
    assert int(QFormat(rounding="truncate").quantize(-half)) == -1  # floor


def test_mac_rounds_once_and_saturates() -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-3000, 3000, size=(5, 40))
    x = rng.integers(-3000, 3000, size=40)
    b = rng.integers(-500, 500, size=5)
    got = Q8_8.mac(w, x, b)
    for i in range(5):
        exact = Fraction(int(np.dot(w[i], x)), 256) + int(b[i])
        assert got[i] == ref_fit(ref_round(exact, "nearest"), Q8_8)


def test_trap_names_the_value() -> None:
    with pytest.raises(FixedOverflowError, match="outside Q8.8"):
        QFormat(overflow="trap").add(32767, 1)


@pytest.mark.parametrize("kwargs", [dict(int_bits=0), dict(frac_bits=-1), dict(int_bits=30, frac_bits=8),
                                    dict(overflow="clamp"), dict(rounding="up")])
def test_bad_format_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError):
        QFormat(**kwargs)


def test_parse_format() -> None:
    assert QFormat.parse("Q8.8") == Q8_8
    assert QFormat.parse("6.10", "wrap", "banker") == QFormat(6, 10, "wrap", "banker")
    with pytest.raises(ValueError, match="looks like Q8.8"):
        QFormat.parse("Q8")


def test_quantize_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Q8_8.quantize(float("nan"))


# -- the HDL twins, simulated with Amaranth's Python simulator --------------------------------
def _simulate(build, stimuli: list[int], in_width: int) -> list[int]:
    """Drive a combinational expression ``build(a)`` of one signed input over ``stimuli``."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator

    a = Signal(signed(in_width))
    expr = build(a)
    y = Signal(expr.shape())
    m = Module()
    m.d.comb += y.eq(expr)
    out: list[int] = []

    async def bench(ctx):
        for v in stimuli:
            ctx.set(a, v)
            out.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@pytest.mark.parametrize("rounding", ROUNDING_MODES)
def test_hdl_twins_equal_numpy_rules(overflow: str, rounding: str) -> None:
    fmt = QFormat(4, 4, overflow, rounding)
    rng = np.random.default_rng(3)
    in_width = 14
    stimuli = sorted(set(rng.integers(-(1 << 13), 1 << 13, size=600).tolist()) | {-(1 << 13), (1 << 13) - 1, 0})
    for shift in (1, 3):
        got = _simulate(lambda a: fmt.hdl_fit(fmt.hdl_shift_round(a, shift)), stimuli, in_width)
        want = [int(fmt.fit(fmt.shift_round(v, shift))) for v in stimuli]
        assert got == want, f"shift {shift}"
    got = _simulate(lambda a: fmt.hdl_mul(a[:8].as_signed(), a[6:14].as_signed()), stimuli, in_width)
    want = [int(fmt.mul(((v & 0xFF) ^ 0x80) - 0x80, (((v >> 6) & 0xFF) ^ 0x80) - 0x80)) for v in stimuli]
    assert got == want

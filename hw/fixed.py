"""``hw.fixed``: the one definition of Qm.n fixed point (default Q8.8).

A value is stored as a signed ``int_bits + frac_bits``-bit integer ("raw"),
meaning ``raw / 2**frac_bits``; ``int_bits`` includes the sign bit, so Q8.8
is 16 bits spanning [-128, 128 - 1/256].

Rules (the golden model and the HDL generator both follow these; the HDL
helpers for the same rules live in this module too, next to their numpy
twins, so there is no second copy elsewhere):

* rounding when bits are dropped (quantize, multiply rescale, MAC rescale):
  ``nearest``  = round half up (add half an LSB, arithmetic shift right);
  ``truncate`` = floor (arithmetic shift right, toward -inf);
  ``banker``   = round half to even.
* overflow: ``saturate`` (default: clamp to the range, never wraps),
  ``wrap`` (two's complement wrap-around) or ``trap`` (raise
  ``FixedOverflowError``; simulation only).
* a multiply-accumulate keeps the full-precision sum of products and
  rounds + handles overflow once at the end, as a wide hardware accumulator
  does.

HDL twins (``hdl_fit``, ``hdl_shift_round``, ``hdl_mul``, ``hdl_mul_const``) build Amaranth
expressions with exactly the same integer semantics as ``fit``,
``shift_round`` and ``mul``; the equation compiler uses both sides, so the
numpy golden step and the generated Verilog cannot drift.  In hardware the
``trap`` mode cannot stop time: the HDL wraps (like ``wrap``) and only the
numpy model raises, which is what "trap in simulation" means here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

Overflow = Literal["saturate", "wrap", "trap"]
Rounding = Literal["nearest", "truncate", "banker"]

OVERFLOW_MODES: tuple[str, ...] = ("saturate", "wrap", "trap")
ROUNDING_MODES: tuple[str, ...] = ("nearest", "truncate", "banker")


class FixedOverflowError(ArithmeticError):
    """A value left the format's range while the overflow mode is ``trap``."""


@dataclass(frozen=True)
class QFormat:
    """A signed Qm.n format with its rounding and overflow rules.

    Parameters:
        int_bits: integer bits including the sign bit (m).
        frac_bits: fraction bits (n).
        overflow: ``"saturate"`` (default), ``"wrap"`` or ``"trap"``.
        rounding: ``"nearest"`` (default, half up), ``"truncate"`` or ``"banker"``.
    """

    int_bits: int = 8
    frac_bits: int = 8
    overflow: Overflow = "saturate"
    rounding: Rounding = "nearest"
    MAX_WIDTH: ClassVar[int] = 32
    """The widest format (sign, integer and fraction bits) the numpy and HDL rules support."""

    def __post_init__(self) -> None:
        if not (isinstance(self.int_bits, int) and self.int_bits >= 1):
            raise ValueError(f"int_bits must be an int >= 1 (it includes the sign), got {self.int_bits!r}")
        if not (isinstance(self.frac_bits, int) and self.frac_bits >= 0):
            raise ValueError(f"frac_bits must be an int >= 0, got {self.frac_bits!r}")
        if self.width > self.MAX_WIDTH:
            raise ValueError(f"width {self.width} > {self.MAX_WIDTH} bits is not supported")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, got {self.overflow!r}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")

    # -- constants ------------------------------------------------------
    @property
    def width(self) -> int:
        """Total bits of a raw value."""
        return self.int_bits + self.frac_bits

    @property
    def one(self) -> int:
        """Raw value of 1.0 (may exceed ``max_raw`` for formats with int_bits == 1)."""
        return 1 << self.frac_bits

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def resolution(self) -> float:
        """Value of one LSB."""
        return 1.0 / (1 << self.frac_bits)

    @property
    def min_value(self) -> float:
        return self.min_raw * self.resolution

    @property
    def max_value(self) -> float:
        return self.max_raw * self.resolution

    def __str__(self) -> str:
        return f"Q{self.int_bits}.{self.frac_bits}"

    @classmethod
    def parse(cls, text: str, overflow: Overflow = "saturate", rounding: Rounding = "nearest") -> "QFormat":
        """``"Q8.8"`` (or ``"8.8"``) -> ``QFormat(8, 8, overflow, rounding)``."""
        import re

        m = re.fullmatch(r"\s*Q?(\d+)\.(\d+)\s*", str(text))
        if m is None:
            raise ValueError(f"a format looks like Q8.8 (int bits incl. sign . fraction bits), got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), overflow, rounding)

    # -- core rules -----------------------------------------------------
    def fit(self, raw: np.ndarray | int) -> np.ndarray:
        """Apply the overflow rule to wide integers; returns int64 raws in range."""
        raw = np.asarray(raw, dtype=np.int64)
        if self.overflow == "saturate":
            return np.clip(raw, self.min_raw, self.max_raw)
        if self.overflow == "wrap":
            span = 1 << self.width
            return ((raw - self.min_raw) % span) + self.min_raw
        bad = (raw < self.min_raw) | (raw > self.max_raw)
        if np.any(bad):
            first = raw[bad].flat[0] if raw.ndim else raw
            raise FixedOverflowError(
                f"{int(first) * self.resolution:g} is outside {self} range "
                f"[{self.min_value:g}, {self.max_value:g}]")
        return raw

    def shift_round(self, raw: np.ndarray | int, shift: int) -> np.ndarray:
        """Divide wide integers by ``2**shift`` with this format's rounding (no overflow rule)."""
        raw = np.asarray(raw, dtype=np.int64)
        if shift <= 0:
            return raw << (-shift)
        if self.rounding == "truncate":
            return raw >> shift
        half = np.int64(1) << (shift - 1)
        if self.rounding == "nearest":
            return (raw + half) >> shift
        floor = raw >> shift
        rem = raw - (floor << shift)
        up = (rem > half) | ((rem == half) & ((floor & 1) == 1))
        return floor + up.astype(np.int64)

    # -- HDL twins of the rules (Amaranth expressions) -------------------
    def hdl_fit(self, expr):
        """Amaranth twin of :meth:`fit`: a signed ``width``-bit value from a wider signed expression.

        ``saturate`` clamps to ``[min_raw, max_raw]``; ``wrap`` and ``trap`` keep the low
        ``width`` bits (two's complement wrap; see the module docstring for ``trap``).
        """
        from amaranth.hdl import Const, Mux, signed

        expr = _as_signed_value(expr)
        if expr.shape().width <= self.width:  # cannot overflow: sign-extend only
            return (expr + Const(0, signed(self.width)))[:self.width].as_signed()
        low = expr[:self.width].as_signed()
        if self.overflow != "saturate":
            return low
        # in range iff the result's sign bit and all bits above it agree: a LUT tree, where
        # comparisons against max_raw/min_raw would be two carry chains on the critical path
        top = expr[self.width - 1:]
        fits = top.all() | ~top.any()
        hi = Const(self.max_raw, signed(self.width))
        lo = Const(self.min_raw, signed(self.width))
        return Mux(fits, low, Mux(expr[-1], lo, hi))

    def hdl_shift_round(self, expr, shift: int):
        """Amaranth twin of :meth:`shift_round`: divide by ``2**shift`` with this format's rounding."""
        expr = _as_signed_value(expr)
        if shift <= 0:
            return expr << (-shift)
        if self.rounding == "truncate":
            return expr >> shift
        if self.rounding == "nearest":
            return (expr + (1 << (shift - 1))) >> shift
        floor = expr >> shift
        rem = expr[:shift]  # unsigned low bits, equal to raw - (floor << shift)
        half = 1 << (shift - 1)
        up = (rem > half) | ((rem == half) & floor[0])
        return floor + up

    def hdl_mul(self, a, b):
        """Amaranth twin of :meth:`mul`: full product, rescale with rounding, overflow rule."""
        from amaranth.hdl import Value

        return self.hdl_fit(self.hdl_shift_round(Value.cast(a) * Value.cast(b), self.frac_bits))

    def hdl_mul_const(self, a, const_raw: int):
        """Amaranth twin of :meth:`mul` when ``b`` is the compile-time raw ``const_raw``: no multiplier.

        The exact product is a balanced tree of shifted adds/subtracts of ``a``, one per non-zero
        canonical-signed-digit of ``const_raw`` (:func:`hdl_const_product`), followed by the same
        :meth:`hdl_shift_round` and :meth:`hdl_fit` as :meth:`hdl_mul`.  The tree's common factor
        ``2**s`` (the lowest digit) is taken out of the rounding shift first:
        ``shift_round(p * 2**s, n) == shift_round(p, n - s)`` exactly for every rounding mode.
        """
        prod, scale = _hdl_const_product_scaled(a, const_raw)
        return self.hdl_fit(self.hdl_shift_round(prod, self.frac_bits - scale))

    # -- conversions ----------------------------------------------------
    def quantize(self, x: np.ndarray | float) -> np.ndarray:
        """Float -> raw int64, rounded by this format's rule, then the overflow rule.

        Raises ``ValueError`` on NaN (there is no fixed-point NaN); +-inf saturate
        (or trap / wrap as the mode says).
        """
        x = np.asarray(x, dtype=np.float64)
        if np.any(np.isnan(x)):
            raise ValueError("cannot quantize NaN")
        scaled = x * (1 << self.frac_bits)
        limit = float(1 << 62)
        scaled = np.clip(scaled, -limit, limit)
        if self.rounding == "nearest":
            wide = np.floor(scaled + 0.5)
        elif self.rounding == "truncate":
            wide = np.floor(scaled)
        else:
            wide = np.round(scaled)  # numpy rounds half to even
        return self.fit(wide.astype(np.int64))

    def to_float(self, raw: np.ndarray | int) -> np.ndarray:
        """Raw integers -> float64 values."""
        return np.asarray(raw, dtype=np.float64) * self.resolution

    # -- arithmetic on raws ---------------------------------------------
    def add(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        return self.fit(np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64))

    def sub(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        return self.fit(np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64))

    def mul(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        """Product of two raws, rescaled by ``frac_bits`` with rounding, then the overflow rule."""
        wide = np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)
        return self.fit(self.shift_round(wide, self.frac_bits))

    def mac(self, weights: np.ndarray, inputs: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """``weights @ inputs (+ bias)`` on raws: exact sum of products, one rounding, one overflow rule.

        ``weights`` is ``(n_out, n_in)``; ``inputs`` is ``(n_in,)`` or ``(n_in, batch)``;
        ``bias`` (raw, same format) is added before the final rounding.
        """
        acc = np.asarray(weights, dtype=np.int64) @ np.asarray(inputs, dtype=np.int64)
        if bias is not None:
            b = np.asarray(bias, dtype=np.int64) << self.frac_bits
            acc = acc + (b if acc.ndim == 1 else b[:, None])
        return self.fit(self.shift_round(acc, self.frac_bits))

    def spike_sum(self, weights: np.ndarray, spikes: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """``weights @ spikes (+ bias)`` for binary spikes: an exact sum of raws, then the overflow rule."""
        acc = np.asarray(weights, dtype=np.int64) @ np.asarray(spikes, dtype=np.int64)
        if bias is not None:
            b = np.asarray(bias, dtype=np.int64)
            acc = acc + (b if acc.ndim == 1 else b[:, None])
        return self.fit(acc)


def csd_digits(value: int) -> tuple[tuple[int, int], ...]:
    """Canonical signed digit recoding of an integer: ``((shift, digit), ...)`` with digit +-1.

    ``sum(d << k for k, d in csd_digits(v)) == v``; no two digits are adjacent, so there are at
    most ``ceil((bits + 1) / 2)`` of them and never more than the binary form's ones (the fewest
    adders for a shift-add constant multiply without sharing subexpressions).
    """
    value = int(value)
    digits = []
    shift = 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # value % 4 == 1 -> +1, == 3 -> -1 (leaves a run of zeros)
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return tuple(digits)


def hdl_const_product(expr, const: int):
    """Exact product ``expr * const`` (an Amaranth expression) built from shifts and adds only.

    One term ``+-(expr << k)`` per :func:`csd_digits` digit, summed by a balanced adder tree; the
    result is exact (Amaranth widens every sum), so ``synth_ice40 -dsp`` has no ``$mul`` to map
    onto an ``SB_MAC16``.
    """
    prod, scale = _hdl_const_product_scaled(expr, const)
    return prod.shift_left(scale)


def hdl_narrow_product(wide, narrow, addend: tuple | None = None):
    """Exact product of two run-time values where ``narrow`` has few bits: partial products, no DSP.

    One term per bit ``j`` of ``narrow``, ``Mux(narrow[j], wide, 0) << j`` (subtracted for the sign
    bit of a signed ``narrow``), summed by a balanced adder tree.  Meant for operands of a few bits
    (e.g. the 5-bit offset inside a segment of the ``exp`` table).  ``addend=(value, k)`` adds
    ``value << k`` as one more term of the same tree (exact: ``wide * narrow + (value << k)``).
    """
    from amaranth.hdl import Mux, Value

    wide = _as_signed_value(wide)
    narrow = Value.cast(narrow)
    n = len(narrow)
    terms = [(Mux(narrow[j], wide, 0), j, -1 if (narrow.shape().signed and j == n - 1) else 1)
             for j in range(n)]
    if addend is not None:
        terms.append((_as_signed_value(addend[0]), int(addend[1]), 1))
    prod, scale = _hdl_signed_sum(terms)
    return prod.shift_left(scale)


def _hdl_const_product_scaled(expr, const: int):
    """``(p, s)`` with ``p * 2**s == expr * const`` exactly (``s`` = the lowest CSD digit)."""
    expr = _as_signed_value(expr)
    return _hdl_signed_sum([(expr, k, d) for k, d in csd_digits(const)])


def _hdl_signed_sum(terms: list):
    """``(p, s)`` with ``p * 2**s == sum(sign * e * 2**k for e, k, sign in terms)``, exactly.

    Positive and negative terms each go through a balanced tree, then one subtraction.  Each add
    aligns its operands at the lower one's shift and passes that operand's low bits straight
    through (no adder bits where the other operand is known to be zero).
    """
    from amaranth.hdl import Const, signed

    pos = sorted(((e, k) for e, k, sign in terms if sign > 0), key=lambda t: t[1])
    neg = sorted(((e, k) for e, k, sign in terms if sign < 0), key=lambda t: t[1])
    if not pos and not neg:
        return Const(0, signed(1)), 0
    if not neg:
        return _hdl_tree(pos)
    if not pos:
        e, k = _hdl_tree(neg)
        return -e, k
    return _hdl_combine(_hdl_tree(pos), _hdl_tree(neg), subtract=True)


def _hdl_tree(terms: list):
    """Balanced sum of ``(expr, shift)`` terms sorted by shift -> ``(expr, shift)``."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return _hdl_combine(_hdl_tree(terms[:half]), _hdl_tree(terms[half:]), subtract=False)


def _hdl_combine(a: tuple, b: tuple, subtract: bool):
    """``a +- b`` for ``(expr, shift)`` pairs, result at the smaller shift (exact)."""
    from amaranth.hdl import Cat

    (ea, ka), (eb, kb) = a, b
    if kb < ka:
        if not subtract:
            return _hdl_combine(b, a, subtract=False)
        # the subtrahend has the low bits: no pass-through, a wider subtractor
        return ea.shift_left(ka - kb) - eb, kb
    d = kb - ka
    if d == 0:
        return (ea - eb) if subtract else (ea + eb), ka
    if len(ea) < d:  # sign-extend so the low d bits exist
        ea = Cat(ea, ea[-1].replicate(d - len(ea))).as_signed()
    hi = ea.shift_right(d)  # floor(ea / 2**d), exact
    top = (hi - eb) if subtract else (hi + eb)
    return Cat(ea[:d], top).as_signed(), ka


def _as_signed_value(expr):
    """Cast to an Amaranth value; unsigned values are zero-extended into a signed one."""
    from amaranth.hdl import Cat, Const, Value

    expr = Value.cast(expr)
    if not expr.shape().signed:
        expr = Cat(expr, Const(0, 1)).as_signed()
    return expr


Q8_8 = QFormat()
"""The default format: 16-bit signed, 8 fraction bits, round half up, saturate."""

"""``exp(x)`` in fixed point: one piecewise-linear table shared by the numpy step and the HDL.

The input range where ``exp`` is neither rounded to 0 nor saturated,
``[ln(LSB/2), ln(max_value)]``, is cut into segments of ``2**seg_shift`` raw
LSBs (1/8 for formats with >= 3 fraction bits).  ``base[k]`` is ``exp`` at the
start of segment ``k``, quantized; inside a segment the value is interpolated
on integers::

    d = clamp(x, x_lo, x_hi) - x_lo          # 0 .. n_seg * 2**seg_shift
    k, r = d >> seg_shift, d & (2**seg_shift - 1)
    y = fit(base[k] + shift_round(delta[k] * r, seg_shift))   # delta[k] = exp(end of k) - base[k]

Below ``x_lo`` the result is ``base[0]`` (0), above ``x_hi`` it is
``base[n_seg]`` (the saturated maximum).  Relative error vs ``math.exp`` is
about ``h**2/8`` (0.2 % for h = 1/8) plus the format's rounding.

**Parts.**  The same function is also a chain of smaller operations (:data:`EXP_PARTS`,
:meth:`ExpTable.compose`), so a pipeline can put registers inside ``exp``:

==============  ===========================================================================
part            value (raw integers; ``s`` = ``seg_shift``)
==============  ===========================================================================
``exp_off``     ``d = clamp(x, x_lo, x_hi) - x_lo`` (range reduction)
``exp_base``    ``base[d >> s]`` (segment select, ROM)
``exp_delta``   ``delta[d >> s]`` (ROM)
``exp_pp``      ``delta * (r & bits lo..hi-1)`` with ``r = d & (2**s - 1)`` (partial products;
                the first chunk also adds ``(base << s) + half``, which is ``(base << s) | half``)
``exp_sum``     ``a + b`` (exact)
``exp_fit``     ``fit(acc >> s)``; with a second operand ``base`` (banker's rounding, where
                ties depend on ``base``'s parity): ``fit(base + shift_round(acc, s))``
==============  ===========================================================================

For ``nearest`` and ``truncate`` rounding ``base + shift_round(p, s) ==
(p + (base << s) + half) >> s`` exactly (``half`` = ``2**(s-1)`` for nearest, 0 for
truncate), so ``exp_fit`` is a plain shift; :meth:`ExpTable.eval_np` and
:meth:`ExpTable.eval_hdl` are :meth:`ExpTable.compose` of the parts, and
``hw.compiler.graph.lower_exp`` builds the same parts as graph nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from hw.fixed import QFormat, hdl_narrow_product

__all__ = ["EXP_PARTS", "ExpTable", "exp_table", "signed_width"]

EXP_PARTS: tuple[str, ...] = ("exp_off", "exp_base", "exp_delta", "exp_pp", "exp_sum", "exp_fit")
"""The operations :meth:`ExpTable.compose` cuts ``exp`` into (see the module docstring)."""

PP_CHUNK = 4
"""Terms (partial products, plus the base in the first chunk) summed by one ``exp_pp``: two adder levels."""

Part = Callable[..., Any]
"""``part(op, attr, *args)`` -> a value of the part ``op`` (one backend of :meth:`ExpTable.compose`)."""


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest signed integer that holds every value in ``[lo, hi]``."""
    return max(1, max(int(hi), -int(lo) - 1).bit_length() + 1)


@dataclass(frozen=True)
class ExpTable:
    """The segments of ``exp`` for one format (build with :func:`exp_table`).

    Attributes:
        fmt: the format of input and output.
        seg_shift: log2 of the segment length in raw LSBs.
        x_lo: raw input where the first segment starts.
        n_seg: number of segments; ``x_hi = x_lo + n_seg << seg_shift``.
        base: raw ``exp`` at each segment start, ``n_seg + 1`` entries.
        delta: raw ``exp`` at the segment end (not saturated) minus ``base[k]``; last entry 0.
    """

    fmt: QFormat
    seg_shift: int
    x_lo: int
    n_seg: int
    base: tuple[int, ...]
    delta: tuple[int, ...]

    @property
    def x_hi(self) -> int:
        return self.x_lo + (self.n_seg << self.seg_shift)

    @property
    def folds_rounding(self) -> bool:
        """Whether ``base`` and the rounding constant join the partial-product sum (not banker's)."""
        return self.fmt.rounding != "banker"

    @property
    def round_const(self) -> int:
        """The constant added below ``base << seg_shift`` when rounding is folded (``half`` or 0)."""
        if self.seg_shift == 0 or self.fmt.rounding != "nearest":
            return 0
        return 1 << (self.seg_shift - 1)

    @property
    def pp_chunks(self) -> tuple[tuple[int, int], ...]:
        """The bit ranges ``(lo, hi)`` of ``r`` summed by each ``exp_pp`` (at most :data:`PP_CHUNK` terms)."""
        s = self.seg_shift
        first = PP_CHUNK - 1 if self.folds_rounding else PP_CHUNK
        edges = [0] + list(range(min(first, s), s, PP_CHUNK)) + [s]
        return tuple((a, b) for a, b in zip(edges, edges[1:]) if b > a)

    # -- the structure ----------------------------------------------------
    def compose(self, x: Any, part: Part) -> Any:
        """``exp(x)`` as a chain of parts: ``part(op, attr, *args)`` builds each (any backend).

        The numpy, HDL and graph versions of ``exp`` all come from this one function.
        """
        d = part("exp_off", None, x)
        base = part("exp_base", None, d)
        if self.seg_shift == 0:
            return part("exp_fit", None, base)
        delta = part("exp_delta", None, d)
        fold = self.folds_rounding
        terms = [part("exp_pp", chunk, delta, d, *((base,) if fold and i == 0 else ()))
                 for i, chunk in enumerate(self.pp_chunks)]
        while len(terms) > 1:  # balanced tree of exact sums
            terms = [part("exp_sum", None, *terms[i:i + 2]) if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
        return part("exp_fit", None, terms[0]) if fold else part("exp_fit", None, terms[0], base)

    # -- numpy ------------------------------------------------------------
    def part_np(self, op: str, attr: Any, args: list) -> np.ndarray:
        """Raw int64 value of one part (see the module docstring) for int64 operands ``args``."""
        fmt, s = self.fmt, self.seg_shift
        a = [np.asarray(v, dtype=np.int64) for v in args]
        if op == "exp_off":
            return np.clip(a[0], self.x_lo, self.x_hi) - self.x_lo
        if op == "exp_base":
            return np.asarray(self.base, dtype=np.int64)[a[0] >> s]
        if op == "exp_delta":
            return np.asarray(self.delta, dtype=np.int64)[a[0] >> s]
        if op == "exp_pp":
            lo, hi = attr
            mask = (1 << hi) - (1 << lo)
            out = a[0] * (a[1] & mask)
            if len(a) == 3:
                out = out + (a[2] << s) + self.round_const
            return out
        if op == "exp_sum":
            return a[0] + a[1]
        if op == "exp_fit":
            if len(a) == 1:
                return fmt.fit(a[0] >> s)
            return fmt.fit(a[1] + fmt.shift_round(a[0], s))
        raise AssertionError(f"unknown exp part {op}")

    def eval_np(self, x: np.ndarray) -> np.ndarray:
        """Raw ``exp(x)`` for raw int64 ``x`` (vectorised)."""
        return self.compose(np.asarray(x, dtype=np.int64), lambda op, attr, *a: self.part_np(op, attr, list(a)))

    # -- value ranges (register widths) -----------------------------------
    def part_range(self, op: str, attr: Any, args: list[tuple[int, int]]) -> tuple[int, int]:
        """``(min, max)`` of one part's value given its operands' ranges (for register widths)."""
        fmt, s = self.fmt, self.seg_shift
        if op == "exp_off":
            return 0, self.x_hi - self.x_lo
        if op == "exp_base":
            return min(self.base), max(self.base)
        if op == "exp_delta":
            return min(self.delta), max(self.delta)
        if op == "exp_pp":
            lo, hi = attr
            m = (1 << hi) - (1 << lo)
            (dlo, dhi) = args[0]
            out = (min(0, dlo * m), max(0, dhi * m))
            if len(args) == 3:
                (blo, bhi) = args[2]
                out = (out[0] + (blo << s) + self.round_const, out[1] + (bhi << s) + self.round_const)
            return out
        if op == "exp_sum":
            return args[0][0] + args[1][0], args[0][1] + args[1][1]
        if op == "exp_fit":
            return fmt.min_raw, fmt.max_raw
        raise AssertionError(f"unknown exp part {op}")

    def part_width(self, op: str, attr: Any, args: list[tuple[int, int]]) -> int:
        """Signed bits of one part's value (see :meth:`part_range`); ``exp_fit`` is ``fmt.width``."""
        if op == "exp_fit":
            return self.fmt.width
        return signed_width(*self.part_range(op, attr, args))

    # -- HDL --------------------------------------------------------------
    def part_hdl(self, op: str, attr: Any, args: list):
        """Amaranth expression of one part for operand values ``args`` (signed, wide enough)."""
        from amaranth.hdl import Array, Cat, Const, Mux, signed

        fmt, s = self.fmt, self.seg_shift
        span = self.x_hi - self.x_lo
        if op == "exp_off":
            x = args[0]
            diff = x - self.x_lo  # computed alongside `x > x_hi`, not after the clamp: one carry chain
            return Mux(diff[-1], 0, Mux(x > self.x_hi, span, diff))[:max(1, span.bit_length())]
        if op in ("exp_base", "exp_delta"):
            table = self.rom(op)
            wv = signed_width(min(table), max(table))  # narrow ROMs: smaller muxes
            return Array(Const(v, signed(wv)) for v in table)[self.rom_address(args[0])]
        if op == "exp_pp":
            lo, hi = attr
            r = args[1][lo:hi]  # unsigned bits of the offset inside the segment
            if len(args) == 3:  # the first chunk (lo = 0): base << s joins the adder tree
                if self.round_const:  # + half: the constant fills base's zero low bits
                    return hdl_narrow_product(args[0], r, addend=(
                        Cat(Const(self.round_const, s), args[2]).as_signed(), 0)).shift_left(lo)
                return hdl_narrow_product(args[0], r, addend=(args[2], s - lo)).shift_left(lo)
            return hdl_narrow_product(args[0], r).shift_left(lo)
        if op == "exp_sum":
            return args[0] + args[1]
        if op == "exp_fit":
            if len(args) == 1:
                return fmt.hdl_fit(args[0] >> s)
            return fmt.hdl_fit(args[1] + fmt.hdl_shift_round(args[0], s))
        raise AssertionError(f"unknown exp part {op}")

    def rom(self, op: str) -> tuple[int, ...]:
        """The table the ROM part ``op`` (``exp_base`` or ``exp_delta``) reads."""
        return self.base if op == "exp_base" else self.delta

    def rom_address(self, d):
        """The ROM address (segment ``k``) bits of the offset ``d`` (an Amaranth value)."""
        wk = max(1, ((self.x_hi - self.x_lo) >> self.seg_shift).bit_length())
        return d[self.seg_shift:self.seg_shift + wk]

    def eval_hdl(self, x):
        """Amaranth expression of the same function for a signed ``fmt.width`` value ``x``."""
        return self.compose(x, lambda op, attr, *a: self.part_hdl(op, attr, list(a)))


@lru_cache(maxsize=None)
def exp_table(fmt: QFormat) -> ExpTable:
    """The one ``exp`` table for ``fmt`` (cached, so step() and the HDL share it)."""
    scale = 1 << fmt.frac_bits
    seg_shift = max(0, fmt.frac_bits - 3)
    seg = 1 << seg_shift
    lo_value = math.log(0.5 * fmt.resolution)  # exp below this rounds to 0
    hi_value = math.log(fmt.max_value) if fmt.max_value > 0 else 0.0
    x_lo = max(fmt.min_raw, math.floor(lo_value * scale))
    x_lo -= x_lo % seg  # align so segment boundaries sit on multiples of seg
    x_lo = max(x_lo, fmt.min_raw)
    n_seg = max(1, math.ceil((math.ceil(hi_value * scale) - x_lo) / seg))
    starts = x_lo + seg * np.arange(n_seg + 1, dtype=np.int64)
    # exp saturates by definition, whatever the format's overflow mode
    saturating = QFormat(fmt.int_bits, fmt.frac_bits, "saturate", fmt.rounding)
    with np.errstate(over="ignore"):
        base = saturating.quantize(np.exp(fmt.to_float(starts)))
    # the slope of the last segments comes from the unsaturated end point (the result saturates
    # through fit), so interpolation never bends down before the format's maximum
    wide = QFormat(min(fmt.int_bits + 2, 32 - fmt.frac_bits), fmt.frac_bits, "saturate", fmt.rounding)
    with np.errstate(over="ignore"):
        ends = wide.quantize(np.exp(fmt.to_float(starts[1:])))
    base = [int(b) for b in base]
    delta = [int(ends[i]) - base[i] for i in range(n_seg)] + [0]
    return ExpTable(fmt, seg_shift, int(x_lo), int(n_seg), tuple(base), tuple(delta))

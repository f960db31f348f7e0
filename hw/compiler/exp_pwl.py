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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hw.fixed import QFormat, hdl_narrow_product

__all__ = ["ExpTable", "exp_table"]


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

    def eval_np(self, x: np.ndarray) -> np.ndarray:
        """Raw ``exp(x)`` for raw int64 ``x`` (vectorised)."""
        fmt = self.fmt
        d = np.clip(np.asarray(x, dtype=np.int64), self.x_lo, self.x_hi) - self.x_lo
        k = d >> self.seg_shift
        r = d & ((1 << self.seg_shift) - 1)
        base = np.asarray(self.base, dtype=np.int64)[k]
        delta = np.asarray(self.delta, dtype=np.int64)[k]
        return fmt.fit(base + fmt.shift_round(delta * r, self.seg_shift))

    def eval_hdl(self, x):
        """Amaranth expression of the same function for a signed ``fmt.width`` value ``x``."""
        from amaranth.hdl import Array, Const, Mux, signed

        fmt = self.fmt
        span = self.x_hi - self.x_lo
        diff = x - self.x_lo  # computed alongside `x > x_hi`, not after the clamp: one carry chain
        d = Mux(diff[-1], 0, Mux(x > self.x_hi, span, diff))[:max(1, span.bit_length())]
        k = d[self.seg_shift:]
        wb = max(v.bit_length() for v in self.base) + 1      # narrow ROMs: smaller muxes
        wd = max(abs(v).bit_length() for v in self.delta) + 1  # and partial products
        base = Array(Const(v, signed(wb)) for v in self.base)[k]
        delta = Array(Const(v, signed(wd)) for v in self.delta)[k]
        if self.seg_shift == 0:
            return fmt.hdl_fit(base)
        r = d[:self.seg_shift]
        if fmt.rounding == "banker":  # ties to even depend on base's parity: round, then add
            return fmt.hdl_fit(base + fmt.hdl_shift_round(hdl_narrow_product(delta, r), self.seg_shift))
        # base + shift_round(p, s) == shift_round((base << s) + p, s) exactly for floor and
        # half-up rounding: base becomes one more term of the partial-product adder tree
        scaled = hdl_narrow_product(delta, r, addend=(base, self.seg_shift))
        return fmt.hdl_fit(fmt.hdl_shift_round(scaled, self.seg_shift))


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

"""``hw.cores.clocking``: the ``sync`` clock domain of a board top (iCE40 PLL or oscillator).

:func:`pll_config` is the software model of the PLL (the same search as
icestorm's ``icepll``, simple feedback path): it returns the dividers and the
exact output frequency ``f_in * (DIVF+1) / ((DIVR+1) * 2**DIVQ)``, keeping the
phase detector in 10..133 MHz and the VCO in 533..1066 MHz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib import io

__all__ = ["PLLConfig", "pll_config", "ClockGen", "HFOSC_HZ", "PLL_MIN_HZ"]

HFOSC_HZ = 48e6
"""Frequency of the iCE40 UP internal high-frequency oscillator (before its divider)."""


PLL_MIN_HZ = 16e6
"""Lowest output frequency of the iCE40 PLL (``SB_PLL40_*``)."""


@dataclass(frozen=True)
class PLLConfig:
    """Dividers of an ``SB_PLL40_*`` in simple feedback mode and the frequency they give."""

    divr: int
    divf: int
    divq: int
    filter_range: int
    f_in: float
    f_out: float


def pll_config(f_in: float, f_target: float) -> PLLConfig:
    """The PLL setting whose output is closest to ``f_target`` without exceeding it.

    Raises:
        ValueError: no setting reaches 16..275 MHz near the target.
    """
    best: PLLConfig | None = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f_out = f_vco / (1 << divq)
                if f_out > f_target * (1 + 1e-9):
                    continue
                if best is None or f_out > best.f_out:
                    best = PLLConfig(divr, divf, divq, _filter_range(f_pfd), f_in, f_out)
    if best is None or best.f_out < PLL_MIN_HZ:
        raise ValueError(f"no iCE40 PLL setting makes {f_target / 1e6:g} MHz from {f_in / 1e6:g} MHz "
                         "(the PLL output range is 16..275 MHz)")
    return best


def _filter_range(f_pfd: float) -> int:
    for limit, value in ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5)):
        if f_pfd < limit:
            return value
    return 6


class ClockGen(Elaboratable):
    """Drives the ``sync`` domain (defined by the parent) at ``f_out``; holds it in reset until stable.

    Parameters:
        source: ``"pll_pad"`` (PLL fed by the clock pin, iCE40 UP boards),
            ``"pll_core"`` (PLL fed from the fabric), ``"hfosc"`` (UP internal oscillator,
            ``f_out`` = 48 MHz / 2**k) or ``"direct"`` (the board clock as is).
        clock_resource: name of the board's clock resource (unused for ``hfosc``).
        f_in: board clock frequency; f_out: wanted ``sync`` frequency.
    """

    def __init__(self, source: str, clock_resource: str | None, f_in: float, f_out: float) -> None:
        if source not in ("pll_pad", "pll_core", "hfosc", "direct"):
            raise ValueError(f"unknown clock source {source!r}")
        self.source, self.clock_resource = source, clock_resource
        self.f_in = f_in
        if source.startswith("pll"):
            self.pll = pll_config(f_in, f_out)
            self.f_out = self.pll.f_out
        elif source == "hfosc":
            div = min(3, max(0, math.ceil(math.log2(HFOSC_HZ / f_out) - 1e-9)))
            self.hfosc_div = div
            self.f_out = HFOSC_HZ / (1 << div)
        else:
            self.f_out = f_in

    def elaborate(self, platform) -> Module:
        m = Module()  # drives the ``sync`` domain, which the parent defines
        locked = Signal()
        if self.source == "hfosc":
            m.submodules.hfosc = Instance("SB_HFOSC", p_CLKHF_DIV=f"0b{self.hfosc_div:02b}",
                                          i_CLKHFEN=1, i_CLKHFPU=1, o_CLKHF=ClockSignal("sync"))
            m.d.comb += locked.eq(1)
        elif self.source == "pll_pad":
            pin = platform.request(self.clock_resource, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=self.pll.divr, p_DIVF=self.pll.divf, p_DIVQ=self.pll.divq,
                p_FILTER_RANGE=self.pll.filter_range,
                i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=ClockSignal("sync"), o_LOCK=locked)
        else:
            pin = platform.request(self.clock_resource, dir="-")
            m.submodules.clk_buf = buf = io.Buffer("i", pin)
            if self.source == "pll_core":
                m.submodules.pll = Instance(
                    "SB_PLL40_CORE", p_FEEDBACK_PATH="SIMPLE",
                    p_DIVR=self.pll.divr, p_DIVF=self.pll.divf, p_DIVQ=self.pll.divq,
                    p_FILTER_RANGE=self.pll.filter_range,
                    i_REFERENCECLK=buf.i, i_RESETB=1, i_BYPASS=0,
                    o_PLLOUTGLOBAL=ClockSignal("sync"), o_LOCK=locked)
            else:
                m.d.comb += [ClockSignal("sync").eq(buf.i), locked.eq(1)]
        # reset until the clock is locked, then a few more cycles
        m.domains.por = ClockDomain("por", reset_less=True)
        m.d.comb += ClockSignal("por").eq(ClockSignal("sync"))
        hold = Signal(4, init=15)
        with m.If(~locked):
            m.d.por += hold.eq(15)
        with m.Elif(hold != 0):
            m.d.por += hold.eq(hold - 1)
        m.d.comb += ResetSignal("sync").eq(hold != 0)
        return m

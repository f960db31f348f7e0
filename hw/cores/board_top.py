"""``hw.cores.board_top``: the top level of a bitstream -- clock, UART pins, host interface, LED."""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.build import ResourceError

from hw.cores.clocking import ClockGen
from hw.cores.host_io import HostInterface
from hw.cores.plan import NetworkPlan
from hw.cores.uart import divisor_for

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """The whole design for one board.

    Parameters:
        plan: the network plan.
        board: a ``boards.Board``.
        clock_hz: wanted core clock (the PLL/oscillator gives the closest lower one: ``f_clk``).
        baud: UART rate.
    """

    def __init__(self, plan: NetworkPlan, board, clock_hz: float | None = None, baud: int | None = None) -> None:
        self.plan, self.board = plan, board
        self.clockgen = ClockGen(board.clock_source, board.clock_resource, board.clock_hz,
                                 clock_hz or board.target_hz)
        self.f_clk = self.clockgen.f_out
        self.baud = baud or board.baud
        self.divisor = divisor_for(self.f_clk, self.baud)

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.clocking = self.clockgen
        m.submodules.host = host = HostInterface(self.plan, self.divisor)
        uart = platform.request("uart", 0)
        m.d.comb += [host.rx.eq(uart.rx.i), uart.tx.o.eq(host.tx)]
        try:
            led = platform.request("led", 0)
        except ResourceError:  # a board without a plain user LED
            led = None
        if led is not None:
            m.d.comb += led.o.eq(host.busy)
        return m

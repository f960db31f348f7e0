"""``hw.cores.board_top``: the top level of a bitstream -- clock, UART pins, host interface, LED."""

from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Module
from amaranth.build import ResourceError
from amaranth.lib import io

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
        m.domains.sync = ClockDomain("sync")
        m.submodules.clocking = self.clockgen
        m.submodules.host = host = HostInterface(self.plan, self.divisor)
        lines = {sub.name: "-" for sub in platform.lookup("uart", 0).ios}  # rx, tx (+ flow control)
        uart = platform.request("uart", 0, dir=lines)
        m.submodules.uart_rx = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [host.rx.eq(rx_buf.i), tx_buf.o.eq(host.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:  # a board without a plain user LED
            led = None
        if led is not None:
            m.submodules.led = led_buf = io.Buffer("o", led)
            m.d.comb += led_buf.o.eq(host.busy)
        return m

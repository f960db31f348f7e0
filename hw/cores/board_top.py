"""``hw.cores.board_top``: the top level of a bitstream -- clock, UART pins, host interface, LED,
and (when the weights are not in the bitstream) the flash loader on the SPI flash pins."""

from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Module
from amaranth.build import ResourceError
from amaranth.lib import io

from hw.cores.clocking import ClockGen
from hw.cores.flash_boot import FlashBoot, wake_cycles_for
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

    When ``plan.needs_load`` (SPRAM banks), a :class:`FlashBoot` on the board's
    ``spi_flash_1x`` pins loads the weight image from ``board.flash_offset`` at
    start-up through the host interface's boot port; the host can still load
    over the UART when the flash holds no valid image.
    """

    def __init__(self, plan: NetworkPlan, board, clock_hz: float | None = None, baud: int | None = None) -> None:
        self.plan, self.board = plan, board
        self.clockgen = ClockGen(board.clock_source, board.clock_resource, board.clock_hz,
                                 clock_hz or board.target_hz)
        self.f_clk = self.clockgen.f_out
        self.baud = baud or board.baud
        self.divisor = divisor_for(self.f_clk, self.baud)
        # input banks = the stream window: 4 where they fit the EBR of 2, so a host's USB
        # latency (~1 ms for an FTDI chip) does not stall the stream
        self.banks = plan.input_banks()

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.submodules.clocking = self.clockgen
        m.submodules.host = host = HostInterface(self.plan, self.divisor, banks=self.banks,
                                                   weight_writes=self.plan.needs_load or not self.board.lc_bound)
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
        if self.plan.needs_load:
            self._flash_boot(m, platform, host)
        return m

    def _flash_boot(self, m: Module, platform, host: HostInterface) -> None:
        m.submodules.flash_boot = boot = FlashBoot(self.plan, self.board.flash_offset,
                                                   wake_cycles_for(self.f_clk))
        pins = platform.request("spi_flash_1x", 0, dir="-")
        outputs = {"cs": boot.cs, "clk": boot.sck, "copi": boot.copi}  # cs is PinsN: the buffer inverts
        for name, sig in outputs.items():
            buf = io.Buffer("o", getattr(pins, name))
            m.submodules[f"flash_{name}"] = buf
            m.d.comb += buf.o.eq(sig)
        m.submodules.flash_cipo = cipo = io.Buffer("i", pins.cipo)
        m.d.comb += boot.cipo.eq(cipo.i)
        if self.board.flash_wp_hold:  # WP#/HOLD# inactive (PinsN: logical 0 = pin high)
            for name in ("wp", "hold"):
                buf = io.Buffer("o", getattr(pins, name))
                m.submodules[f"flash_{name}"] = buf
                m.d.comb += buf.o.eq(0)
        m.d.comb += boot.connect(host)

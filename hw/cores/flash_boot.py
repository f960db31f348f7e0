"""``hw.cores.flash_boot``: load the weights from the board's SPI flash at start-up.

Golden function: :func:`hw.flash_image.boot_writes` (with
:func:`hw.flash_image.boot_shape` of the same plan) -- the words this core writes
through the boot port, and whether it raises ``boot_done``, for given flash
contents (``tests/rtl/test_flash_boot.py`` compares them on Icarus against a
W25Q128-like flash model).  The image format is documented in
:mod:`hw.flash_image`.

Sequence after reset (SPI mode 0: SCK idles low, COPI changes after a falling
edge, CIPO is sampled at the rising edge; SCK = clock / (2 * ``half_period``)):

1. ``0xAB`` (release from deep power-down), CS released, wait ``wake_cycles``
   (tRES1, 3 us on the W25Q128).
2. ``0x03`` READ + 24-bit ``offset``, then one continuous read: the 16 header
   bytes (their CRC must equal that of this core's plan's header -- magic, version,
   runs, words, payload CRC -- else it stops before any write), then each run's
   address and count, then its 16-bit words, each written at once through
   ``boot_addr``/``boot_data``/``boot_en``.
3. CS released; ``boot_done`` rises when the CRC of the whole image read matched
   (``BootShape.image_crc``), ``boot_error`` otherwise.  The CRC covers the run
   headers, so lengths need no other check.

About 100 flip-flops and 190 LUTs (yosys ``synth_ice40``, default digits plan): a
16-bit input shift register, one CRC register running over the whole image, the
address and run counters; the header is checked through the CRC instead of a
comparator.
"""

from __future__ import annotations

import math

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.flash_image import CRC_INIT, CRC_POLY, HEADER_BYTES, boot_shape
from hw.cores.plan import NetworkPlan

__all__ = ["FlashBoot", "CMD_READ", "CMD_RELEASE_PD", "T_RES1_S", "wake_cycles_for"]

CMD_RELEASE_PD = 0xAB
CMD_READ = 0x03
T_RES1_S = 3e-6
"""Release-from-power-down to next command (W25Q128JV tRES1; the N25Q032 needs less)."""


def wake_cycles_for(clock_hz: float) -> int:
    """Cycles to wait after ``0xAB``: tRES1 with a 50 % margin."""
    return max(1, math.ceil(1.5 * T_RES1_S * clock_hz))


class FlashBoot(wiring.Component):
    """Reads the weight image from SPI flash and writes it through the boot port.

    Parameters:
        plan: the network plan (address/data widths and the expected image header).
        offset: byte address of the image in the flash.
        wake_cycles: clock cycles between ``0xAB`` and the READ (see :func:`wake_cycles_for`).
        half_period: clock cycles per SCK half period (1: SCK = clock / 2).

    Attributes:
        sck, cs, copi: SPI outputs (``cs`` is 1 while the flash is selected: the
            board's ``PinsN`` inverts it).
        cipo: SPI input.
        boot_addr, boot_data, boot_en: one weight word per ``boot_en`` cycle
            (``boot_addr`` like ``NetworkCore.ld_addr``); combinational, from registers.
        boot_done: the whole image was valid (stays 1).
        boot_error: the image was refused (stays 1).
        busy: reading the flash.
    """

    def __init__(self, plan: NetworkPlan, offset: int, wake_cycles: int, half_period: int = 1) -> None:
        if not 0 <= offset < 1 << 24:
            raise ValueError(f"flash offset 0x{offset:x} does not fit the 24-bit READ address")
        if half_period < 1 or wake_cycles < 1:
            raise ValueError("half_period and wake_cycles must be >= 1")
        self.shape = boot_shape(plan)
        if self.shape.runs == 0:
            raise ValueError("the plan has no host-loaded weights: nothing to boot from flash")
        self.plan, self.offset = plan, offset
        self.wake_cycles, self.half_period = wake_cycles, half_period
        super().__init__({
            "sck": Out(1), "cs": Out(1), "copi": Out(1), "cipo": In(1),
            "boot_addr": Out(self.shape.addr_bits), "boot_data": Out(signed(self.shape.width)),
            "boot_en": Out(1), "boot_done": Out(1), "boot_error": Out(1), "busy": Out(1),
        })

    def connect(self, host) -> list:
        """Statements wiring this loader to ``host``'s boot port (``hw.cores.host_io.HostInterface``)."""
        return [host.boot_addr.eq(self.boot_addr), host.boot_data.eq(self.boot_data),
                host.boot_en.eq(self.boot_en), host.boot_done.eq(self.boot_done)]

    def elaborate(self, platform) -> Module:
        m = Module()
        shape = self.shape
        aw, cw, width = shape.addr_bits, shape.count_bits, shape.width

        # -- bit engine: ``bits`` bits, MSB first; COPI sends ``command`` bit ``bits - 1``
        in_sr = Signal(max(aw, cw, width))
        bits = Signal(range(33))
        crc = Signal(32, init=CRC_INIT)
        crc_en = Signal()
        read_cmd = Signal()          # 0: sending 0xAB, 1: sending READ + address
        sending = Signal()
        tick = Signal()
        if self.half_period > 1:
            div = Signal(range(self.half_period))
            m.d.sync += div.eq(Mux(div == self.half_period - 1, 0, div + 1))
            m.d.comb += tick.eq(div == self.half_period - 1)
        else:
            m.d.comb += tick.eq(1)
        idle = bits == 0
        with m.If(~idle & tick):
            with m.If(~self.sck):                  # rising edge: sample
                m.d.sync += [self.sck.eq(1), in_sr.eq((in_sr << 1) | self.cipo)]
                with m.If(crc_en):
                    shifted = (crc << 1)[:32]
                    m.d.sync += crc.eq(Mux(crc[31] ^ self.cipo, shifted ^ CRC_POLY, shifted))
            with m.Else():                         # falling edge: the next COPI bit follows from bits
                m.d.sync += [self.sck.eq(0), bits.eq(bits - 1)]
        commands = (CMD_RELEASE_PD, (CMD_READ << 24) | self.offset)
        index = (bits - 1)[:5]
        with m.If(sending):
            with m.Switch(Cat(index, read_cmd)):
                for value in range(64):
                    if (commands[value >> 5] >> (value & 31)) & 1:
                        with m.Case(value):
                            m.d.comb += self.copi.eq(1)

        wait = Signal(range(self.wake_cycles + 1))
        hdr_i = Signal(2)
        addr = Signal(aw)
        count = Signal(cw)
        runs_left = Signal(range(shape.runs + 1), init=shape.runs)
        m.d.comb += [self.busy.eq(self.cs), self.boot_addr.eq(addr), self.boot_data.eq(in_sr[:width])]

        with m.FSM():
            with m.State("START"):
                m.d.sync += [self.cs.eq(1), sending.eq(1), bits.eq(8)]
                m.next = "WAKE"
            with m.State("WAKE"):
                with m.If(idle):
                    m.d.sync += [self.cs.eq(0), sending.eq(0), wait.eq(self.wake_cycles)]
                    m.next = "WAKE_WAIT"
            with m.State("WAKE_WAIT"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.d.sync += [self.cs.eq(1), sending.eq(1), read_cmd.eq(1), bits.eq(32)]
                    m.next = "COMMAND"
            with m.State("COMMAND"):
                with m.If(idle):
                    m.d.sync += [sending.eq(0), crc_en.eq(1), bits.eq(32)]
                    m.next = "HEADER"
            with m.State("HEADER"):              # 4 x 32 bits into the CRC only
                with m.If(idle):
                    m.d.sync += hdr_i.eq(hdr_i + 1)
                    with m.If(hdr_i != HEADER_BYTES // 4 - 1):
                        m.d.sync += bits.eq(32)
                    with m.Elif(crc != shape.header_crc):
                        m.next = "FAIL"
                    with m.Else():
                        m.d.sync += bits.eq(32)
                        m.next = "RUN_ADDR"
            with m.State("RUN_ADDR"):
                with m.If(idle):
                    m.d.sync += [addr.eq(in_sr[:aw]), bits.eq(32)]
                    m.next = "RUN_COUNT"
            with m.State("RUN_COUNT"):
                with m.If(idle):
                    m.d.sync += [count.eq(in_sr[:cw]), bits.eq(16)]
                    m.next = "WORD"
            with m.State("WORD"):
                with m.If(idle):
                    m.d.comb += self.boot_en.eq(1)
                    m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                    with m.If(count != 1):
                        m.d.sync += bits.eq(16)
                    with m.Elif(runs_left != 1):
                        m.d.sync += [runs_left.eq(runs_left - 1), bits.eq(32)]
                        m.next = "RUN_ADDR"
                    with m.Else():
                        m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += self.cs.eq(0)
                with m.If(crc == shape.image_crc):
                    m.next = "DONE"
                with m.Else():
                    m.next = "FAIL"
            with m.State("DONE"):
                m.d.sync += [self.cs.eq(0), self.boot_done.eq(1)]
            with m.State("FAIL"):
                m.d.sync += [self.cs.eq(0), self.boot_error.eq(1)]
        return m

"""cocotb bench of ``hw.cores.flash_boot.FlashBoot`` (top ``snn_flash_boot``) against a SPI flash model.

Driven by ``sim.tb.flash.run_flash_boot``.  Environment: ``SNN_FLASH_CASES`` (npz:
``names``, and per case ``flash_<i>`` the bytes at the image offset),
``SNN_FLASH_OFFSET``, ``SNN_FLASH_CLOCK_NS`` and ``SNN_FLASH_OUT`` (npz written
with, per case, the boot-port writes, ``boot_done``/``boot_error`` and the flash
model's counters).  Each case resets the design and runs it to ``boot_done`` or
``boot_error``.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

FLASH_BYTES = 16 << 20
T_RES1_NS = 3000.0


class SPIFlashModel:
    """A W25Q128-like SPI NOR flash (SPI mode 0) on the bench's pins.

    Commands: ``0xAB`` release from deep power-down (the next command is ignored
    unless it comes tRES1 = 3 us after CS# rose), ``0x03`` READ (24-bit address,
    then bytes MSB first from it on, wrapping at the end of the array).  The chip
    starts in deep power-down, as after a design that put it to sleep: every
    command but ``0xAB`` is then ignored.  CIPO is driven after each falling SCK
    edge and idles high (the pull-up of a released line).

    Attributes:
        commands: every command byte received.
        ignored: commands ignored (powered down, or sent within tRES1).
        mode_errors: CS# fell while SCK was high (not mode 0).
    """

    def __init__(self, dut, contents: bytes, offset: int) -> None:
        self.dut = dut
        self.mem = bytearray(b"\xff") * FLASH_BYTES
        self.mem[offset:offset + len(contents)] = contents
        self.powered_down = True
        self.busy_until = 0.0
        self.commands: list[int] = []
        self.ignored = 0
        self.mode_errors = 0
        self._wake = False

    async def run(self) -> None:
        dut = self.dut
        dut.cipo.value = 1
        while True:
            await RisingEdge(dut.cs)                # the design's cs is CS# inverted
            if int(dut.sck.value):
                self.mode_errors += 1
            task = cocotb.start_soon(self._transaction())
            await FallingEdge(dut.cs)
            if not task.done():
                task.cancel()
            dut.cipo.value = 1
            if self._wake:
                self._wake = False
                self.powered_down = False
                self.busy_until = get_sim_time("ns") + T_RES1_NS

    async def _bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            await RisingEdge(self.dut.sck)
            value = (value << 1) | int(self.dut.copi.value)
        return value

    async def _transaction(self) -> None:
        early = get_sim_time("ns") < self.busy_until
        cmd = await self._bits(8)
        self.commands.append(cmd)
        if early or (self.powered_down and cmd != 0xAB):
            self.ignored += 1
            return
        if cmd == 0xAB:
            self._wake = True
        elif cmd == 0x03:
            addr = await self._bits(24)
            sck, cipo, mem = self.dut.sck, self.dut.cipo, self.mem
            while True:
                byte = mem[addr % FLASH_BYTES]
                addr += 1
                for i in range(7, -1, -1):
                    await FallingEdge(sck)
                    cipo.value = (byte >> i) & 1


async def _collect_writes(dut, writes: list, width_errors: list) -> None:
    """Every boot-port write; a ``boot_en`` longer than one cycle is counted in ``width_errors``."""
    while True:
        await RisingEdge(dut.boot_en)
        await ReadOnly()
        writes.append((int(dut.boot_addr.value), dut.boot_data.value.to_signed()))
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(dut.boot_en.value):
            width_errors.append(len(writes))


@cocotb.test()
async def boot_cases(dut) -> None:
    cases = np.load(os.environ["SNN_FLASH_CASES"])
    offset = int(os.environ["SNN_FLASH_OFFSET"])
    period = float(os.environ.get("SNN_FLASH_CLOCK_NS", "40"))
    max_cycles = int(os.environ.get("SNN_FLASH_MAX_CYCLES", "4000000"))
    cocotb.start_soon(Clock(dut.clk, period, unit="ns", impl="gpi").start())
    dut.cipo.value = 1
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(cases["names"].tolist()):
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        flash = SPIFlashModel(dut, cases[f"flash_{i}"].tobytes(), offset)
        model_task = cocotb.start_soon(flash.run())
        writes: list = []
        width_errors: list = []
        writer = cocotb.start_soon(_collect_writes(dut, writes, width_errors))
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        finished = Event()

        async def watch(sig) -> None:
            await RisingEdge(sig)
            finished.set()

        watchers = [cocotb.start_soon(watch(dut.boot_done)), cocotb.start_soon(watch(dut.boot_error))]
        await First(finished.wait(), Timer(max_cycles * period, "ns"))  # not a callback per cycle
        await ClockCycles(dut.clk, 4)
        await ReadOnly()
        done, error = int(dut.boot_done.value), int(dut.boot_error.value)
        await RisingEdge(dut.clk)
        for task in (*watchers, writer, model_task):
            if not task.done():
                task.cancel()
        out[f"writes_{i}"] = np.array(writes, dtype=np.int64).reshape(-1, 2)
        out[f"status_{i}"] = np.array([done, error, flash.ignored, flash.mode_errors, len(width_errors),
                                       int(get_sim_time("ns"))], dtype=np.int64)
        out[f"commands_{i}"] = np.array(flash.commands, dtype=np.int64)
        dut._log.info(f"{name}: done={done} error={error} writes={len(writes)} commands="
                      f"{[hex(c) for c in flash.commands]}")
    np.savez(os.environ["SNN_FLASH_OUT"], **out)

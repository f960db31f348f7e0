"""cocotb bench that bridges a pseudo-terminal to the UART pins of ``HostInterface`` (top ``snn_host``).

The bench opens a pty, writes the slave's path to ``SNN_PTY_PATH_FILE``, then
moves bytes: whatever a program writes to the slave (e.g. ``sw.host.SNNDevice``
through pyserial) is shifted into ``rx`` at ``SNN_UART_DIVISOR`` clock cycles
per bit, and frames the design sends on ``tx`` are decoded and written back to
the slave.  It stops when ``SNN_PTY_DONE_FILE`` appears (or after
``SNN_PTY_MAX_CYCLES`` cycles).
"""

from __future__ import annotations

import os
import select
import tty
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from hw.cores.uart import frame_bits
from sim.tb.uart_line import clock_cycles, sample_frame

POLL_CYCLES = 64
PERIOD_NS = 10


async def _tx_monitor(dut, master: int, div: int) -> None:
    while True:
        await FallingEdge(dut.tx)
        byte, stop = await sample_frame(dut, div, PERIOD_NS)
        if stop:  # good stop bit
            os.write(master, bytes([byte]))
        await ClockCycles(dut.clk, 1)


@cocotb.test()
async def bridge(dut) -> None:
    div = int(os.environ["SNN_UART_DIVISOR"])
    done_file = Path(os.environ["SNN_PTY_DONE_FILE"])
    max_cycles = int(os.environ.get("SNN_PTY_MAX_CYCLES", "50000000"))
    master, slave = os.openpty()
    tty.setraw(slave)
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    dut.rx.value = 1
    for name in ("boot_en", "boot_done", "boot_addr", "boot_data"):  # the boot port stays idle
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    Path(os.environ["SNN_PTY_PATH_FILE"]).write_text(os.ttyname(slave))
    cocotb.start_soon(_tx_monitor(dut, master, div))
    cycles = 0
    try:
        while not done_file.exists() and cycles < max_cycles:
            ready, _, _ = select.select([master], [], [], 0)
            if ready:
                for byte in os.read(master, 4096):
                    for bit in frame_bits(byte):
                        dut.rx.value = bit
                        await clock_cycles(dut.clk, div, PERIOD_NS)
                        cycles += div
            else:
                await clock_cycles(dut.clk, POLL_CYCLES, PERIOD_NS)
                cycles += POLL_CYCLES
    finally:
        await ClockCycles(dut.clk, 12 * div)  # let a last reply leave
        os.close(slave)
        os.close(master)
    assert cycles < max_cycles, "host session did not finish in time"

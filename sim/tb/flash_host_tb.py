"""cocotb bench: ``HostInterface`` booted by ``FlashBoot`` (top ``snn_flash_host``), then UART traffic.

Driven by ``sim.tb.flash.run_flash_host``.  Per case: reset, the flash model
(``sim.tb.flash_tb.SPIFlashModel``) serves the case's bytes until ``boot_done``
or ``boot_error``, then each ``send_<i>_<j>`` is shifted into ``rx`` (8N1 at
``SNN_UART_DIVISOR`` cycles per bit) and ``reply_len_<i>_<j>`` bytes are read
from ``tx``; the replies go to ``SNN_FLASH_OUT`` as ``reply_<i>_<j>``.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge, Timer

from sim.tb.flash_tb import SPIFlashModel
from sim.tb.uart_line import sample_frame, send_bytes


async def _receive(dut, n: int, div: int, period: float, out: list) -> None:
    for _ in range(n):
        await FallingEdge(dut.tx)
        byte, _ = await sample_frame(dut, div, period)
        out.append(byte)
        await ClockCycles(dut.clk, 1)


@cocotb.test()
async def boot_then_talk(dut) -> None:
    cases = np.load(os.environ["SNN_FLASH_CASES"])
    offset = int(os.environ["SNN_FLASH_OFFSET"])
    div = int(os.environ["SNN_UART_DIVISOR"])
    period = float(os.environ.get("SNN_FLASH_CLOCK_NS", "40"))
    max_cycles = int(os.environ.get("SNN_FLASH_MAX_CYCLES", "4000000"))
    cocotb.start_soon(Clock(dut.clk, period, unit="ns", impl="gpi").start())
    dut.rx.value = 1
    dut.cipo.value = 1
    out: dict[str, np.ndarray] = {}
    for i in range(len(cases["names"])):
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        flash = SPIFlashModel(dut, cases[f"flash_{i}"].tobytes(), offset)
        model = cocotb.start_soon(flash.run())
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        await First(RisingEdge(dut.boot_done), RisingEdge(dut.boot_error), Timer(max_cycles * period, "ns"))
        await ClockCycles(dut.clk, 4)
        for j in range(int(cases[f"n_talk_{i}"])):
            reply: list[int] = []
            rx_task = cocotb.start_soon(_receive(dut, int(cases[f"reply_len_{i}_{j}"]), div, period, reply))
            await send_bytes(dut, cases[f"send_{i}_{j}"].tobytes(), div, period)
            await First(rx_task, Timer(max_cycles * period, "ns"))
            if not rx_task.done():
                rx_task.cancel()
            out[f"reply_{i}_{j}"] = np.array(reply, dtype=np.uint8)
        model.cancel()
    np.savez(os.environ["SNN_FLASH_OUT"], **out)

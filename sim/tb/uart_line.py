"""``sim.tb.uart_line``: the host's side of an 8N1 UART line in cocotb benches.

Both helpers follow the bit timing of ``hw.cores.uart`` (``divisor`` clock cycles
per bit; frames from :func:`hw.cores.uart.frame_bits`), driving ``dut.rx`` and
sampling ``dut.tx`` on ``dut.clk``.
"""

from __future__ import annotations

from cocotb.triggers import ClockCycles, ReadOnly

from hw.cores.uart import frame_bits

__all__ = ["send_bytes", "sample_frame"]


async def send_bytes(dut, data: bytes, div: int) -> None:
    """Drive ``data`` onto ``dut.rx``, frame after frame with no idle time between them."""
    for byte in data:
        for level in frame_bits(byte):
            dut.rx.value = level
            await ClockCycles(dut.clk, div)


async def sample_frame(dut, div: int) -> tuple[int, bool]:
    """Call right after the falling edge of a start bit on ``dut.tx``: samples the middle of
    each data bit and of the stop bit; returns ``(byte, stop bit was 1)`` (ends in ReadOnly)."""
    await ClockCycles(dut.clk, div + div // 2)   # middle of data bit 0
    byte = 0
    for i in range(8):
        await ReadOnly()
        byte |= int(dut.tx.value) << i
        await ClockCycles(dut.clk, div)
    await ReadOnly()
    return byte, int(dut.tx.value) == 1

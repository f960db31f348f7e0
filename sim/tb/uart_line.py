"""``sim.tb.uart_line``: the host's side of an 8N1 UART line in cocotb benches.

Both helpers follow the bit timing of ``hw.cores.uart`` (``divisor`` clock cycles
per bit; frames from :func:`hw.cores.uart.frame_bits`), driving ``dut.rx`` and
sampling ``dut.tx`` on ``dut.clk``.  They wait with :func:`clock_cycles`, which costs
three simulator callbacks per wait where cocotb's ``ClockCycles`` costs one per cycle.
"""

from __future__ import annotations

from cocotb.triggers import ReadOnly, RisingEdge, Timer

from hw.cores.uart import frame_bits

__all__ = ["clock_cycles", "send_bytes", "sample_frame"]


async def clock_cycles(clk, n: int, period_ns: float) -> None:
    """Return right after the ``n``-th rising edge of ``clk`` from now, as
    ``await ClockCycles(clk, n)`` does, for a clock of period ``period_ns``.

    The first edge aligns the wait with the clock, a ``Timer`` skips to half a period
    before the last edge, and the last edge ends it: the caller resumes in the same
    edge callback ``ClockCycles`` would have resumed it in.
    """
    if n < 1:
        raise ValueError(f"wait for at least one clock edge, not {n}")
    await RisingEdge(clk)
    if n > 1:
        await Timer((n - 1.5) * period_ns, "ns")
        await RisingEdge(clk)


async def send_bytes(dut, data: bytes, div: int, period_ns: float) -> None:
    """Drive ``data`` onto ``dut.rx``, frame after frame with no idle time between them."""
    for byte in data:
        for level in frame_bits(byte):
            dut.rx.value = level
            await clock_cycles(dut.clk, div, period_ns)


async def sample_frame(dut, div: int, period_ns: float) -> tuple[int, bool]:
    """Call right after the falling edge of a start bit on ``dut.tx``: samples the middle of
    each data bit and of the stop bit; returns ``(byte, stop bit was 1)`` (ends in ReadOnly)."""
    await clock_cycles(dut.clk, div + div // 2, period_ns)   # middle of data bit 0
    byte = 0
    for i in range(8):
        await ReadOnly()
        byte |= int(dut.tx.value) << i
        await clock_cycles(dut.clk, div, period_ns)
    await ReadOnly()
    return byte, int(dut.tx.value) == 1

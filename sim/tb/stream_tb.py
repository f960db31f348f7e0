"""cocotb bench that streams sample frames through the UART pins of ``HostInterface`` (top ``snn_host``).

Driven by ``sim.tb.host_stream.run_stream``.  Environment: ``SNN_STREAM_DATA``
(npz: ``div``, ``n_out``, ``timesteps``, ``window``, ``boot_addr``/``boot_data``
weight words written through the boot port before anything else (empty: none),
``boot_done``, and per phase ``p{i}_bytes`` (all frames concatenated) with
``p{i}_sizes`` (bytes per frame)) and ``SNN_STREAM_OUT`` (npz written back).

The host side keeps the protocol's flow-control rule (``hw.cores.link.WINDOW``
frames in flight; a reply's first byte is the credit for the next frame) and
sends frames back to back otherwise, bit by bit at ``div`` cycles per bit.  A
phase starts once every reply of the previous one has arrived.  Times are
clock cycles since reset ends: for each frame its first start bit on ``rx``,
for each reply its first start bit and the end of its last stop bit on ``tx``.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time

from hw.cores.link import INFO_REPLY_BYTES, WINDOW, reply_bytes
from sim.tb.uart_line import clock_cycles, sample_frame, send_bytes

PERIOD_NS = 10


class _Line:
    """Replies decoded from ``tx``: bytes with their start times, grouped into frames."""

    def __init__(self, n_out: int, timesteps: int) -> None:
        self.sizes = {ord("R"): reply_bytes(n_out, timesteps, "S"), ord("r"): reply_bytes(n_out, timesteps, "p"),
                      ord("I"): INFO_REPLY_BYTES}
        self.replies: list[bytes] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.headers = 0
        self.credit = Event()
        self.complete = Event()
        self._cur = bytearray()
        self._need = 0

    def byte(self, value: int, start: int, end: int) -> None:
        if not self._cur:
            self._need = self.sizes.get(value, 1)
            self.starts.append(start)
            self.headers += 1
            self.credit.set()
        self._cur.append(value)
        if len(self._cur) == self._need:
            self.replies.append(bytes(self._cur))
            self.ends.append(end)
            self._cur = bytearray()
            self.complete.set()


def _now(dut) -> int:
    return int(round(get_sim_time("ns") / PERIOD_NS))


async def _monitor(dut, line: _Line, div: int) -> None:
    while True:
        await FallingEdge(dut.tx)
        start = _now(dut)
        value, stop = await sample_frame(dut, div, PERIOD_NS)
        assert stop, f"framing error on tx at cycle {_now(dut)}"
        line.byte(value, start, start + 10 * div)
        await RisingEdge(dut.clk)


@cocotb.test()
async def stream(dut) -> None:
    d = np.load(os.environ["SNN_STREAM_DATA"])
    div, window = int(d["div"]), int(d.get("window", WINDOW))
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    for sig in (dut.boot_en, dut.boot_done, dut.boot_addr, dut.boot_data):
        sig.value = 0
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    mask = (1 << len(dut.boot_data)) - 1
    if len(d["boot_addr"]):
        dut.boot_en.value = 1
        for a, w in zip(d["boot_addr"].tolist(), d["boot_data"].tolist()):
            dut.boot_addr.value = a
            dut.boot_data.value = w & mask
            await RisingEdge(dut.clk)
        dut.boot_en.value = 0
    if int(d["boot_done"]):
        dut.boot_done.value = 1
        await RisingEdge(dut.clk)
        dut.boot_done.value = 0
    await ClockCycles(dut.clk, 4)

    line = _Line(int(d["n_out"]), int(d["timesteps"]))
    cocotb.start_soon(_monitor(dut, line, div))
    out: dict[str, np.ndarray] = {}
    i = 0
    while f"p{i}_bytes" in d:
        data, sizes = d[f"p{i}_bytes"].tobytes(), d[f"p{i}_sizes"].tolist()
        first = len(line.replies)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        sends = []
        for k in range(len(sizes)):
            while line.headers - first < k - window + 1:  # flow control: wait for a credit
                line.credit.clear()
                await line.credit.wait()
                await RisingEdge(dut.clk)
            sends.append(_now(dut))
            await send_bytes(dut, data[offsets[k]:offsets[k + 1]], div, PERIOD_NS)
        while len(line.replies) - first < len(sizes):
            line.complete.clear()
            try:
                await with_timeout(line.complete.wait(), int(d["timeout"]) * PERIOD_NS, "ns")
            except SimTimeoutError:
                raise AssertionError(f"phase {i}: no reply {len(line.replies) - first + 1} of {len(sizes)} "
                                     f"within {int(d['timeout'])} cycles") from None
        got = line.replies[first:]
        out[f"p{i}_replies"] = np.frombuffer(b"".join(got), dtype=np.uint8)
        out[f"p{i}_reply_sizes"] = np.array([len(r) for r in got])
        out[f"p{i}_send"] = np.array(sends)
        out[f"p{i}_reply_start"] = np.array(line.starts[first:])
        out[f"p{i}_reply_end"] = np.array(line.ends[first:])
        await clock_cycles(dut.clk, 2 * div, PERIOD_NS)
        i += 1
    np.savez(os.environ["SNN_STREAM_OUT"], **out)

"""cocotb bench of a build's netlist (harness ``snn_netlist_tb``), driven by ``sim.tb.netlist``.

It talks to the design only through the UART pins, with the frames of
``sw.host.protocol``: ``info``, the ``load`` frames of the banks the bitstream lacks outside SPRAM (or, when
only SPRAM needs loading, an empty frame: count 0 marks the weights loaded without a
write; the SPRAM contents come from the backdoor image, see ``sim.tb.netlist``),
then one ``sample`` per input.

Environment: ``SNN_NL_DATA`` (npz: ``x`` raw samples, ``n_input``, ``n_output``,
``divisor``, ``clock_mhz``, ``needs_load``, the ``'W'`` frames to send as ``load_addrs``,
``load_counts`` and their concatenated ``load_words``,
``timeout_cycles``) and ``SNN_NL_OUT`` (npz written with ``counts``, ``pred``,
``cycles``).  The comparison with the golden model is done by the caller.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, First, Timer

from sw.host import protocol


class _Uart:
    """8N1 at ``bit_ps`` per bit on the harness pins ``rx`` (driven) and ``tx`` (read)."""

    def __init__(self, dut, bit_ps: int) -> None:
        self.dut, self.bit_ps = dut, bit_ps
        self.received = bytearray()
        self._got = Event()
        dut.rx.value = 1
        cocotb.start_soon(self._receive())

    async def send(self, data: bytes) -> None:
        for byte in data:
            for level in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx.value = level
                await Timer(self.bit_ps, unit="ps")

    async def _receive(self) -> None:
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ps + self.bit_ps // 2, unit="ps")
            byte = 0
            for i in range(8):
                byte |= int(self.dut.tx.value) << i    # an x/z line raises here
                await Timer(self.bit_ps, unit="ps")
            assert int(self.dut.tx.value) == 1, "UART tx: missing stop bit"
            self.received.append(byte)
            self._got.set()

    async def read(self, n: int, timeout_ps: int) -> bytes:
        """The next ``n`` bytes from tx; fails after ``timeout_ps`` without them."""
        end = get_sim_time("ps") + timeout_ps
        while len(self.received) < n:
            left = int(end - get_sim_time("ps"))
            if left <= 0:
                raise AssertionError(f"UART tx: {len(self.received)} of {n} bytes before the timeout "
                                     f"({bytes(self.received)!r})")
            self._got.clear()
            await First(self._got.wait(), Timer(left, unit="ps"))
        out = bytes(self.received[:n])
        del self.received[:n]
        return out


async def _heartbeat(dut, every_ps: int) -> None:
    """Log the simulated time now and then (a gate-level run is long; this shows it moves)."""
    while True:
        await Timer(every_ps, unit="ps")
        dut._log.info("still running")


@cocotb.test()
async def run_samples(dut) -> None:
    data = np.load(os.environ["SNN_NL_DATA"])
    x = data["x"]
    n_in, n_out, divisor = int(data["n_input"]), int(data["n_output"]), int(data["divisor"])
    period_ps = max(2, round(1e6 / float(data["clock_mhz"]) / 2) * 2)
    timeout_ps = int(data["timeout_cycles"]) * period_ps
    cocotb.start_soon(Clock(dut.clk, period_ps, unit="ps", impl="gpi").start())
    dut.dump.value = 0
    uart = _Uart(dut, divisor * period_ps)
    cocotb.start_soon(_heartbeat(dut, int(os.environ.get("SNN_NL_HEARTBEAT_CYCLES", "50000")) * period_ps))
    await Timer(64 * period_ps, unit="ps")          # PLL "lock" + power-on reset

    await uart.send(protocol.info_request())
    # generous first timeout: a boot loader may look at the (blank) flash before the UART answers
    info = protocol.parse_info(await uart.read(protocol.INFO_REPLY_SIZE, 20 * timeout_ps))
    assert (info.n_input, info.n_output) == (n_in, n_out), f"device reports {info}"
    dut._log.info("device: %s", info)
    assert info.needs_load == bool(data["needs_load"]), f"device reports {info}"
    if info.needs_load:
        assert not info.loaded, "nothing was loaded over the UART (blank flash) but the device says loaded"
    words, start = data["load_words"], 0
    for address, count in zip(data["load_addrs"].tolist(), data["load_counts"].tolist()):
        await uart.send(protocol.load_request(int(address), words[start:start + count]))
        start += count
        ack = await uart.read(1, timeout_ps)
        assert ack == b"K", f"load frame at {address} ({count} words) answered {ack!r}"
        dut._log.info("load frame at %d: %d words acknowledged", address, count)

    counts = np.zeros((len(x), n_out), dtype=np.int64)
    pred = np.zeros(len(x), dtype=np.int64)
    cycles = np.zeros(len(x), dtype=np.int64)
    size = protocol.sample_reply_size(n_out)
    for i, sample in enumerate(x):
        await uart.send(protocol.sample_request(sample, n_in))
        reply = protocol.parse_sample_reply(await uart.read(size, timeout_ps), n_out)
        counts[i], pred[i], cycles[i] = reply.spike_counts, reply.prediction, reply.cycles
        dut._log.info("sample %d: class %d, %d cycles", i, reply.prediction, reply.cycles)
        np.savez(os.environ["SNN_NL_OUT"], counts=counts[:i + 1], pred=pred[:i + 1], cycles=cycles[:i + 1])
    dut.dump.value = 1                              # the harness writes the SPRAM contents out
    await Timer(period_ps, unit="ps")

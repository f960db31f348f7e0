"""cocotb testbench of the network core (``snn_core``), driven by ``sim.tb.network.run_plan_rtl``.

Environment: ``SNN_TB_DATA`` (npz: ``x`` raw samples, ``ld_addr``/``ld_data``
weight words for the load port, ``n_out``, ``width``, ``n_layers``, ``trace``) and
``SNN_TB_OUT`` (npz written with ``counts``, ``pred``, ``cycles`` and, with ``trace``,
``events``: rows ``(sample, layer, step, neuron)``, one per spike appended to a
layer's spike list, read from the trace signals ``layer<i>.spike_valid`` /
``layer<i>.spike_index`` / ``layer<i>.step`` once per cycle).  The comparison with the
golden model is done by the caller; this bench only runs the hardware.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge


@cocotb.test()
async def run_samples(dut) -> None:
    data = np.load(os.environ["SNN_TB_DATA"])
    x, ld_addr, ld_data = data["x"], data["ld_addr"], data["ld_data"]
    n_out, mask = int(data["n_out"]), (1 << int(data["width"])) - 1
    trace = bool(data["trace"]) if "trace" in data else False
    probes = [(getattr(dut, f"layer{li}").spike_valid, getattr(dut, f"layer{li}").spike_index,
               getattr(dut, f"layer{li}").step) for li in range(int(data["n_layers"]))] if trace else []
    events: list[tuple[int, int, int, int]] = []
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())
    for sig in (dut.x_we, dut.start, dut.ld_en, dut.x_waddr, dut.x_wdata, dut.cnt_raddr,
                dut.ld_addr, dut.ld_data):
        sig.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await FallingEdge(dut.clk)

    dut.ld_en.value = 1
    for a, w in zip(ld_addr.tolist(), ld_data.tolist()):
        dut.ld_addr.value = a
        dut.ld_data.value = w & mask
        await FallingEdge(dut.clk)
    dut.ld_en.value = 0

    counts = np.zeros((len(x), n_out), dtype=np.int64)
    pred = np.zeros(len(x), dtype=np.int64)
    cycles = np.zeros(len(x), dtype=np.int64)
    for i, sample in enumerate(x.tolist()):
        dut.x_we.value = 1
        for j, v in enumerate(sample):
            dut.x_waddr.value = j
            dut.x_wdata.value = v & mask
            await FallingEdge(dut.clk)
        dut.x_we.value = 0
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        if trace:  # registered trace signals, sampled between the edges
            while not int(dut.done.value):
                for li, (valid, index, step) in enumerate(probes):
                    if int(valid.value):
                        events.append((i, li, int(step.value), int(index.value)))
                await FallingEdge(dut.clk)
        else:
            await RisingEdge(dut.done)
            await FallingEdge(dut.clk)
        for o in range(n_out):
            dut.cnt_raddr.value = o
            await FallingEdge(dut.clk)
            counts[i, o] = int(dut.cnt_rdata.value)
        pred[i] = int(dut.pred.value)
        cycles[i] = int(dut.cycles.value)
    np.savez(os.environ["SNN_TB_OUT"], counts=counts, pred=pred, cycles=cycles,
             events=np.array(events, dtype=np.int64).reshape(-1, 4))

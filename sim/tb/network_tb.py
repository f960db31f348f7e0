"""cocotb testbench of the network core, driven by ``sim.tb.network.run_plan_rtl``.

The top is the harness ``snn_core_tb`` (``sim.tb.network.write_harness``): the core's
ports plus ``trace_sample``, which this bench sets to the running sample's number; the
harness's HDL monitor writes the spike trace (``+snn_trace=FILE``) at simulator speed.

Environment: ``SNN_TB_DATA`` (npz: ``x`` raw samples, ``ld_addr``/``ld_data``
weight words for the load port, ``n_out``, ``width``, ``trace``) and
``SNN_TB_OUT`` (npz written with ``counts``, ``pred``, ``cycles``).  The comparison with
the golden model is done by the caller; this bench only runs the hardware.
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
        if trace:
            dut.trace_sample.value = i
        dut.x_we.value = 1
        for j, v in enumerate(sample):
            dut.x_waddr.value = j
            dut.x_wdata.value = v & mask
            await FallingEdge(dut.clk)
        dut.x_we.value = 0
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        await RisingEdge(dut.done)
        await FallingEdge(dut.clk)
        for o in range(n_out):
            dut.cnt_raddr.value = o
            await FallingEdge(dut.clk)
            counts[i, o] = int(dut.cnt_rdata.value)
        pred[i] = int(dut.pred.value)
        cycles[i] = int(dut.cycles.value)
    np.savez(os.environ["SNN_TB_OUT"], counts=counts, pred=pred, cycles=cycles)

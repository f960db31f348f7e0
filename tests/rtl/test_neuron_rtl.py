"""RTL == golden step, bit for bit: every compiled cell's Verilog in the RTL simulator via cocotb 2.

Each datapath gets >= 10 000 random vectors (typical values, the format's
extremes and uniform raws, so every saturation path fires); the
time-multiplexed NeuronArray gets a few thousand clocked updates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw.compiler import compile_cell, compile_ode
from hw.compiler.vectors import array_requests, datapath_vectors, save_vectors
from hw.fixed import QFormat
from sim.tb.runner import run_cocotb
from sim.tb.verilog_cache import component_verilog
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.rtl

N_VECTORS = 10_000


def _run_datapath(neuron, tmp_path: Path, seed: int) -> dict[str, np.ndarray]:
    vec = datapath_vectors(neuron, N_VECTORS, seed=seed)
    path = save_vectors(tmp_path / "vectors.npz", vec, mode="datapath", width=neuron.fmt.width)
    (tmp_path / "neuron.v").write_text(component_verilog(type(neuron).datapath, neuron, name="neuron"))
    run_cocotb(verilog_sources=[tmp_path / "neuron.v"], toplevel="neuron", test_module="sim.tb.neuron_tb",
               ports_only=True, build_dir=tmp_path / "sim", extra_env={"NEURON_TB_VECTORS": str(path)})
    return vec


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_cell_datapath_bit_exact(kind: str, tmp_path: Path) -> None:
    neuron = compile_cell(kind)
    vec = _run_datapath(neuron, tmp_path, seed=sorted(CELL_EQUATIONS).index(kind))
    # the stimuli really reach the limits: some outputs saturate, some neurons spike, some don't
    outs = np.concatenate([vec[f"out_{s}"] for s in neuron.states])
    assert (outs == neuron.fmt.max_raw).any() or (outs == neuron.fmt.min_raw).any()
    assert 0 < vec["spike"].sum() < N_VECTORS


@pytest.mark.parametrize("fmt", [QFormat(8, 8, "wrap", "truncate"), QFormat(6, 10, "saturate", "banker")],
                         ids=str)
def test_other_formats_bit_exact(fmt: QFormat, tmp_path: Path) -> None:
    """Overflow and rounding options reach the HDL identically (adex uses every kind of op)."""
    _run_datapath(compile_cell("adex", fmt=fmt), tmp_path, seed=99)


def test_ode_datapath_bit_exact(tmp_path: Path) -> None:
    neuron = compile_ode("dv/dt = -(v - E_L)/tau_m + I/C", threshold="v > -50", reset="v = -65",
                         params={"E_L": -65.0, "tau_m": 10.0, "C": 2.0}, dt=0.5)
    _run_datapath(neuron, tmp_path, seed=7)


@pytest.mark.parametrize("kind,n_neurons", [("lif", 1), ("adex", 7), ("alpha", 16)])
def test_neuron_array_bit_exact(kind: str, n_neurons: int, tmp_path: Path) -> None:
    neuron = compile_cell(kind)
    vec = array_requests(neuron, n_neurons, n_cycles=10_000, seed=n_neurons)
    assert vec["exp_spike"].sum() > 0
    path = save_vectors(tmp_path / "vectors.npz", vec, mode="array", width=neuron.fmt.width)
    (tmp_path / "array.v").write_text(component_verilog(type(neuron).neuron_array, neuron, n_neurons,
                                                         name="neuron_array"))
    run_cocotb(verilog_sources=[tmp_path / "array.v"], toplevel="neuron_array", test_module="sim.tb.neuron_tb",
               ports_only=True, build_dir=tmp_path / "sim", extra_env={"NEURON_TB_VECTORS": str(path)})


def test_testbench_reports_a_wrong_golden_value(tmp_path: Path) -> None:
    """The comparison can fail: one corrupted expected value is caught and named."""
    neuron = compile_cell("lif")
    vec = datapath_vectors(neuron, 200, seed=3)
    vec["out_v"][17] ^= 1
    path = save_vectors(tmp_path / "vectors.npz", vec, mode="datapath", width=neuron.fmt.width)
    (tmp_path / "neuron.v").write_text(component_verilog(type(neuron).datapath, neuron, name="neuron"))
    with pytest.raises(AssertionError, match="vector 17: out_v RTL="):
        run_cocotb(verilog_sources=[tmp_path / "neuron.v"], toplevel="neuron", test_module="sim.tb.neuron_tb",
                   ports_only=True, build_dir=tmp_path / "sim", extra_env={"NEURON_TB_VECTORS": str(path)})


def test_cli_writes_a_testbench_that_passes(tmp_path: Path) -> None:
    """`python -m hw.compiler ... -o DIR` output runs as is (its own run_tb.py, no repo imports)."""
    import subprocess
    import sys

    out = tmp_path / "ode"
    cmd = [sys.executable, "-m", "hw.compiler", "dv/dt = -(v - E_L)/tau_m + I/C", "--threshold", "v > -50",
           "--reset", "v = -65", "--params", "E_L=-65,tau_m=10,C=2", "--dt", "0.5", "--vectors", "2000", "-o", str(out)]
    repo = Path(__file__).resolve().parents[2]
    subprocess.run(cmd, check=True, cwd=repo, capture_output=True, text=True)
    done = subprocess.run([sys.executable, str(out / "run_tb.py")], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cocotb: 1 passed, 0 failed, 1 skipped" in done.stdout

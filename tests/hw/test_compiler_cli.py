"""The `python -m hw.compiler` command line (files written; clear errors; `--run` on Icarus).
Running the written run_tb.py on its own is in tests/rtl/test_neuron_rtl.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hw.compiler.__main__ import main


def test_cli_ode_writes_verilog_testbench_and_vectors(tmp_path: Path, capsys) -> None:
    rc = main(["dv/dt = -(v - E_L)/tau_m + I/C", "--threshold", "v > -50", "--reset", "v = -65",
               "--params", "E_L=-65,tau_m=10,C=2", "--dt", "0.5", "--vectors", "300", "-o", str(tmp_path)])
    assert rc == 0
    verilog = (tmp_path / "neuron.v").read_text()
    assert "module neuron(" in verilog and "input signed [15:0] in_I" in verilog
    assert "async def datapath_matches_golden" in (tmp_path / "neuron_tb.py").read_text()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["states"] == ["v"] and manifest["format"] == "Q8.8"
    with np.load(tmp_path / "vectors.npz") as vec:
        assert len(vec["spike"]) == 300 and vec["spike"].sum() > 0
    assert "run_tb.py" in capsys.readouterr().out


def test_cli_cell_with_format_and_name(tmp_path: Path) -> None:
    rc = main(["--cell", "adex", "--params", "b=0.2", "--format", "Q6.10", "--rounding", "banker",
               "--name", "adex_core", "--vectors", "50", "-o", str(tmp_path)])
    assert rc == 0
    assert "module adex_core(" in (tmp_path / "adex_core.v").read_text()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "Q6.10" and manifest["rounding"] == "banker"
    assert manifest["params"]["b"] == 0.2 and manifest["ops"]["exp"] == 1


@pytest.mark.parametrize("argv,match", [
    (["dv/dt = -v + I", "--threshold", "v > 1"], "needs --reset, --dt"),
    (["v = v + I\nspike = v > 1"], "need --states"),
    (["--cell", "lif", "--params", "beta"], "must look like name=value"),
    (["--cell", "lif", "--format", "8-8"], "looks like Q8.8"),
    (["--cell", "lif", "--format", "Q20.20"], "width 40 > 32"),
    (["dv/dt = -v + I/C", "--threshold", "v > 1", "--reset", "v = 0", "--dt", "0.1", "--params", "C=1000"],
     "underflows"),
])
def test_cli_errors_are_clear(argv, match, tmp_path: Path, capsys) -> None:
    assert main([*argv, "-o", str(tmp_path)]) == 2
    assert match in capsys.readouterr().err


@pytest.mark.rtl
def test_cli_run_simulates_and_counts_as_cocotb_does(tmp_path: Path) -> None:
    """`python -m hw.compiler ... --run` runs the testbench; a wrong golden vector makes it fail."""
    import subprocess
    import sys

    out = tmp_path / "lif"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "hw.compiler", "--cell", "lif", "--vectors", "300", "-o", str(out), "--run"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # neuron_tb.py has a datapath test (runs) and an array test (skipped in datapath mode)
    assert "cocotb: 1 passed, 0 failed, 1 skipped" in done.stdout
    assert "testbench passed: 300 vectors bit-exact" in done.stdout

    with np.load(out / "vectors.npz") as vec:
        data = {k: vec[k] for k in vec.files}
    data["out_v"][7] += 1                                   # one wrong golden output
    np.savez(out / "vectors.npz", **data)
    rerun = subprocess.run([sys.executable, str(out / "run_tb.py")], cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 1
    assert "cocotb: 0 passed, 1 failed, 1 skipped" in rerun.stdout

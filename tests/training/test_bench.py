"""The benchmarks run end to end (tiny sizes; the figures themselves are not asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_train_throughput_runs():
    out = _run("bench/train_throughput.py", "--epochs", "1")
    assert "ratio sw.training / snntorch" in out and "ratio sw.training / spikingjelly" in out


@pytest.mark.slow
def test_gpu_throughput_runs_on_cpu_quick():
    out = _run("bench/gpu_throughput.py", "--device", "cpu", "--quick", "--repeats", "1")
    assert "(a)" in out and "(b)" in out and "vs SpikingJelly" in out


def test_train_cases_seed003_runs_with_both_loops():
    """Case 5 (seed 003) with the C loops and the Python loops; BrainPy is a bench-only peer."""
    out = _run("bench/train_cases.py", "--cases", "5", "--quick", "--no-memory", "--skip", "brainpy")
    assert "case 5: 100-4-2" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ours")}
    assert set(lines) == {"ours", "ours-pyloops"} and lines["ours-pyloops"].rstrip().endswith("x")


def test_train_cases_static_digits_runs_against_every_torch_peer():
    """Case 1 with snnTorch (both loops), SpikingJelly (both) and Norse: every row printed
    with its ratio."""
    out = _run("bench/train_cases.py", "--cases", "1", "--quick", "--no-memory")
    rows = {ln.split()[0]: ln for ln in out.splitlines()
            if ln.startswith("  ") and len(ln.split()) == 4 and ln.split()[0] != "variant"}
    assert set(rows) == {"ours", "snntorch", "snntorch-l1once", "sj", "sj-l1once", "norse"}, out
    assert all(rows[k].rstrip().endswith("x") for k in rows if k != "ours")


def test_train_throughput_cases_runs_train_cases():
    """``train_throughput.py --cases N ...`` is the five-case comparison of train_cases.py."""
    out = _run("bench/train_throughput.py", "--cases", "5", "--quick", "--no-memory", "--skip", "brainpy")
    assert "case 5: 100-4-2" in out and "case 1:" not in out

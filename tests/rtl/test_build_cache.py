"""The Verilator build cache (``sim.tb.build_cache``): reuse only what is the same design.

Each test builds a one-line adder for real with Verilator and runs a cocotb check on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.tb import build_cache
from sim.tb.runner import run_cocotb

pytestmark = pytest.mark.rtl

_TB = '''
import os

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def adds_its_constant(dut):
    dut.a.value = 5
    await Timer(1, "ns")
    assert int(dut.y.value) == 5 + int(os.environ["PROBE_K"]), int(dut.y.value)
'''


def _run(tmp: Path, name: str, k: int, expect: int | None = None) -> Path:
    """Build ``y = a + k`` and check it adds ``expect`` (default ``k``); the run's folder."""
    folder = tmp / name
    folder.mkdir()
    (folder / "probe.v").write_text(f"module probe(input [7:0] a, output [7:0] y);\n"
                                    f"  assign y = a + 8'd{k};\nendmodule\n")
    (folder / "sim").mkdir()
    (folder / "sim" / "cache_probe_tb.py").write_text(_TB)
    run_cocotb(verilog_sources=[folder / "probe.v"], toplevel="probe", test_module="cache_probe_tb",
               build_dir=folder / "sim", simulator="verilator",
               extra_env={"PROBE_K": str(k if expect is None else expect)})
    return folder / "sim"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(build_cache.CACHE_ENV, str(root))
    return root


def test_the_same_design_is_built_once_and_reused(tmp_path: Path, cache: Path) -> None:
    first = _run(tmp_path, "a", 3)
    assert "reused" not in (first / "build.log").read_text()
    second = _run(tmp_path, "b", 3)
    assert "reused the Verilator build" in (second / "build.log").read_text()
    assert len(build_cache.cache_entries(cache)) == 1
    assert (second / "results.xml").is_file() and not list(second.glob("probe"))  # ran from the cache


def test_a_changed_design_is_rebuilt_never_served_stale(tmp_path: Path, cache: Path) -> None:
    _run(tmp_path, "a", 3)
    _run(tmp_path, "b", 7)
    assert len(build_cache.cache_entries(cache)) == 2
    with pytest.raises(AssertionError, match="1 failed"):
        _run(tmp_path, "c", 7, expect=3)  # the k=7 build, checked against k=3: the check can fail


def test_off_builds_in_the_test_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build_cache.CACHE_ENV, "off")
    assert build_cache.build_cache_root() is None
    sim = _run(tmp_path, "a", 3)
    assert (sim / "probe").is_file() and "reused" not in (sim / "build.log").read_text()


def test_a_failed_build_caches_nothing(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "probe.v").write_text("module probe(input a, output y); assign y = ; endmodule\n")
    with pytest.raises(AssertionError, match="verilator build of probe failed"):
        run_cocotb(verilog_sources=[folder / "probe.v"], toplevel="probe", test_module="cache_probe_tb",
                   build_dir=folder / "sim", simulator="verilator")
    assert build_cache.cache_entries(cache) == [] and not list(cache.glob("*.tmp"))


def test_only_the_newest_entries_stay(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_cache, "CACHE_ENTRIES", 2)
    for k in (1, 2, 3):
        _run(tmp_path, f"k{k}", k)
    _run(tmp_path, "again2", 2)  # a hit makes k=2 the newest
    _run(tmp_path, "k4", 4)
    kept = build_cache.cache_entries(cache)
    assert len(kept) == 2
    assert "reused" in (_run(tmp_path, "hit2", 2) / "build.log").read_text()
    assert "reused" in (_run(tmp_path, "hit4", 4) / "build.log").read_text()
    assert "reused" not in (_run(tmp_path, "miss1", 1) / "build.log").read_text()

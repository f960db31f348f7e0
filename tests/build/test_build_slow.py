"""``python -m hw.build`` for real (yowasp yosys + nextpnr + icepack) on a small network.

Slow (minutes per build): ``pytest -m slow tests/build/test_build_slow.py``.
One build at the board's clock must pass the sign-off of every path group, with every
SB_MAC16 registered on the core clock; one at a clock the PLL makes but the design cannot
reach builds only with ``--allow-timing-fail`` (recorded in report.json), and the sign-off
refuses its report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw.build import TimingError, main, sign_off
from hw.ir import Dense, Network, Neuron
from hw.timing import dsp_registers, operand_registered
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.slow

ICE40_BIN_PREAMBLE = bytes.fromhex("7eaa997e")
"""The iCE40 configuration sync word every bitstream starts with (after an optional comment)."""


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A 16-16-4 LIF network (hw.ir artifact): quick to synthesise, uses the first layer's DSPs."""
    rng = np.random.default_rng(5)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    net = Network([Dense("h", rng.normal(0.05, 0.25, (16, 16)), rng.normal(0, 0.1, 16), neuron),
                   Dense("o", rng.normal(0.05, 0.25, (4, 16)), rng.normal(0, 0.1, 4), neuron)],
                  (16,), timesteps=8, name="small16")
    return net.save(tmp_path_factory.mktemp("model") / "small16.npz")


def test_build_artifact_to_bitstream_passes_sign_off(small_model, tmp_path, capsys) -> None:
    out = tmp_path / "build"
    assert main(["--model", str(small_model), "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("resources", "lc_fraction", "clock_mhz", "fmax", "fmax_mhz", "timing_met", "timing",
                "cycles_per_inference", "inferences_per_second", "layers", "uart", "bitstream"):
        assert key in report, key
    t = report["timing"]
    assert report["timing_met"] is True and t["timing_met"] is True and t["allow_timing_fail"] is False
    assert t["foreign_clocks"] == [] and not t["problems"]
    names = {g["group"] for g in t["groups"]}
    assert "posedge clk -> posedge clk" in names
    assert all(g["met"] and g["delay_ns"] <= g["required_ns"] for g in t["groups"])
    assert report["fmax_mhz"] >= report["clock_mhz"]
    assert "PACKER_GND" not in (out / "pnr.log").read_text()
    # every SB_MAC16: clocked by the core clock, product registered inside, each operand from a
    # register (its input register, or flip-flops / RAM read data that other logic reads too)
    dsps = dsp_registers(json.loads((out / "snn_top.json").read_text()))
    assert len(dsps) == report["resources"]["dsp"]["used"] > 0
    assert all(d["clock"] == "clk" and operand_registered(d, "a") and operand_registered(d, "b")
               and d["out_reg"] for d in dsps), dsps
    assert report["dsp_cells"]["registered_on_core_clock"] == len(dsps)
    # the real Verilog of the whole design, not amaranth's placeholder
    verilog = (out / "snn_top.v").read_text()
    assert "module snn_top(" in verilog and "Debug Verilog generation was disabled" not in verilog
    for layer in ("layer0", "layer1"):
        assert f"module \\snn_top.host.core.{layer} (" in verilog, layer
    bitstream = (out / "snn_top.bin").read_bytes()
    assert ICE40_BIN_PREAMBLE in bitstream[:64] and len(bitstream) > 100_000
    assert "Fmax" in capsys.readouterr().out


def test_clock_above_fmax_builds_only_when_allowed_and_fails_sign_off(small_model, tmp_path, capsys) -> None:
    """120 MHz: the PLL makes it (12 MHz x 80 / 8); this engine on an iCE40 does not reach it.

    Built once with ``--allow-timing-fail`` (exit 0, recorded); the sign-off the build runs without
    the flag is fed that run's report and must refuse it (main maps that ``TimingError`` to exit 1:
    ``tests/build/test_build_cli.py``).
    """
    out = tmp_path / "fast"
    assert main(["--model", str(small_model), "--out", str(out), "--clock-mhz", "120", "-q",
                 "--allow-timing-fail"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["clock_mhz"] == 120.0
    assert report["timing_met"] is False and report["timing"]["allow_timing_fail"] is True
    failing = [g for g in report["timing"]["groups"] if not g["met"]]
    assert any(g["group"] == "posedge clk -> posedge clk" for g in failing)
    assert (out / "snn_top.bin").is_file()
    assert "timing NOT met" in capsys.readouterr().out
    with pytest.raises(TimingError) as err:
        sign_off(out, report["clock_mhz"])
    text = str(err.value)
    assert text.startswith("timing sign-off failed at 120 MHz") and "posedge clk -> posedge clk" in text
    assert "--clock-mhz" in text


def test_hx8k_builds_out_of_the_box(tmp_path, capsys) -> None:
    """``python -m hw.build --board hx8k`` with no other argument: its built-in 64-32-10 model
    (the digits net's weights do not fit 32 EBR without SPRAM), timing signed off."""
    out = tmp_path / "hx8k"
    assert main(["--board", "hx8k", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["timing_met"] is True and report["network"] == "digits-64-32-10"
    assert report["resources"]["lc"]["used"] <= report["resources"]["lc"]["available"]
    assert ICE40_BIN_PREAMBLE in (out / "snn_top.bin").read_bytes()[:64]

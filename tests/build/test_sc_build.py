"""``python -m hw.build --arith sc`` end to end (slow: a real synthesis, place and route)."""

import json

import pytest

from hw.build import main
from hw.models import default_model_path

pytestmark = pytest.mark.slow


def test_sc_build_of_digits_small_signs_off(tmp_path, capsys):
    """The docs/sc.md row: digits-small on the SC engine at L = 2048, 64 bits a clock."""
    out = tmp_path / "sc"
    code = main(["--arith", "sc", "--model", str(default_model_path("digits-small")), "--out", str(out), "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert report["arith"] == "sc" and report["timing_met"]
    assert report["sc"] == {"length": 2048, "bits_per_cycle": 64, "sng": "sobol", "mode": "unipolar",
                            "width": 16, "base_seed": 0, "synapses": 64 * 32 + 32 * 10, "spram_pairs": 1}
    r = report["resources"]
    assert r["dsp"]["used"] == 0 and r["spram"]["used"] == 2 and r["lc"]["used"] <= 0.9 * r["lc"]["available"]
    assert report["fmax_mhz"] >= 24.0 and report["inferences_per_second"]["mean"] > 10
    assert (out / "snn_top.bin").stat().st_size > 0 and (out / "snn_weights.bin").stat().st_size > 0
    assert "SC arithmetic: 2048-bit sobol streams" in text

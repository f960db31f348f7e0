"""``python -m sim.verify`` end to end on a small subset of the digits test set."""

import json

import numpy as np
import pytest

from hw.models import load_default_model
from sim.golden import run_golden, simulate_float
from sim.verify import format_table, main, verify
from sw.training.data import load_digits_data


def _subset(n):
    _, x, _, y = load_digits_data()
    return x[:n].numpy().astype(np.float64), y[:n].numpy()


def test_report_matches_independent_runs():
    report = verify(samples=40, sc_length=256, rtl_samples=0, progress=False)
    x, y = _subset(40)
    net = load_default_model()
    f = simulate_float(net, x, progress=False)
    g = run_golden(net, x, progress=False)
    m = report["models"]
    assert report["samples"] == 40
    assert m["float"]["accuracy"] == pytest.approx(f.accuracy(y))
    assert m["golden"]["accuracy"] == pytest.approx(g.accuracy(y))
    assert report["agreement"]["float-golden"] == pytest.approx(np.mean(f.predictions == g.predictions))
    assert set(report["agreement"]) == {"float-golden", "float-sc", "golden-sc"}
    assert 0.8 <= m["sc"]["accuracy"] <= 1.0
    assert m["rtl"]["accuracy"] is None and "skipped" in m["rtl"]["status"]
    table = format_table(report)
    assert "RTL (Icarus)" in table and "skipped" in table and "not measured" in table
    assert report["goals"]["sc_vs_float"]["points"] == pytest.approx(
        100 * (m["float"]["accuracy"] - m["sc"]["accuracy"]))


def test_cli_json_and_errors(capsys, tmp_path):
    code = main(["--samples", "20", "--sc-length", "128", "--rtl-samples", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 20 and out["sc"]["length"] == 128
    assert code == (0 if out["all_goals_met"] else 1)
    assert main(["--model", str(tmp_path / "missing.npz"), "--json"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--sc-length", "0", "--samples", "5"]) == 2


@pytest.mark.rtl
def test_end_to_end_with_rtl_subset(capsys):
    code = main(["--samples", "30", "--rtl-samples", "3"])
    table = capsys.readouterr().out
    assert "bit-exact with golden on 100.0 % of samples" in table
    assert "golden-rtl" in table
    report = verify(samples=30, rtl_samples=2, progress=False)
    assert report["models"]["rtl"]["samples"] == 2
    assert report["goals"]["rtl_equals_golden"]["met"]
    assert code in (0, 1)

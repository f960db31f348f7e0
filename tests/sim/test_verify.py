"""``python -m sim.verify`` end to end on a small subset of the digits test set."""

import json

import numpy as np
import pytest

from sim.tb.runner import default_simulator

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
    assert set(report["agreement"]) == {"float-golden", "float-sc", "golden-sc", "float-sc_q88",
                                        "golden-sc_q88", "sc-sc_q88"}
    assert 0.8 <= m["sc"]["accuracy"] <= 1.0
    assert m["rtl"]["accuracy"] is None and "skipped" in m["rtl"]["status"]
    table = format_table(report)
    simulator = {"icarus": "Icarus", "verilator": "Verilator"}[default_simulator()]
    assert f"RTL ({simulator})" in table and "skipped" in table and "not measured" in table
    assert "Q8.8 quantisation: no weight or bias outside [-128, 127.996]" in table
    assert report["goals"]["better_than_chance"]["met"]
    assert [r["layer"] for r in report["saturation"]] == [l.name for l in net.layers]
    assert [r["currents_at_limit"] for r in report["saturation"]] == g.current_saturations.tolist()
    assert report["goals"]["sc_vs_float"]["points"] == pytest.approx(
        100 * (m["float"]["accuracy"] - m["sc"]["accuracy"]))


def test_saturating_artifact_is_reported_and_fails(tmp_path, capsys):
    """Weights of 1e6 (the issue's case): every model is at chance; verify says so and why."""
    net = load_default_model()
    for layer in net.layers:
        layer.weight = np.full_like(layer.weight, 1e6)
    path = net.save(tmp_path / "huge.npz")
    report = verify(path, samples=30, sc_length=32, rtl_samples=0, progress=False)
    assert report["goals"]["golden_vs_float"]["met"]        # float is just as bad: no drop ...
    chance = report["goals"]["better_than_chance"]
    assert not chance["met"] and not report["all_goals_met"]  # ... but nothing is better than chance
    assert all(c["constant"] for c in chance["models"].values())
    assert report["quantisation"].startswith("Q8.8 quantisation: 25856 weights/biases outside")
    sat = report["saturation"]
    assert [r["clipped"] for r in sat] == [64 * 128, 128 * 128, 128 * 10]
    assert all(r["currents_at_limit"] == r["currents"] > 0 for r in sat)
    table = format_table(report)
    assert "better_than_chance      NOT MET: float64 predicts class" in table
    assert "fcs.0 8192 of 8320 (8192 weight)" in table
    assert table.splitlines()[-1] == "result: goals NOT met: better_than_chance"
    assert main(["--model", str(path), "--samples", "30", "--sc-length", "32", "--rtl-samples", "0"]) == 1
    assert "goals NOT met" in capsys.readouterr().out


def test_chance_check():
    from sim.verify import chance_check

    y = np.arange(200) % 10
    assert chance_check(y, y, 10)["met"]
    guess = np.where(np.arange(200) % 20 < 3, y, (y + 1) % 10)       # 15 % right: not above 10 % + 6.4
    c = chance_check(guess, y, 10)
    assert not c["met"] and "not above chance" in c["why"] and c["margin"] == pytest.approx(3 * 0.3 / 200 ** 0.5)
    assert chance_check(np.where(np.arange(200) % 2 == 0, y, 0), y, 10)["met"]  # 55 %
    assert "class 3 for every sample" in chance_check(np.full(200, 3), y, 10)["why"]


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


def test_rtl_all_samples_option(monkeypatch, capsys):
    """``rtl_samples="all"`` hands every sample to the RTL runner in one batch and compares all of
    them with golden (a stand-in runner here: golden itself, then golden with one count changed)."""
    import sim.verify as verify_mod
    from sim.tb.network import RTLResult

    calls = []

    def fake_rtl(network, x, progress, tamper=False):
        calls.append(len(x))
        g = run_golden(network, x, progress=False)
        counts = g.spike_counts.copy()
        if tamper:
            counts[-1, 0] += 1
        return RTLResult(counts, g.predictions, np.zeros(len(x), dtype=np.int64)), None

    monkeypatch.setattr(verify_mod, "_run_rtl", fake_rtl)
    report = verify(samples=12, sc_length=64, rtl_samples="all", progress=False)
    assert calls == [12]
    assert report["models"]["rtl"]["samples"] == 12
    assert report["goals"]["rtl_equals_golden"]["met"]
    monkeypatch.setattr(verify_mod, "_run_rtl", lambda n, x, p: fake_rtl(n, x, p, tamper=True))
    report = verify(samples=12, sc_length=64, rtl_samples="all", progress=False)
    assert report["models"]["rtl"]["bit_exact_pct"] == pytest.approx(100 * 11 / 12)
    assert not report["goals"]["rtl_equals_golden"]["met"] and not report["all_goals_met"]
    assert main(["--samples", "12", "--sc-length", "64", "--rtl-samples", "ALL"]) == 1
    assert "bit-exact with golden on 91.7 % of samples" in capsys.readouterr().out
    assert calls[-1] == 12
    assert main(["--samples", "5", "--rtl-samples", "-1"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["--samples", "5", "--rtl-samples", "some"])
    assert info.value.code == 2 and "expected an int or 'all'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'all'"):
        verify(samples=5, rtl_samples="every", progress=False)


@pytest.mark.slow
@pytest.mark.rtl
def test_all_digits_test_images_on_rtl():
    """Every one of the 360 digits test images on the RTL (one simulation, all samples back to
    back), bit-exact with golden. Long on Icarus (the 100-image run took ~29 min on a loaded
    2-core machine, so ~1.5-2 h); the runner's faster simulator makes it practical."""
    report = verify(sc_length=256, rtl_samples="all", progress=False)
    assert report["samples"] == 360 and report["models"]["rtl"]["samples"] == 360
    assert report["models"]["rtl"]["bit_exact_pct"] == 100.0
    assert report["goals"]["rtl_equals_golden"]["met"]


def test_weight_bits_option(capsys):
    """--weight-bits: golden (and its row) at the chosen precision; every precision listed;
    auto picks the narrowest within 0.5 points of float; bad values exit 2."""
    from hw.quantize import quantize_network

    x, y = _subset(60)
    net = load_default_model()
    report = verify(samples=60, sc_length=32, rtl_samples=0, progress=False, weight_bits=[8, 4, 4])
    assert report["weight_bits"] == [8, 4, 4] and report["weight_shift"] == [0, 3, 4]
    g = run_golden(quantize_network(net, weight_bits=[8, 4, 4]), x, progress=False)
    assert report["models"]["golden"]["accuracy"] == pytest.approx(g.accuracy(y))
    assert set(report["weight_precisions"]) == {"16", "8", "4"}
    for bits, row in report["weight_precisions"].items():
        ref = run_golden(quantize_network(net, weight_bits=int(bits)), x, progress=False).accuracy(y)
        assert row["accuracy"] == pytest.approx(ref)
    table = format_table(report)
    assert "Q8.8 golden (8,4,4-bit w)" in table and "golden accuracy per weight precision" in table
    code = main(["--samples", "40", "--sc-length", "32", "--rtl-samples", "0", "--weight-bits", "auto", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["weight_bits_auto"]["bits"] == out["weight_bits"][0] and code in (0, 1)
    assert main(["--weight-bits", "6", "--rtl-samples", "0"]) == 2
    assert "--weight-bits takes 16, 8, 4" in capsys.readouterr().err

"""scripts/readme_figures.py: the README block rewriting and rendering (the job itself is not run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "readme_figures.py"
_spec = importlib.util.spec_from_file_location("readme_figures", _PATH)
rf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rf)


def _figures(cold: bool = True) -> dict:
    res = lambda u, a: {"used": u, "available": a}  # noqa: E731
    return {
        "date": "2026-12-02", "machine": "2 CPU cores, Linux x86_64, Python 3.11.7",
        "train": {"seconds": 61.4, "val_accuracy": 0.9778},
        "build_runs": [{"seconds": 695.2, "cold": True}, {"seconds": 55.1, "cold": False}][0 if cold else 1:],
        "build": {"board": "icebreaker", "device": "up5k", "lc_fraction": 0.7712,
                  "resources": {"lc": res(4072, 5280), "ebr": res(24, 30), "spram": res(3, 4), "dsp": res(7, 8)},
                  "fmax": {"sync": {"achieved_mhz": 25.9, "constraint_mhz": 24.0}}, "clock_mhz": 24.0,
                  "timing_met": True, "inferences_per_second": {"mean": 1123.4, "worst_case": 412.0},
                  "cycles_per_inference": {"activity_from": "uniform random inputs"}},
        "verify": {"seconds": 38.0, "samples": 360, "sc": {"length": 2048}, "all_goals_met": False,
                   "models": {"float": {"accuracy": 0.9778}, "golden": {"accuracy": 0.975},
                              "sc": {"accuracy": 0.9806},
                              "rtl": {"accuracy": 1.0, "samples": 20, "bit_exact_pct": 100.0}}},
    }


def test_render_block_quotes_every_figure() -> None:
    block = rf.render_block(_figures())
    assert "| `python -m sw.training` | 61 s |" in block
    assert "| `python -m hw.build` (cold: the first yowasp run compiles the WebAssembly tools) | 695 s |" in block
    assert "| `python -m hw.build` (warm: yowasp tools already compiled) | 55 s |" in block
    assert "4072/5280 LCs (77 %), EBR 24/30, SPRAM 3/4, DSP 7/8; Fmax 25.9 MHz (runs at 24.0 MHz)" in block
    assert "1123 inferences/s mean on uniform random inputs, 412 worst case" in block
    assert ("float 97.78 %, Q8.8 golden 97.50 %, SC (L=2048) 98.06 %, RTL (Icarus, 20 samples) "
            "bit-exact with golden on 100.0 %; goals NOT met") in block
    assert "final validation accuracy 97.78 %" in block
    warm_only = rf.render_block(_figures(cold=False))
    assert "(warm: yowasp tools already compiled) | 55 s |" in warm_only and "(cold:" not in warm_only


def test_replace_block_changes_only_the_block() -> None:
    text = f"# Title\nbefore\n{rf.BEGIN}\nold figures\nmore old\n{rf.END}\nafter\n"
    new = rf.replace_block(text, "new figures\n")
    assert new == f"# Title\nbefore\n{rf.BEGIN}\nnew figures\n{rf.END}\nafter\n"
    assert rf.replace_block(new, "new figures") == new           # idempotent


@pytest.mark.parametrize("text", ["no markers", f"{rf.END}\nx\n{rf.BEGIN}",
                                  f"{rf.BEGIN}a{rf.END}{rf.BEGIN}b{rf.END}", f"{rf.BEGIN} only"])
def test_replace_block_refuses_bad_markers(text: str) -> None:
    with pytest.raises(rf.FigureError):
        rf.replace_block(text, "x")


def test_write_checks_the_markers_before_running_the_job(tmp_path, monkeypatch, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no block here\n")
    monkeypatch.setattr(rf, "collect", lambda *a, **k: pytest.fail("the job must not start"))
    assert rf.main(["--write", "--readme", str(readme), "--work", str(tmp_path / "w")]) == 2
    assert "no <!-- figures:begin -->" in capsys.readouterr().err
    readme.write_text(f"a\n{rf.BEGIN}\n{rf.END}\nb\n")
    monkeypatch.setattr(rf, "collect", lambda *a, **k: _figures())
    assert rf.main(["--write", "--readme", str(readme), "--work", str(tmp_path / "w")]) == 0
    assert "Fmax 25.9 MHz" in readme.read_text() and readme.read_text().endswith(f"{rf.END}\nb\n")

"""``python -m hw.build``: exit codes and one-line errors (fast: nothing here runs a tool).

2 = bad usage (unknown board, bad --lanes or values, missing/invalid model), 1 = the build
failed (timing sign-off here, through :func:`hw.build.sign_off` on a recorded nextpnr report).
"""

from __future__ import annotations

import json

import pytest

import hw.build as hb
from hw.timing import parse_timing

GND = "$PACKER_GND_NET_$glb_clk"
LOG = f"""Warning: Max frequency for clock 'clk': 18.83 MHz (FAIL at 24.00 MHz)

Info: Clock '{GND}' has no interior paths

Info: Max delay <async>                          -> posedge clk                     : 2.59 ns
Info: Max delay posedge {GND} -> posedge clk                     : 7.64 ns
Info: Max delay posedge clk                      -> posedge {GND}: 17.36 ns
"""


def _run(capsys, *argv):
    code = hb.main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("argv, needle", [
    (["--board", "nosuchboard"], "unknown board"),
    (["--lanes", "4,x"], "--lanes"),
    (["--lanes", "0,8,8"], "--lanes"),
    (["--clock-mhz", "-5"], "--clock-mhz"),
    (["--baud", "0"], "--baud"),
    (["--model", "/nonexistent/net.npz"], "does not exist"),
    (["--weight-bits", "5"], "--weight-bits"),
    (["--weight-bits", "8,x"], "--weight-bits"),
    (["--weight-bits", "8,4"], "3 layers"),
    (["--arith", "sc", "--sc-length", "1001"], "multiple of 8"),
    (["--arith", "sc", "--sc-bits-per-cycle", "48"], "bits per cycle"),
    (["--arith", "sc", "--board", "hx8k"], "SPRAM"),
    (["--arith", "sc", "--lanes", "1,1,1"], "--sc-bits-per-cycle"),
])
def test_usage_errors_exit_2_with_one_line(capsys, tmp_path, argv, needle) -> None:
    code, err = _run(capsys, *argv, "--out", str(tmp_path), "-q")
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err


def test_invalid_model_file_and_bad_lane_count_exit_2(capsys, tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_text("not a network")
    code, err = _run(capsys, "--model", str(bad), "--out", str(tmp_path / "o"), "-q")
    assert code == 2 and err.startswith("error: ") and "invalid network" in err
    code, err = _run(capsys, "--lanes", "999,8,8", "--out", str(tmp_path / "o"), "-q")
    assert code == 2 and "lanes must be 1.." in err and "Traceback" not in err


def test_argparse_errors_exit_2(capsys) -> None:
    code, err = _run(capsys, "--no-such-flag")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def _pnr_folder(tmp_path, clk_mhz: float, with_gnd: bool):
    report = {"fmax": {"clk": {"achieved": clk_mhz, "constraint": 24.0}}, "critical_paths": []}
    (tmp_path / "pnr_report.json").write_text(json.dumps(report))
    (tmp_path / "pnr.log").write_text(LOG if with_gnd else
                                      f"Info: Max frequency for clock 'clk': {clk_mhz:.2f} MHz (PASS at 24.00 MHz)\n")
    return tmp_path


def test_sign_off_names_the_failing_groups_and_what_to_try(tmp_path) -> None:
    folder = _pnr_folder(tmp_path, 18.83, with_gnd=True)
    with pytest.raises(hb.TimingError) as err:
        hb.sign_off(folder, 24.0)
    text = str(err.value)
    assert "posedge clk -> posedge clk" in text and "18.83 MHz" in text
    assert f"posedge {GND} -> posedge clk" in text and "constant net used as a clock" in text
    assert "--clock-mhz" in text and "--allow-timing-fail" in text
    t = hb.sign_off(folder, 24.0, allow_timing_fail=True)
    assert not t.timing_met


def test_sign_off_passes_clean_run_and_fails_it_at_a_higher_clock(tmp_path) -> None:
    folder = _pnr_folder(tmp_path, 31.0, with_gnd=False)
    assert hb.sign_off(folder, 24.0).timing_met
    with pytest.raises(hb.TimingError, match="31.00 MHz < 40 MHz"):
        hb.sign_off(folder, 40.0)


def test_timing_failure_exits_1(capsys, monkeypatch) -> None:
    timing = parse_timing({"fmax": {"clk": {"achieved": 18.83}}}, LOG, core_clock="clk", target_mhz=24.0)

    def failing_build(*args, **kwargs):
        assert kwargs["allow_timing_fail"] is False
        return hb.sign_off(".", 24.0, timing=timing)

    monkeypatch.setattr(hb, "build", failing_build)
    code, err = _run(capsys, "-q")
    assert code == 1 and err.startswith("error: timing sign-off failed") and "Traceback" not in err
    assert err.count("\n") == 1 and "posedge clk -> posedge clk" in err and "--clock-mhz" in err


def test_weight_bits_auto_chooses_and_explains() -> None:
    """auto: the narrowest precision within 0.5 points of float on the digits test set (4 bits for
    the built-in net: 97.78 % at 16, 8 and 4 bits, float 98.06 %), recorded with the reason."""
    from hw.models import load_default_model

    net, precision = hb._weight_precision(load_default_model(), "auto")
    auto = precision["auto"]
    assert precision["source"] == "auto" and auto["bits"] == 4
    assert [l.weight_bits for l in net.layers] == [4, 4, 4]
    assert auto["accuracy"]["4"] == pytest.approx(352 / 360) and auto["float_accuracy"] == pytest.approx(353 / 360)
    assert "4 bits is the narrowest within 0.5 points of float" in auto["why"]
    # a stricter limit keeps more bits: none is within 0.1 points here
    from sim.verify import choose_weight_bits

    assert choose_weight_bits(load_default_model(), limit_points=0.1)["bits"] == 16
    net, precision = hb._weight_precision(load_default_model(), [8, 4, 8])
    assert [l.weight_bits for l in net.layers] == [8, 4, 8] and precision["source"] == "--weight-bits"


def test_weight_bits_auto_needs_the_digits_shape(capsys, tmp_path) -> None:
    import numpy as np

    from hw.ir import Dense, Network
    from sim.tb.engine_cases import neuron

    path = Network([Dense("d", np.ones((3, 5)), None, neuron("lif"))], (5,), timesteps=4).save(tmp_path / "n.npz")
    code, err = _run(capsys, "--model", str(path), "--weight-bits", "auto", "--out", str(tmp_path / "o"), "-q")
    assert code == 2 and err.startswith("error: --weight-bits auto: the digits test set needs") \
        and err.count("\n") == 1


def test_weight_bits_reach_the_plan() -> None:
    """--weight-bits 4 / 8: the iCEBreaker plan packs the digits net 4 / 2 lanes a word (the
    2-lane output layer 2 a word: its 4-bit codes fit 8-bit fields unshifted)."""
    from boards import get_board
    from hw.models import load_default_model
    from hw.quantize import quantize_network

    for bits, pack in ((4, [4, 4, 2]), (8, [2] * 3), (16, [2] * 3)):
        net, precision = hb._weight_precision(load_default_model(), bits)
        qnet = quantize_network(net)
        plan = get_board("icebreaker").plan(qnet)
        assert [l.pack for l in plan.layers] == pack, bits
        assert [l.lanes for l in plan.layers] == [4, 14, 2]        # the same lanes (LCs bind)
        rep = hb._precision_report(plan, qnet, precision)
        assert [l["bits"] for l in rep["layers"]] == [bits] * 3
        assert [l["shift"] for l in rep["layers"]] == ([3, 3, 4] if bits == 4 else [0, 0, 0])

"""Post-synthesis simulation: the netlist a build packs into its bitstream equals sim.golden bit for bit.

Each test builds with ``hw.build.build`` (yosys ``synth_ice40`` + nextpnr, like
``python -m hw.build``) and runs ``sim.tb.netlist`` on the build's own
``snn_top.json`` with yosys's iCE40 cell models, talking to it over its UART
pins: on Verilator by default (the logic cells inlined; the 20 digits images take
about 70 s with the compile), and the small net on Icarus as well, so both
simulators are held to the same golden model.  The builds use a 3 Mbaud UART
(divisor 8 at 24 MHz).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from sim.golden import prepare_input, run_golden
from sim.tb.netlist import cell_models, rebuild_plan, run_netlist, spram_images
from sim.tb.runner import result_counts
from sw.training.equations import CELL_EQUATIONS


BAUD = 3_000_000
N_DIGITS = 20


def _build(network, out):
    from hw.build import build

    return build(network if isinstance(network, str) else _save(network, out), "icebreaker", out,
                 baud=BAUD, quiet=True).out_dir


def _save(network: Network, out) -> str:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.npz"
    network.save(path)
    return str(path)


def _small_network(first: str = "synaptic") -> Network:
    rng = np.random.default_rng(5)
    layers = []
    for i, (kind, n_in, n_out) in enumerate([(first, 6, 9), ("lif", 9, 4)]):
        e = CELL_EQUATIONS[kind]
        layers.append(Dense(f"l{i}", rng.normal(0.3, 0.8, (n_out, n_in)), rng.normal(0, 0.2, n_out),
                            Neuron(kind, e.text, e.states, e.inputs, dict(e.params))))
    return Network(layers, (6,), timesteps=8)


def _check_equal(result, network, build_dir, x):
    qnet, plan, _ = rebuild_plan(network, build_dir)
    golden = run_golden(qnet, x, record=True, progress=False)
    np.testing.assert_array_equal(result.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(result.predictions, golden.predictions)
    np.testing.assert_array_equal(result.cycles, plan.activity_cycles(
        golden.layer_spikes, Q8_8.quantize(prepare_input(network, x))))
    return golden


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    from hw.models import default_model_path

    return _build(str(default_model_path()), tmp_path_factory.mktemp("digits_build"))


@pytest.fixture(scope="module")
def digits_images():
    from sw.training.data import load_digits_data

    _, x_test, _, y_test = load_digits_data()
    return x_test.numpy()[:N_DIGITS].astype(np.float64), y_test.numpy()[:N_DIGITS]


def test_result_counts_follow_cocotb_xml(tmp_path):
    xml = tmp_path / "results.xml"
    xml.write_text('<testsuites><testsuite><testcase name="a"/><testcase name="b"><failure message="x"/>'
                   '</testcase><testcase name="c"><skipped/></testcase><testcase name="d"><error/></testcase>'
                   '</testsuite></testsuites>')
    assert result_counts(xml) == {"passed": 1, "failed": 2, "skipped": 1}


def test_spram_backdoor_image_is_the_load_image():
    from boards import get_board
    from hw.models import load_default_model
    from hw.quantize import quantize_network

    plan = get_board("icebreaker").plan(quantize_network(load_default_model(), Q8_8))
    images = spram_images(plan)
    assert sorted(images) == sorted(plan.spram_blocks)
    words = {(plan.load_address(b) >> plan.offset_bits, a): w for b in plan.banks if b.spram
             for a, w in zip(range(b.base, b.base + b.depth),
                             plan.bank_words(b).tolist())}
    assert {(i, a): w for i, img in images.items() for a, w in img.items()} == \
        {k: w & 0xFFFF for k, w in words.items()}
    bad = spram_images(plan, corrupt=(3, 0x0100))
    diff = [(i, a) for i in images for a in images[i] if images[i][a] != bad[i][a]]
    assert len(diff) == 1


def test_uart_frames_carry_the_loaded_banks_outside_spram():
    """The bench's 'W' frames: exactly the words of the banks the bitstream lacks outside SPRAM."""
    from boards import get_board
    from hw.models import load_default_model
    from hw.quantize import quantize_network
    from sim.tb.netlist import uart_load_frames

    plan = get_board("icebreaker").plan(quantize_network(load_default_model(), Q8_8))
    frames = uart_load_frames(plan)
    wanted = [(plan.load_address(b), plan.bank_words(b))
              for b in plan.banks if not b.preload and not b.spram]
    assert wanted, "the default plan loads some EBR lanes (else this test lost its point)"
    assert [a for a, _ in frames] == [a for a, _ in wanted]
    for (_, got), (_, want) in zip(frames, wanted):
        np.testing.assert_array_equal(got, want)


@pytest.mark.rtl
def test_cell_models_compile_on_icarus(tmp_path):
    """yosys's cells_sim.v with the PLL pass-through and the SPRAM backdoor parses on Icarus."""
    import shutil
    import subprocess

    models = cell_models(tmp_path / "cells.v")
    text = models.read_text()
    assert "assign PLLOUTGLOBAL = PACKAGEPIN;" in text and "$readmemh(INIT_FILE, mem)" in text
    (tmp_path / "top.v").write_text("module top; endmodule\n")
    if shutil.which("iverilog") is None:
        pytest.fail("Icarus Verilog (iverilog) is not installed")
    run = subprocess.run(["iverilog", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", str(tmp_path / "a.vvp"),
                          str(models), str(tmp_path / "top.v")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_small_network_netlist_equals_golden(simulator, tmp_path):
    """A small two-layer net (EBR weights from the bitstream, no load needed), on both simulators."""
    net = _small_network()
    build_dir = _build(net, tmp_path / "build")
    x = np.random.default_rng(6).uniform(0, 1, (6, 6))
    result = run_netlist(build_dir, net, x, sim_dir=tmp_path / "sim", simulator=simulator)
    golden = _check_equal(result, net, build_dir, x)
    assert golden.spike_counts.sum() > 0


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["expif", "adex"])
def test_exp_kinds_netlist_equals_golden(kind, tmp_path):
    """ExpIF / AdEx: the pipelined exp reads its tables from SB_RAM40_4K ROMs instantiated
    directly (hw.cores.rom.Rom, INIT words laid out by hand), which only the netlist runs."""
    net = _small_network(kind)
    build_dir = _build(net, tmp_path / "build")
    report = json.loads((build_dir / "report.json").read_text())
    assert report["timing_met"], report["timing"]
    x = np.random.default_rng(7).uniform(0, 1, (6, 6))
    result = run_netlist(build_dir, net, x, sim_dir=tmp_path / "sim")
    golden = _check_equal(result, net, build_dir, x)
    hidden = golden.layer_spikes[0]
    assert 0 < hidden.sum() < hidden.size, "the exp layer's spike trains must be non-trivial"


@pytest.mark.rtl
@pytest.mark.slow
def test_digits_netlist_equals_golden_on_20_images(digits_build, digits_images, tmp_path):
    """The built-in digits net: SPRAM (backdoor-loaded), EBR weights (bitstream, and the lanes the
    bitstream lacks sent in 'W' frames over the UART) and DSP products through the build's netlist."""
    from hw.models import load_default_model

    net = load_default_model()
    _, plan, _ = rebuild_plan(net, digits_build)
    assert plan.uses_spram and plan.needs_load
    x, labels = digits_images
    result = run_netlist(digits_build, net, x, sim_dir=tmp_path / "sim")
    _check_equal(result, net, digits_build, x)
    assert result.accuracy(labels) > 0.8


@pytest.mark.rtl
@pytest.mark.slow
def test_digits_netlist_with_a_wrong_weight_differs(digits_build, digits_images, tmp_path):
    """One SPRAM weight word changed in the backdoor image: the comparison must catch it, and the
    netlist then equals the golden model of that one changed weight."""
    from hw.models import load_default_model

    import copy

    net = load_default_model()
    qnet, plan, _ = rebuild_plan(net, digits_build)
    x = digits_images[0][:1]
    golden = run_golden(qnet, x, progress=False)
    # the first SPRAM image is layer 0's bank 0 (lanes 0 and 1 in the low / high byte of a word),
    # row 0 = neurons 0 and 1, one word per pixel: flip the sign bit of neuron 1's weight of a
    # bright pixel, the first whose flip changes image 0's golden spike counts
    first = plan.layers[0]
    bank = first.banks[0]
    assert bank.spram and bank.base == 0 and first.pack == 2 and first.shift == 0
    assert plan.load_image(only_needed=True)[0][0] == plan.load_address(bank)
    for col in np.argsort(-x[0], kind="stable"):
        wrong = copy.deepcopy(qnet)
        w = wrong.layers[0].weight
        w[1, col] = ((int(w[1, col]) & 0xFF) ^ 0x80) - (256 if ((int(w[1, col]) & 0xFF) ^ 0x80) >= 128 else 0)
        expect = run_golden(wrong, x, progress=False)
        if not np.array_equal(expect.spike_counts, golden.spike_counts):
            break
    else:
        raise AssertionError("no single sign flip changes the counts: the test lost its point")
    result = run_netlist(digits_build, net, x, sim_dir=tmp_path / "sim", corrupt=(int(col), 0x8000))
    assert not np.array_equal(result.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(result.spike_counts, expect.spike_counts)   # exactly that weight


@pytest.mark.rtl
@pytest.mark.slow
def test_sc_engine_netlist_equals_its_model(digits_images, tmp_path):
    """``--arith sc``: the SC engine's netlist (SPRAM synapse tables backdoor-loaded, Sobol
    comparators, shift-add products, pipelined neurons) through its UART equals
    ``sim.sc.fixed.run_sc_fixed`` (streams of 128 bits, so a sample takes ~0.1 M cycles)."""
    from hw.build import build
    from hw.models import default_model_path, load_default_model
    from sim.sc.fixed import run_sc_fixed

    net = load_default_model("digits-small")
    out = build(str(default_model_path("digits-small")), "icebreaker", tmp_path / "build", baud=BAUD,
                quiet=True, arith="sc", sc_length=128)
    assert out.report["arith"] == "sc" and out.report["timing_met"], out.report["timing"]
    qnet, plan, _ = rebuild_plan(net, out.out_dir)
    assert plan.arith == "sc" and plan.length == 128
    x = digits_images[0][:3]
    result = run_netlist(out.out_dir, net, x, sim_dir=tmp_path / "sim")
    model = run_sc_fixed(qnet, x, length=128, record=True, progress=False)
    np.testing.assert_array_equal(result.spike_counts, model.spike_counts)
    np.testing.assert_array_equal(result.predictions, model.predictions)
    np.testing.assert_array_equal(result.cycles, plan.activity_cycles(model.layer_spikes, Q8_8.quantize(x)))


@pytest.mark.rtl
@pytest.mark.slow
def test_icestick_builds_out_of_the_box_and_its_netlist_equals_golden(digits_images, tmp_path):
    """``python -m hw.build --board icestick`` with no other argument: the built-in digits-tiny
    (64 -> 10 IF, rate-encoded on chip) fits the HX1K's 1280 LCs with every memory in block RAM
    (read-only weight banks: no 'W' command), timing is signed off, and the netlist that goes
    into the bitstream equals the golden model on 20 digits."""
    from hw.build import main
    from hw.models import load_default_model

    out = tmp_path / "stick"
    assert main(["--board", "icestick", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["timing_met"] is True and report["network"] == "digits-64-10"
    assert report["resources"]["lc"]["used"] <= 1280
    assert report["timing"]["idle_clocks"], "the read-only banks' write clocks are tied off"
    net = load_default_model("digits-tiny")
    from boards import get_board
    from hw.build import check_memory_fit
    from hw.quantize import quantize_network

    board = get_board("icestick")
    planned = check_memory_fit(board.plan(quantize_network(net, Q8_8)), board)["ebr"]
    assert report["resources"]["ebr"]["used"] == planned     # the pre-synthesis fit check is exact here
    x, labels = digits_images
    result = run_netlist(out, net, x, sim_dir=tmp_path / "sim")
    golden = _check_equal(result, net, out, x)
    assert golden.layer_spikes[0].sum() > 0
    assert result.accuracy(labels) > 0.8

"""FlashBoot in the RTL simulator (cocotb) against a W25Q128-like SPI flash model: the weights it writes equal
the default digits plan's load image; blank, stale and corrupted images never raise boot_done."""

from dataclasses import replace

import numpy as np
import pytest

from boards import get_board
from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.flash_image import HEADER_BYTES, boot_shape, boot_writes, build_image
from hw.models import load_default_model
from hw.quantize import quantize_network
from sim.tb.flash import run_flash_boot

pytestmark = pytest.mark.rtl

OFFSET = get_board("icebreaker").flash_offset


def _load_words(plan):
    return [(a + k, int(w)) for a, words in plan.load_image(only_needed=True) for k, w in enumerate(words)]


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    board = get_board("icebreaker")
    net = load_default_model()
    plan = board.plan(quantize_network(net, Q8_8))
    assert plan.needs_load
    image = build_image(plan)
    corrupt = bytearray(image)
    corrupt[-1] ^= 0x10                                   # the very last payload word
    other = net.layers[0].weight.copy()
    other[0, 0] += 1 / 256                                # one LSB: same layout, other weights
    stale_net = replace(net, layers=[replace(net.layers[0], weight=other), *net.layers[1:]])
    stale = build_image(board.plan(quantize_network(stale_net, Q8_8)))
    assert stale[:HEADER_BYTES] != image[:HEADER_BYTES] and len(stale) == len(image)
    cases = [("valid", image), ("blank", b""), ("stale", stale), ("corrupt", bytes(corrupt))]
    runs = run_flash_boot(plan, cases, offset=OFFSET, build_dir=tmp_path_factory.mktemp("flash"))
    return plan, dict(cases), {r.name: r for r in runs}


def _tiny_network(rng):
    from hw.ir import Dense, Network, Neuron
    from sw.training.equations import CELL_EQUATIONS

    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    return Network([Dense("a", rng.normal(0.3, 0.9, (6, 5)), rng.normal(0, 0.3, 6), neuron),
                    Dense("b", rng.normal(0.3, 0.9, (3, 6)), rng.normal(0, 0.3, 3), neuron)], (5,), timesteps=6)


def _model(plan, flash):
    return boot_writes(flash, boot_shape(plan))


def test_valid_image_writes_the_load_image_and_raises_boot_done(digits_runs):
    plan, cases, runs = digits_runs
    run = runs["valid"]
    expected = _load_words(plan)
    assert len(expected) > 10_000
    assert run.writes == expected
    assert run.done and not run.error
    assert run.commands == [0xAB, 0x03]            # woke the flash, then one continuous read
    assert run.ignored == 0                        # READ came after tRES1, and the flash was awake
    assert run.mode_errors == 0 and run.long_pulses == 0
    model = _model(plan, cases["valid"])
    assert model.done and model.writes == run.writes


@pytest.mark.parametrize("case", ["blank", "stale"])
def test_refused_header_writes_nothing(digits_runs, case):
    plan, cases, runs = digits_runs
    run = runs[case]
    assert not run.done and run.error
    assert run.writes == []
    assert not _model(plan, cases[case]).done


def test_corrupted_payload_never_raises_boot_done(digits_runs):
    plan, cases, runs = digits_runs
    run = runs["corrupt"]
    assert not run.done and run.error
    model = _model(plan, cases["corrupt"])
    assert not model.done and "CRC" in model.reason
    assert run.writes == model.writes
    assert run.writes[-1] != _load_words(plan)[-1]  # the flipped bit reached the port, boot_done did not


@pytest.mark.parametrize("arith", ["q8.8", "sc"])
def test_host_interface_boots_from_flash_and_infers(tmp_path, arith):
    """HostInterface + FlashBoot as BoardTop wires them: after a flash boot the info reply says loaded
    and samples equal the golden model (``sc``: the SC engine, its synapse tables from the flash,
    equal to ``sim.sc.fixed``), with no UART weight load; a blank flash leaves it unloaded."""
    from hw.cores.sc_plan import plan_sc
    from sim.golden import run_golden
    from sim.sc.fixed import run_sc_fixed
    from sim.tb.flash import run_flash_host
    from sw.host.protocol import (INFO_REPLY_SIZE, ProtocolError, info_request, parse_info, parse_sample_reply,
                                  sample_reply_size, sample_request)

    rng = np.random.default_rng(4)
    qnet = quantize_network(_tiny_network(rng), Q8_8)
    x = rng.uniform(0, 1, (2, 5))
    if arith == "sc":
        plan = plan_sc(qnet, length=32, bits_per_cycle=8)
        golden = run_sc_fixed(qnet, x, length=32, progress=False)
    else:
        plan = plan_quantized(qnet, lanes=[2, 2], preload=False)
        golden = run_golden(qnet, x, progress=False)
    talk = [(info_request(), INFO_REPLY_SIZE)]
    talk += [(sample_request(Q8_8.quantize(xi), plan.n_input), sample_reply_size(plan.n_output)) for xi in x]
    blank_talk = [(info_request(), INFO_REPLY_SIZE), (sample_request(Q8_8.quantize(x[0]), plan.n_input), 1)]
    replies = run_flash_host(plan, [("valid", build_image(plan), talk), ("blank", b"", blank_talk)],
                             offset=OFFSET, build_dir=tmp_path)
    info = parse_info(replies[0][0])
    assert info.needs_load and info.loaded
    samples = [parse_sample_reply(r, plan.n_output) for r in replies[0][1:]]
    np.testing.assert_array_equal([s.spike_counts for s in samples], golden.spike_counts)
    np.testing.assert_array_equal([s.prediction for s in samples], golden.predictions)
    assert golden.spike_counts.sum() > 0
    blank = parse_info(replies[1][0])
    assert blank.needs_load and not blank.loaded
    with pytest.raises(ProtocolError, match="not loaded"):
        parse_sample_reply(replies[1][1], plan.n_output)


def test_slower_sck_and_other_offset_boot_too(tmp_path):
    """SCK = clock / 4 (half_period 2) and the image at another offset: same writes as the model."""
    rng = np.random.default_rng(7)
    plan = plan_quantized(quantize_network(_tiny_network(rng), Q8_8), lanes=[2, 2], preload=False)
    image = build_image(plan)
    truncated = image[:len(image) // 2]
    runs = run_flash_boot(plan, [("valid", image), ("truncated", truncated)], offset=0x2A0000,
                          build_dir=tmp_path, half_period=2)
    valid, cut = runs
    assert valid.done and not valid.error and valid.writes == _load_words(plan)
    assert valid.ignored == 0 and valid.mode_errors == 0
    assert not cut.done and cut.error
    assert cut.writes == _model(plan, truncated).writes

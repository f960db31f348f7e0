"""Host link in the RTL simulator (cocotb): the host driver (sw.host) over a pseudo-terminal, and sample
streams through the UART pins of ``hw.cores.host_io.HostInterface`` checked against the golden
model and the throughput model of ``hw.cores.link``."""

import numpy as np
import pytest

from hw.cores import link
from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from hw.pixels import decode, encode
from hw.quantize import quantize_network
from sim.golden import prepare_input, run_golden
from sim.tb.host_stream import run_stream
from sim.tb.network import run_host_session
from sw.host import ProtocolError, SNNDevice
from sw.host import protocol
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.rtl

F_CLK = 24e6  # the iCEBreaker build's clock: divisor 8 is 3 Mbaud


def _small_network(seed=4, timesteps=6):
    rng = np.random.default_rng(seed)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    return Network([Dense("a", rng.normal(0.3, 0.9, (6, 5)), rng.normal(0, 0.3, 6), neuron),
                    Dense("b", rng.normal(0.3, 0.9, (3, 6)), rng.normal(0, 0.3, 3), neuron)],
                   (5,), timesteps=timesteps)


def test_host_driver_against_simulated_uart(tmp_path):
    """sw.host.SNNDevice over a pty bridged to the RTL's UART pins: info, load, inference, batch."""
    net = _small_network()
    qnet = quantize_network(net, Q8_8)
    # put a bank in "SPRAM" so the device needs a load before it answers samples
    plan = plan_quantized(qnet, lanes=[2, 2], preload=False)
    assert plan.needs_load
    x = np.random.default_rng(1).uniform(0, 1, (3, 5))
    golden = run_golden(qnet, x, progress=False)
    batch = np.random.default_rng(2).uniform(0, 1, (5, 5))
    golden_batch = run_golden(qnet, decode(encode(batch)), progress=False)

    def session(port):
        with SNNDevice(port, timeout=60) as dev:
            before = dev.info()
            with pytest.raises(ProtocolError, match="not loaded"):
                dev.infer(x[0], Q8_8)
            sent = dev.load_weights(plan)
            after = dev.info()
            replies = [dev.infer(xi, Q8_8) for xi in x]
            streamed = dev.infer_batch(batch, progress=False)
        return before, sent, after, replies, streamed

    before, sent, after, replies, streamed = run_host_session(plan, session, build_dir=tmp_path)
    assert (before.n_input, before.n_output, before.timesteps, before.banks) == (5, 3, 6, 2)
    assert before.needs_load and not before.loaded and after.loaded
    assert sent == sum(len(w) for _, w in plan.load_image(only_needed=True))
    np.testing.assert_array_equal([r.spike_counts for r in replies], golden.spike_counts)
    np.testing.assert_array_equal([r.prediction for r in replies], golden.predictions)
    assert all(r.cycles > 0 for r in replies)
    assert golden.spike_counts.sum() > 0
    np.testing.assert_array_equal([r.spike_counts for r in streamed], golden_batch.spike_counts)
    np.testing.assert_array_equal([r.prediction for r in streamed], golden_batch.predictions)


def _activity_cycles(plan, qnet, x):
    """Compute cycles of each sample from the golden model's spike activity (as hw.build does)."""
    g = run_golden(qnet, x, record=True, progress=False)
    return g, plan.activity_cycles(g.layer_spikes, Q8_8.quantize(prepare_input(qnet.network, x)))


def _frames(command, codes, n_in):
    if command in "Pp":
        return [protocol.pixel_request(c, n_in, codes=True, compact=command == "p") for c in codes]
    raws = Q8_8.quantize(decode(codes))
    return [protocol.sample_request(r, n_in, compact=command == "s") for r in raws]


def _check_stream(plan, qnet, codes, commands, divisor, banks, tmp_path):
    """Stream ``codes`` once per command; check replies against the golden model and timing
    against hw.cores.link; returns {command: measured end-to-end inferences/s at F_CLK}."""
    golden, cycles = _activity_cycles(plan, qnet, decode(codes))
    phases = run_stream(plan, [_frames(c, codes, plan.n_input) for c in commands], divisor=divisor,
                        banks=banks, build_dir=tmp_path)
    rates = {}
    for command, phase in zip(commands, phases):
        replies = [protocol.parse_reply(r, plan.n_output, plan.timesteps) for r in phase.replies]
        np.testing.assert_array_equal([r.spike_counts for r in replies], golden.spike_counts)
        np.testing.assert_array_equal([r.prediction for r in replies], golden.predictions)
        if command in "SP":  # the full reply carries the cycle count: the plan's cycle model is exact
            assert [r.cycles for r in replies] == cycles
        model = link.stream_schedule(plan.n_input, plan.n_output, plan.timesteps, divisor, cycles,
                                     command, banks, link.bench_react(divisor))
        # the whole stream, first start bit to last reply byte, against the link model's replay
        assert abs(phase.cycles - model.total) <= 0.01 * model.total, (command, phase.cycles, model.total)
        measured = len(codes) * F_CLK / phase.cycles
        # steady state (reply to reply, no pipeline fill) against the rate the build report shows
        steady = float((len(codes) - 1) * F_CLK / (phase.reply_end[-1] - phase.reply_end[0]))
        reported = link.throughput(plan, F_CLK, divisor, float(np.mean(cycles)), plan.cycles(), command,
                                   banks)["end_to_end"]["mean"]
        assert steady == pytest.approx(reported, rel=0.05), (command, steady, reported)
        rates[command] = {"stream": round(measured, 1), "steady": round(steady, 1), "model": reported}
    return rates


def test_stream_small_network(tmp_path):
    """>= 20 samples back to back at divisor 8 in every sample command: golden replies, and the
    measured rate (first start bit to last reply byte) matches the link model."""
    qnet = quantize_network(_small_network(), Q8_8)
    plan = plan_quantized(qnet, lanes=[2, 2], preload=False)
    codes = np.random.default_rng(3).integers(0, 256, (24, 5))
    rates = _check_stream(plan, qnet, codes, ["p", "P", "s", "S"], 8, 2, tmp_path)
    print("small net, divisor 8, end-to-end inferences/s at 24 MHz:", rates)


def test_stream_overrun_is_refused(tmp_path):
    """A host that keeps three frames in flight on two banks: the frames that find both banks
    taken are dropped and answered 'O'; the others still equal the golden model."""
    net = _small_network(timesteps=100)  # compute (~1650-1950 cycles) slower than three frames (480 each)
    qnet = quantize_network(net, Q8_8)
    plan = plan_quantized(qnet, lanes=[2, 2], preload=False)
    codes = np.random.default_rng(5).integers(0, 256, (3, 5))
    golden = run_golden(qnet, decode(codes[:2]), progress=False)
    # frame 2 arrives while sample 0 computes and sample 1 waits: refused at once, before their replies
    (phase,) = run_stream(plan, [_frames("p", codes, 5)], divisor=8, banks=2, window=3, build_dir=tmp_path)
    assert phase.replies[0] == b"O"
    replies = [protocol.parse_reply(r, 3, 100) for r in phase.replies[1:]]
    np.testing.assert_array_equal([r.spike_counts for r in replies], golden.spike_counts)
    with pytest.raises(ProtocolError, match="in flight"):
        protocol.parse_reply(phase.replies[0], 3, 100)


@pytest.mark.slow
def test_stream_default_digits_net_at_3_mbaud(tmp_path):
    """The default digits net on the iCEBreaker plan (SPRAM banks booted through the boot port),
    20 digits streamed with 8-bit pixels and compact replies at 3 Mbaud (24 MHz / 8)."""
    from boards import get_board
    from hw.models import load_default_model
    from sklearn.datasets import load_digits

    net = load_default_model()
    qnet = quantize_network(net, Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    codes = encode(load_digits().data[-20:] / 16.0)
    rates = _check_stream(plan, qnet, codes, ["p"], 8, 2, tmp_path)
    print(f"digits net, 3 Mbaud, 24 MHz: inferences/s end to end {rates['p']}")
    assert rates["p"]["stream"] >= 1000


def test_interface_without_weight_writes_refuses_the_load_command(tmp_path):
    """``HostInterface(weight_writes=False)`` (the iCEstick's, every weight in the bitstream):
    'W' is answered '?' at once instead of starting a frame, info says nothing needs loading,
    and samples still equal the golden model."""
    from hw.cores.host_io import HostInterface

    qnet = quantize_network(_small_network(), Q8_8)
    plan = plan_quantized(qnet, lanes=[2, 2], preload=True)
    assert not plan.needs_load
    with pytest.raises(ValueError, match="needs weight_writes"):
        HostInterface(plan_quantized(qnet, lanes=[2, 2], preload=False), 8, weight_writes=False)
    codes = np.random.default_rng(8).integers(0, 256, (3, 5))
    golden = run_golden(qnet, decode(codes), progress=False)
    info, load, samples = run_stream(plan, [[protocol.info_request()], [b"W"], _frames("p", codes, 5)],
                                     divisor=8, banks=2, weight_writes=False, build_dir=tmp_path)
    parsed = protocol.parse_info(info.replies[0])
    assert (parsed.n_input, parsed.n_output, parsed.needs_load) == (5, 3, False)
    assert load.replies == [b"?"]
    replies = [protocol.parse_reply(r, 3, plan.timesteps) for r in samples.replies]
    np.testing.assert_array_equal([r.spike_counts for r in replies], golden.spike_counts)

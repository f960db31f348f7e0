"""On-chip input encoders (``hw.encoding`` twin, ``hw.cores.encoder`` RTL) and rate/latency networks.

The board encodes the pixels the host sends once: the encoder unit in Amaranth's
simulator must list exactly ``InputEncoder.spikes`` step by step, and whole rate/latency
networks on the engine must equal ``sim.golden`` fed with the same pixels (per layer, per
step, counts, classes and the cycle model, encoder stage included).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.cores.encoder import EncoderUnit
from hw.cores.plan import PlanError, plan_quantized
from hw.encoding import DEFAULT_SEED, InputEncoder, encoder_for
from hw.fixed import Q8_8
from hw.ir import Dense, Network
from hw.quantize import quantize_network
from sim.golden import encode_pixels, run_golden
from sim.tb.engine_cases import check_against_golden, make_case, neuron, run_case


def _encoder_rtl(enc: InputEncoder, x_raw: np.ndarray) -> np.ndarray:
    """Run the encoder unit for every sample and step; ``(batch, T, n)`` of the listed pixels."""
    dut = EncoderUnit(enc, 16)
    batch = len(x_raw)
    out = np.zeros((batch, enc.timesteps, enc.n_input), dtype=np.int64)

    async def bench(ctx) -> None:
        for b in range(batch):
            for t in range(enc.timesteps):
                ctx.set(dut.t, t)
                ctx.set(dut.mode, 3 if t == 0 else 2)
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                while True:   # the input RAM: data one cycle after the address
                    addr = ctx.get(dut.src_addr)
                    await ctx.tick()
                    ctx.set(dut.src_data, int(x_raw[b, min(addr, enc.n_input - 1)]) & 0xFFFF)
                    if ctx.get(dut.done):
                        break
                ctx.set(dut.spk_rbank, t % 2)
                for k in range(ctx.get(dut.n_spikes)):
                    ctx.set(dut.spk_raddr, k)
                    await ctx.tick()
                    out[b, t, ctx.get(dut.spk_rdata) - 1] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("kind", ["rate", "latency"])
def test_encoder_unit_equals_its_twin(kind: str) -> None:
    """Every pixel value class (negative, 0, between, 1, above 1) over 12 steps and 3 samples
    (2304 comparisons: an LFSR number equal to a pixel word, the edge of ``<``, comes up ~9 times)."""
    rng = np.random.default_rng(7)
    enc = InputEncoder(kind, 64, 12, 8, seed=0x1D2B, tau=4.0)
    x = rng.uniform(0, 1, (3, 64))
    x[:, :5] = [-0.5, 0.0, 1.0, 1.7, 1 / 256]
    x_raw = Q8_8.quantize(x)
    want = enc.spikes(x_raw).astype(np.int64)
    got = _encoder_rtl(enc, x_raw)
    np.testing.assert_array_equal(got, want)
    assert 0 < want.sum() < want.size


def test_rate_twin_fires_with_the_pixel_probability() -> None:
    enc = InputEncoder("rate", 64, 25, 8)
    levels = np.array([-1.0, 0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 3.0])
    spikes = enc.spikes(Q8_8.quantize(np.repeat(levels, 8)[None]))[0]      # (T, 64)
    rate = spikes.reshape(25, 8, 8).mean(axis=(0, 2))
    assert rate[0] == rate[1] == 0 and rate[-1] == rate[-2] == 1
    np.testing.assert_allclose(rate[2:6], levels[2:6], atol=0.07)
    # the same pixels give the same trains (the LFSR restarts every sample); another seed others
    np.testing.assert_array_equal(spikes, enc.spikes(Q8_8.quantize(np.repeat(levels, 8)[None]))[0])
    other = InputEncoder("rate", 64, 25, 8, seed=DEFAULT_SEED ^ 0x5A5A)
    assert not np.array_equal(spikes, other.spikes(Q8_8.quantize(np.repeat(levels, 8)[None]))[0])


def test_latency_twin_spikes_once_at_round_tau_ln() -> None:
    enc = InputEncoder("latency", 5, 10, 8, tau=3.0)
    x = np.array([[1.0, 0.5, 0.2, 0.0, 0.01]])
    spikes = enc.spikes(Q8_8.quantize(x))[0]                              # (T, 5)
    assert spikes.sum(axis=0).tolist() == [1, 1, 1, 0, 0]               # 0.01 -> step 14 >= T
    steps = spikes.argmax(axis=0)[:3]
    assert steps.tolist() == [0, round(3 * np.log(2)), round(3 * np.log(256 / 51))]


def test_bad_encoder_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        InputEncoder("rate", 4, 4, 8, seed=0)
    with pytest.raises(ValueError, match="tau"):
        InputEncoder("latency", 4, 4, 8, tau=-1.0)
    net = Network([Dense("l0", np.ones((2, 3)), None, neuron("lif"))], (3,), timesteps=4,
                  encoding="rate", metadata={"encoder": {"seed": 1, "bogus": 2}})
    with pytest.raises(ValueError, match="bogus"):
        encoder_for(net, 8)
    with pytest.raises(PlanError, match="input encoder"):
        plan_quantized(quantize_network(net, Q8_8))


def test_golden_encodes_pixels_as_the_board_does() -> None:
    """Pixels into run_golden == the twin's trains into run_golden; direct nets refuse to encode."""
    rng = np.random.default_rng(2)
    layers = [Dense("l0", rng.normal(0, 2, (6, 10)), None, neuron("lif"))]
    net = Network(layers, (10,), timesteps=8, encoding="rate")
    x = rng.uniform(0, 1, (4, 10))
    trains = encode_pixels(net, x)
    assert trains.shape == (4, 8, 10)
    a, b = run_golden(net, x, progress=False), run_golden(net, trains, progress=False)
    np.testing.assert_array_equal(a.spike_counts, b.spike_counts)
    direct = Network(layers, (10,), timesteps=8)
    with pytest.raises(ValueError, match="direct"):
        encode_pixels(direct, x)


@pytest.mark.parametrize("encoding", ["rate", "latency"])
@pytest.mark.parametrize("seed", range(3))
def test_encoded_networks_equal_golden(encoding: str, seed: int) -> None:
    """Random 2-3 layer rate/latency nets: engine == golden per layer and step, cycles included;
    layer 0 is a spike layer (no multipliers)."""
    kinds = ["lif", "alif", "lif"][:2 + seed % 2]
    case = make_case(kinds, 100 + seed, encoding=encoding, timesteps=7, batch=3)
    assert case.plan.encoder is not None and not case.plan.layers[0].analog
    assert case.plan.memory_table()[0]["dsp"] == 0
    rtl, golden = run_case(case)
    check_against_golden(case.plan, case.qnet, rtl, golden)


def test_encoder_bound_rounds_follow_the_cycle_model() -> None:
    """A wide input into a narrow layer: the encoder's scan is the slowest stage of most rounds."""
    case = make_case(["lif", "lif"], 5, encoding="rate", widths=[40, 2, 2], timesteps=6, batch=2)
    rtl, golden = run_case(case)
    check_against_golden(case.plan, case.qnet, rtl, golden)
    spikes = [case.plan.encoder.spikes(rtl.x_raw).sum(axis=2)[0]] + \
        [ls.sum(axis=2)[:, 0] for ls in golden.layer_spikes]
    assert case.plan.cycle_split(spikes)["encoder_bound"] >= 5

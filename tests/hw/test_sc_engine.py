"""The SC engine's mapping, plan and stream unit (``hw.sc_map``, ``hw.cores.sc_plan``,
``hw.cores.sc_stream``) and its bit-exact model ``sim.sc.fixed``; the whole engine on the
RTL is ``tests/rtl/test_sc_network_rtl.py``."""

import numpy as np
import pytest

from hw.cores.plan import PlanError
from hw.cores.sc_numbers import Sobol, make_sng, sobol_block, sobol_block_values
from hw.cores.sc_plan import SCPlan, plan_sc
from hw.fixed import Q8_8
from hw.ir import Conv2d, Dense, Network
from hw.models import load_default_model
from hw.quantize import quantize_network
from hw.sc_map import SCMapError, check_length, input_thresholds, sc_currents, sc_tables
from sim.golden import run_golden
from sim.sc.fixed import run_sc_fixed
from sim.tb.engine_cases import neuron
from sw.training.data import load_digits_data

SINGLE_INPUT = ("lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "second_order_lif")


def _net(widths, kinds=None, encoding="direct", timesteps=4, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    kinds = kinds or ["lif"] * (len(widths) - 1)
    layers = [Dense(f"l{i}", rng.normal(0, scale, (o, n)), rng.normal(0, scale, o), neuron(k))
              for i, (n, o, k) in enumerate(zip(widths[:-1], widths[1:], kinds))]
    return Network(layers, (widths[0],), timesteps=timesteps, encoding=encoding)


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("p", [1, 3, 6, 7])
def test_sobol_blocks_are_the_sequence(dim, p):
    seq = Sobol(16, dim).sequence(1 << 16)
    blocks = sobol_block_values(dim, 16, p, np.arange(1 << (16 - p))).reshape(-1)
    assert np.array_equal(blocks, seq)
    low, high, _ = sobol_block(dim, 16, p)
    assert len(low) == 1 << p and len(high) == 16 - p


def test_thresholds_cover_the_weights_and_stay_16_bit():
    qnet = quantize_network(_net([5, 7, 3], scale=60.0), Q8_8)      # saturating raws: -32768 .. 32767
    for q, t in zip(qnet.layers, sc_tables(qnet, 2048)):
        assert t.thr.min() >= 1 and t.thr.max() <= (1 << 16) - 1
        order = np.argsort(q.weight, axis=None)                        # monotonic in the weight
        assert np.all(np.diff(t.thr.reshape(-1)[order]) >= 0)
        seeds = make_sng("sobol", 16, t.thr.size, 0, (t.index, 1), dim=1).shifts
        assert np.array_equal(t.shift.reshape(-1), seeds)


def test_expected_current_is_the_q88_current():
    """The map is unbiased: with the exact expected popcount ``L sum p_x p_w`` the current is
    Q8.8's ``W x + b`` to within the threshold rounding (a raw or two)."""
    qnet = quantize_network(_net([16, 8], scale=2.0, seed=3), Q8_8)
    table = sc_tables(qnet, 1 << 12)[0]
    rng = np.random.default_rng(1)
    x_raw = Q8_8.quantize(rng.uniform(0, 1, (5, 16)))
    px = input_thresholds(x_raw, Q8_8) / 65536.0
    pw = table.thr / 65536.0
    expected = np.rint((1 << 12) * px @ pw.T).astype(np.int64).T              # (n_out, B)
    cur = sc_currents(table, expected, np.clip(x_raw, 0, 256).sum(axis=1), Q8_8)
    exact = Q8_8.mac(qnet.layers[0].weight, x_raw.T, qnet.layers[0].bias)
    assert np.max(np.abs(cur - exact)) <= 3


def test_sc_model_tracks_golden_on_digits():
    """The SC engine's model at the default length: within a point of the Q8.8 golden model on
    the 360 digits test images, and mostly the same predictions."""
    _, x, _, y = load_digits_data()
    x, y = x.numpy().astype(np.float64), y.numpy()
    net = load_default_model("digits-small")
    sc = run_sc_fixed(net, x, length=2048, progress=False)
    g = run_golden(net, x, progress=False)
    assert abs(sc.accuracy(y) - g.accuracy(y)) <= 0.01
    assert np.mean(sc.predictions == g.predictions) >= 0.97
    again = run_sc_fixed(net, x[:20], length=2048, progress=False)   # reproducible, batch-independent
    assert np.array_equal(again.spike_counts, sc.spike_counts[:20])
    other_seed = run_sc_fixed(net, x[:20], length=2048, base_seed=5, progress=False)
    assert not np.array_equal(other_seed.spike_counts, sc.spike_counts[:20])


def test_plan_layout_and_load_image():
    qnet = quantize_network(_net([100, 180, 10]), Q8_8)      # 19 800 synapses: two SPRAM pairs
    plan = plan_sc(qnet, length=128, bits_per_cycle=32)
    assert (plan.pairs, plan.words, plan.bank_bits, plan.offset_bits) == (2, 4, 2, 14)
    assert [l.base for l in plan.layers] == [0, 18000]
    image = dict(plan.load_image())
    assert sorted(image) == [0 << 14, 1 << 14, 2 << 14, 3 << 14]
    shifts, thr = plan.synapse_words()
    assert np.array_equal(image[1 << 14] & 0xFFFF, thr[:16384]) and np.array_equal(image[3 << 14] & 0xFFFF, thr[16384:])
    assert np.array_equal(image[2 << 14] & 0xFFFF, shifts[16384:])
    assert all(w.min() >= -32768 and w.max() <= 32767 for w in image.values())   # signed 16-bit words
    assert plan.resources()["spram"] == 4 and plan.resources()["dsp"] == 0


def test_cycle_model_counts_what_streams():
    plan = plan_sc(quantize_network(_net([6, 4, 3]), Q8_8), length=64, bits_per_cycle=16)
    quiet = plan.cycles([np.zeros(4), np.zeros(4)], nonzero_inputs=0)
    one_pixel = plan.cycles([np.zeros(4), np.zeros(4)], nonzero_inputs=1)
    assert one_pixel - quiet == 4 * 4 * (3 + 4 - 2)     # T * n_out * (ENTRY + W - SKIP)
    spikes = plan.cycles([np.array([1, 0, 0, 0]), np.zeros(4)], nonzero_inputs=0)
    assert spikes - quiet == 3 * (3 + 4)                 # one spike, 3 neurons read it
    assert plan.cycles() >= spikes


@pytest.mark.parametrize("make, why", [
    (lambda: Network([Conv2d("c", np.ones((2, 1, 3, 3)), None, neuron("lif"), (1, 4, 4))], (1, 4, 4),
                     timesteps=2), "Dense only"),
    (lambda: _net([4, 3], kinds=["alpha"]), "one input I"),
    (lambda: _net([200, 100, 10]), "SPRAM blocks"),
])
def test_plan_refuses_what_it_cannot_map(make, why):
    with pytest.raises(PlanError, match=why):
        plan_sc(quantize_network(make(), Q8_8), length=64, spram_blocks=2)


@pytest.mark.parametrize("length, bits", [(1001, 8), (4, 8), (2048, 48), (2056, 16), (1 << 17, 64)])
def test_bad_lengths_and_widths(length, bits):
    qnet = quantize_network(_net([4, 3]), Q8_8)
    with pytest.raises(PlanError):
        SCPlan(qnet, length, bits)
    if length % 8 or not 8 <= length <= 1 << 16:
        with pytest.raises(SCMapError, match="multiple of 8"):
            check_length(length)


def test_stream_unit_equals_numpy():
    """``SCStream`` in Amaranth's simulator: each block's popcount equals the numpy streams
    (``hw.cores.sc_numbers``) ANDed, for weight-only and weight-and-input blocks."""
    from amaranth.sim import Simulator

    from hw.cores.sc_stream import SCStream

    p, n = 3, 8
    dut = SCStream(n)
    rng = np.random.default_rng(0)
    cases = [(int(rng.integers(0, 1 << 13)), int(rng.integers(0, 1 << 16)), int(rng.integers(1, 1 << 16)),
              int(rng.integers(0, 2)), int(rng.integers(0, 1 << 16)), int(rng.integers(0, (1 << 16) + 1)))
             for _ in range(40)] + [(5, 0, 1, 1, 0, 1 << 16), (7, 3, 65535, 1, 9, 0)]
    want = []
    for mi, ws, wt, use_x, xs, xt in cases:
        w_bits = (sobol_block_values(1, 16, p, mi)[0] ^ ws) < wt
        x_bits = (sobol_block_values(0, 16, p, mi)[0] ^ xs) < xt if use_x else True
        want.append(int(np.sum(w_bits & x_bits)))
    got = []

    async def bench(ctx):
        for mi, ws, wt, use_x, xs, xt in cases:
            for sig, v in ((dut.m, mi), (dut.w_shift, ws), (dut.w_thr, wt), (dut.use_x, use_x),
                           (dut.x_shift, xs), (dut.x_thr, xt), (dut.valid, 1)):
                ctx.set(sig, v)
            await ctx.tick()
            if ctx.get(dut.out_valid):
                got.append(ctx.get(dut.count))
        ctx.set(dut.valid, 0)
        for _ in range(SCStream.LATENCY):
            await ctx.tick()
            if ctx.get(dut.out_valid):
                got.append(ctx.get(dut.count))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


def test_build_refuses_sc_without_spram_and_with_lanes():
    from hw.build import UsageError, build

    with pytest.raises(UsageError, match="SPRAM"):
        build(None, "hx8k", arith="sc", quiet=True)
    with pytest.raises(UsageError, match="--sc-bits-per-cycle"):
        build(None, "icebreaker", arith="sc", lanes=[1, 1, 1], quiet=True)

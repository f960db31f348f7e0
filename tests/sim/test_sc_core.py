"""The SC gateware in Amaranth's simulator (fast; the 10 000-vector Icarus run is tests/rtl/test_sc_rtl.py)."""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hw.cores.sc import LFSRGen, SCDotProduct, SobolGen, sc_unit_for
from sim.sc.bitstream import sc_dot_counts
from sim.sc.sng import LFSR, Sobol


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("gen,model", [
    (LFSRGen(16, 0xACE1), LFSR(16, [0xACE1]).reference(0xACE1, 600)),
    (LFSRGen(7, 5), LFSR(7, [5]).reference(5, 300)),  # over two full periods
    (SobolGen(16, 1), Sobol(16, 1).reference(0, 600)),
    (SobolGen(8, 4), Sobol(8, 4).reference(0, 600)),  # wraps at 2**8
])
def test_generators_equal_register_models(gen, model):
    got = []

    async def bench(ctx):
        ctx.set(gen.en, 1)
        for i in range(len(model)):
            got.append(ctx.get(gen.value))
            if i == 100:  # a stall does not advance the sequence
                ctx.set(gen.en, 0)
                await ctx.tick()
                assert ctx.get(gen.value) == got[-1]
                ctx.set(gen.en, 1)
            await ctx.tick()
        ctx.set(gen.reseed, 1)
        await ctx.tick()
        assert ctx.get(gen.value) == model[0]

    _run(gen, bench)
    assert got == model


@pytest.mark.parametrize("sng", ["lfsr", "sobol"])
@pytest.mark.parametrize("mode", ["unipolar", "bipolar"])
def test_dot_product_unit_equals_sc_dot_counts(sng, mode):
    lanes, width = 4, 16
    unit = sc_unit_for(lanes, width=width, sng=sng, mode=mode, base_seed=3, max_length=32)
    rng = np.random.default_rng(1)
    k = 12
    x_thr = rng.integers(0, 2**width + 1, (k, lanes))
    w_thr = rng.integers(0, 2**width + 1, (k, lanes))
    x_thr[0] = 2**width
    lengths = rng.integers(1, 33, k)
    got = []

    def flat(row):
        return sum(int(v) << (i * (width + 1)) for i, v in enumerate(row))

    async def bench(ctx):
        for j in range(k):
            while not ctx.get(unit.ready):
                await ctx.tick()
            ctx.set(unit.x_thr.as_value(), flat(x_thr[j]))
            ctx.set(unit.w_thr.as_value(), flat(w_thr[j]))
            ctx.set(unit.length, int(lengths[j]))
            ctx.set(unit.start, 1)
            await ctx.tick()
            ctx.set(unit.start, 0)
            cycles = 0
            while not ctx.get(unit.done):
                await ctx.tick()
                cycles += 1
            assert cycles == lengths[j] + 1  # one clock per bit plus the product register
            got.append(ctx.get(unit.count))

    _run(unit, bench)
    pos = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    want = [sc_dot_counts(x_thr[j], w_thr[j], sng_x=unit.sng_x, sng_w=unit.sng_w, length=int(lengths[j]),
                          start=int(pos[j]), mode=mode)[0] for j in range(k)]
    assert got == want


def test_unit_rejects_bad_parameters():
    with pytest.raises(ValueError, match="n_lanes"):
        SCDotProduct(0)
    with pytest.raises(ValueError, match="mode"):
        SCDotProduct(2, mode="tripolar")
    with pytest.raises(ValueError, match="non-zero"):
        SCDotProduct(2, x_seeds=[0, 1], w_seeds=[1, 2])
    with pytest.raises(ValueError, match="x_seeds"):
        SCDotProduct(2, x_seeds=[1], w_seeds=[1, 2])


@pytest.mark.parametrize("sng", ["lfsr", "sobol"])
def test_sc_unit_for_uses_the_simulation_seeds(sng):
    from sim.sc import SCMatVec

    unit = sc_unit_for(4, sng=sng, base_seed=3, key=(2,))
    mv = SCMatVec(np.full((3, 4), 0.5), sng=sng, base_seed=3, key=(2,))
    pick = (lambda g: g.seeds) if sng == "lfsr" else (lambda g: g.shifts)
    assert unit.x_seeds == pick(mv.sng_x).tolist()  # the input lanes' generators
    assert unit.w_seeds == pick(mv.sng_w)[:4].tolist()  # neuron 0's synapse generators
    Fragment.get(unit, None)  # and it elaborates

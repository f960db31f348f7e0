"""Weight precision per layer (16, 8 or 4 bits): the artifact, ``hw.quantize``, the golden model,
the planner's 4- and 2-lane packing and the engine (Amaranth's simulator) against golden."""

from __future__ import annotations

import numpy as np
import pytest

from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, IRError, Network
from hw.quantize import quantize_network, set_weight_bits, weight_shift
from sim.golden import run_golden
from sim.tb.engine_cases import Case, check_against_golden, neuron, run_case, saturated_currents


def _net(specs, n_input, seed, timesteps=8, kind="lif"):
    """``specs``: per layer ``(n_out, weight scale or (lo, hi), bias scale or (lo, hi), bits)``;
    a scale draws normal(0, scale) (clipped to +-127), a pair uniform(lo, hi)."""
    rng = np.random.default_rng(seed)

    def draw(spec, shape):
        if isinstance(spec, tuple):
            return rng.uniform(spec[0], spec[1], shape)
        return np.clip(rng.normal(0.0, spec, shape), -127, 127)

    layers, n_in = [], n_input
    for i, (n_out, ws, bs, bits) in enumerate(specs):
        layers.append(Dense(f"l{i}", draw(ws, (n_out, n_in)), draw(bs, n_out), neuron(kind),
                            weight_bits=bits))
        n_in = n_out
    return Network(layers, (n_input,), timesteps=timesteps)


def _inputs(n_input, seed, batch=2):
    rng = np.random.default_rng(seed + 1)
    x = rng.uniform(0, 1, (batch, n_input))
    x[rng.uniform(0, 1, x.shape) < 1 / 3] = 0.0
    return x


# -- artifact -----------------------------------------------------------------

def test_weight_bits_round_trip_and_old_files(tmp_path) -> None:
    net = _net([(3, 0.5, 0.1, 4), (2, 0.5, 0.1, 8)], 4, 0)
    net.layers.append(Dense("l2", np.ones((2, 2)), None, neuron("lif")))
    path = net.save(tmp_path / "n.npz")
    back = Network.load(path)
    assert [l.weight_bits for l in back.layers] == [4, 8, 16]
    # a 16-bit net's file holds no weight_bits at all: it is what older versions wrote and read
    manifest, _ = set_weight_bits(net, 16).to_manifest()
    assert all("weight_bits" not in entry for entry in manifest["layers"])
    assert [l.weight_bits for l in Network.load(set_weight_bits(net, 16).save(tmp_path / "o.npz")).layers] \
        == [16, 16, 16]


@pytest.mark.parametrize("bad", [5, 0, 32, True, "8"])
def test_bad_weight_bits_are_refused(tmp_path, bad) -> None:
    net = _net([(3, 0.5, 0.1, 16)], 4, 0)
    manifest, arrays = net.to_manifest()
    manifest["layers"][0]["weight_bits"] = bad
    with pytest.raises(IRError) as err:
        Network.from_manifest(manifest, arrays)
    assert err.value.field == "layers[0].weight_bits"


# -- quantisation -------------------------------------------------------------

def test_codes_and_shift() -> None:
    """b-bit raws are code << shift, codes in [-2^(b-1), 2^(b-1)-1], shift the smallest that
    fits the layer's raws; clipped codes counted; biases stay full Q8.8."""
    w = np.array([[0.242, -0.29, 0.0, 0.01], [0.1, 0.2, -0.2, 0.05]])      # raws 62, -74, 0, 3 ...
    b = np.array([3.3, -0.7])
    net = Network([Dense("d", w, b, neuron("lif"), weight_bits=4)], (4,), timesteps=2)
    q = quantize_network(net).layers[0]
    full = Q8_8.quantize(w)
    assert q.weight_shift == weight_shift(full, 4) == 4       # -74 >> 3 = -10 does not fit [-8, 7]
    codes = q.weight >> q.weight_shift
    assert np.array_equal(q.weight, codes << q.weight_shift)
    assert codes.min() >= -8 and codes.max() <= 7
    assert np.array_equal(codes, np.clip((full + 8) >> 4, -8, 7))  # nearest code, half up
    assert np.array_equal(q.bias, Q8_8.quantize(b))                # biases untouched
    assert q.weight_bits == 4 and q.saturation["weight"] == int(np.sum(((full + 8) >> 4) > 7))
    # 8 bits: raws within [-128, 127] stay exactly as in 16 bits (shift 0)
    q8 = quantize_network(net, weight_bits=8).layers[0]
    assert q8.weight_shift == 0 and np.array_equal(q8.weight, full) and q8.saturated == 0
    # saturating weights: 8-bit shift 8, a weight clipped by Q8.8 is counted once
    big = Network([Dense("d", np.array([[200.0, -3.0, 90.0]]), None, neuron("lif"), weight_bits=8)],
                  (3,), timesteps=2)
    qb = quantize_network(big).layers[0]
    assert qb.weight_shift == 8 and qb.saturated == 1
    assert list(qb.weight[0]) == [127 << 8, -3 * 256, 90 * 256]


def test_golden_follows_the_precision() -> None:
    """run_golden uses the restricted raws: a 4-bit net runs exactly like a 16-bit net whose
    float weights are those raws, and unlike the 16-bit original."""
    from hw.models import load_default_model
    from sw.training.data import load_digits_data

    net = load_default_model()
    x = load_digits_data()[1].numpy()[:60]
    q4 = quantize_network(net, weight_bits=4)
    assert [l.weight_shift for l in q4.layers] == [3, 3, 4]
    same = Network([Dense(l.name, Q8_8.to_float(q.weight), l.bias, l.neuron)
                    for l, q in zip(net.layers, q4.layers)], net.input_shape, timesteps=net.timesteps)
    g4 = run_golden(q4, x, progress=False)
    assert np.array_equal(g4.spike_counts, run_golden(quantize_network(same), x, progress=False).spike_counts)
    assert not np.array_equal(g4.spike_counts, run_golden(quantize_network(net), x, progress=False).spike_counts)
    # the artifact's own weight_bits is what quantize_network (and run_golden of a Network) reads
    assert np.array_equal(run_golden(set_weight_bits(net, 4), x, progress=False).spike_counts, g4.spike_counts)
    assert np.array_equal(quantize_network(set_weight_bits(net, [4, 4, 4])).layers[2].weight, q4.layers[2].weight)


# -- planner ------------------------------------------------------------------

def _decode(layer, bank, width=16):
    """Raws lane by lane out of a bank's words: ``{lane: weights per group}``."""
    words = layer.bank_words(bank, width) & 0xFFFF
    bits = width // layer.pack
    out = {}
    for i in range(layer.pack):
        lane = bank * layer.pack + i
        if lane >= layer.lanes:
            continue
        rows = words.reshape(layer.groups, layer.row)
        field = (rows >> (i * bits)) & ((1 << bits) - 1)
        field = np.where(field >= 1 << (bits - 1), field - (1 << bits), field)
        out[lane] = field << layer.shift
    return out


@pytest.mark.parametrize("bits, scale, pack, shift, bias", [
    (4, 90.0, 4, 12, 60.0),           # saturating 4-bit weights, big biases
    (4, (-0.03, 0.027), 4, 0, (-0.02, 0.02)),  # 4-bit codes unshifted
    (8, 90.0, 2, 8, (-0.4, 0.45)),    # 8-bit, shift 8
    (8, (-0.4, 0.45), 2, 0, (-0.02, 0.02)),    # what 16-bit digits raws do today
    (4, 90.0, 4, 12, 0.0),            # no biases: no bias memory
])
def test_plan_packs_by_precision(bits, scale, pack, shift, bias) -> None:
    net = _net([(5, 1.0, 1.0, 16), (7, scale, bias, bits)], 3, 2)
    q = quantize_network(net)
    plan = plan_quantized(q, lanes=[2, 7])
    layer = plan.layers[1]
    assert (layer.pack, layer.shift) == (pack, shift)
    assert layer.row == layer.n_in and layer.n_banks == -(-7 // pack)
    for bank in range(layer.n_banks):
        for lane, w in _decode(layer, bank).items():
            for g in range(layer.groups):
                o = g * layer.lanes + lane
                if o < layer.n_out:
                    assert np.array_equal(w[g], q.layers[1].weight[o])
    # the biases: one memory, neuron o at word o, in the load image at its own address
    biased = bool(np.any(q.layers[1].bias != 0))
    assert len(layer.bias_banks) == int(biased)
    if biased:
        bank = layer.bias_banks[0]
        assert bank.bias and not bank.spram and bank.depth == layer.n_out
        np.testing.assert_array_equal(plan.bank_words(bank), q.layers[1].bias)
        image = dict(plan.load_image())
        np.testing.assert_array_equal(image[plan.load_address(bank)], q.layers[1].bias)
    # 16-bit raws of the same net pack only where they are the same raws (lossless only)
    assert plan_quantized(quantize_network(set_weight_bits(net, 16)), lanes=[2, 7]).layers[1].pack \
        == (pack if isinstance(scale, tuple) else 1)


# -- engine vs golden -------------------------------------------------------------

ENGINE = {
    # analog 4-bit shift 12 (saturating, big biases); spike 8-bit shift 8 (big biases, overlap);
    # output 4-bit shift > 0 with small biases
    "4sat-8sat-4shift": dict(specs=[(6, 90.0, 60.0, 4), (7, 90.0, 60.0, 8), (4, 1.0, (-0.02, 0.02), 4)],
                             n_input=9, lanes=[4, 5, 3], overlap=[False, True, False], load=True,
                             expect=[(4, 12), (2, 8), (4, 7)]),
    # analog 4-bit shift 0 (big biases), spike 4-bit saturating without overlap,
    # 2 banks; an 8-bit output layer with shift 0
    "4plain-4sat-8plain": dict(specs=[(5, (-0.03, 0.027), 60.0, 4), (6, 90.0, 60.0, 4),
                                      (3, (-0.4, 0.45), (-0.4, 0.45), 8)],
                               n_input=7, lanes=[3, 6, 2], overlap=[False, False, True], load=False,
                               expect=[(4, 0), (4, 12), (2, 0)]),
    # 8-bit saturating analog layer (2 lanes a word, big biases) into a 4-bit spike layer (small
    # biases), then a 4-bit output layer with shift 0 and small biases
    "8sat-4sat-4plain": dict(specs=[(8, 90.0, 60.0, 8), (5, 60.0, (-0.4, 0.45), 4),
                                    (3, (-0.03, 0.027), (-0.02, 0.027), 4)],
                             n_input=6, lanes=[8, 5, 3], overlap=[False, True, True], load=True,
                             expect=[(2, 8), (4, 12), (4, 0)], kind="if"),
}


@pytest.mark.parametrize("name", list(ENGINE))
def test_engine_equals_golden_narrow_weights(name) -> None:
    c = ENGINE[name]
    net = _net(c["specs"], c["n_input"], 11, kind=c.get("kind", "lif"))
    qnet = quantize_network(net)
    plan = plan_quantized(qnet, lanes=c["lanes"], overlap=c["overlap"])
    assert [(l.pack, l.shift) for l in plan.layers] == c["expect"]
    assert all(len(l.bias_banks) == 1 for l in plan.layers)
    case = Case(qnet, plan, _inputs(c["n_input"], 11), load=c["load"])
    rtl, golden = run_case(case)
    sat = saturated_currents(qnet, case.x, golden)
    assert sum(sat) > 0, sat
    assert sum(q.saturation["weight"] for q in qnet.layers) > 0      # clipped codes
    active = sum(int(ls.sum()) for ls in golden.layer_spikes)
    assert 0 < active < sum(ls.size for ls in golden.layer_spikes), "trivial spike trains"
    check_against_golden(plan, qnet, rtl, golden)

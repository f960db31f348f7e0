"""SC engine RTL (cocotb, Verilator by default): whole networks equal ``sim.sc.fixed`` bit for bit.

Each case compares, per layer and per step, the spikes the engine appended to its
spike lists (trace ``layer<i>.spike_valid`` / ``spike_index`` / ``step``), the output
counts, the classes and the cycle counter (``SCPlan.cycles``) with the SC engine's
model ``sim.sc.fixed.run_sc_fixed``, which uses the same streams (``hw.sc_map``).
"""

import numpy as np
import pytest

from hw.cores.sc_plan import plan_sc
from hw.fixed import Q8_8
from hw.ir import Dense, Network
from hw.models import load_default_model
from hw.quantize import quantize_network
from sim.tb.engine_cases import check_sc_engine, neuron

pytestmark = pytest.mark.rtl

SINGLE_INPUT = ("lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "second_order_lif")
"""The neuron kinds SC layers take (one input current ``I``; alpha and recurrent_lif have two)."""


def _digits(n):
    from sw.training.data import load_digits_data

    _, x, _, y = load_digits_data()
    return x.numpy()[:n].astype(np.float64), y.numpy()[:n]


def _equal_model(plan, x, build_dir, trace=True):
    """Run ``x`` through the engine RTL and its model; assert they are equal; returns both."""
    return check_sc_engine(plan, x, build_dir, trace)


def test_every_kind_saturating(tmp_path):
    """One layer of each single-input kind, big weights (currents leave Q8.8 and saturate),
    pixels below 0, in [0, 1] and above 1 (clamped), short streams."""
    rng = np.random.default_rng(0)
    widths = [9, 7, 6, 5, 6, 4, 5, 6, 4]
    layers = []
    for i, kind in enumerate(SINGLE_INPUT):
        w = np.clip(rng.normal(0.0, 90.0 if i % 2 else 3.0, (widths[i + 1], widths[i])), -127, 127)
        b = np.clip(rng.normal(0.0, 60.0 if i % 2 else 1.0, widths[i + 1]), -127, 127)
        layers.append(Dense(f"l{i}", w, b, neuron(kind)))
    net = Network(layers, (widths[0],), timesteps=6)
    x = rng.uniform(-0.5, 1.5, (3, widths[0]))
    x[rng.uniform(0, 1, x.shape) < 0.3] = 0.0
    plan = plan_sc(quantize_network(net, Q8_8), length=64, bits_per_cycle=16)
    _, model = _equal_model(plan, x, tmp_path)
    assert all(ls.sum() > 0 for ls in model.layer_spikes), "every layer must spike"
    assert np.all(model.current_saturations[1::2] > 0), "the big-weight layers must saturate"


def test_two_spram_pairs(tmp_path):
    """19 800 synapses: the second layer's rows lie in the second SPRAM pair."""
    rng = np.random.default_rng(3)
    net = Network([Dense("a", rng.normal(0, 0.3, (180, 100)), rng.normal(0, 0.3, 180), neuron("lif")),
                   Dense("b", rng.normal(0, 0.5, (10, 180)), None, neuron("lif"))], (100,), timesteps=3)
    plan = plan_sc(quantize_network(net, Q8_8), length=64, bits_per_cycle=64)
    assert plan.pairs == 2
    _equal_model(plan, rng.uniform(0, 1, (2, 100)), tmp_path)


def test_digits_small_at_a_short_length(tmp_path):
    x, _ = _digits(3)
    plan = plan_sc(quantize_network(load_default_model("digits-small"), Q8_8), length=128)
    _equal_model(plan, x, tmp_path)


@pytest.mark.slow
def test_digits_small_on_20_images_at_2048(tmp_path):
    """The issue's check: 20 digits test images at the default stream length, bit-exact."""
    x, y = _digits(20)
    plan = plan_sc(quantize_network(load_default_model("digits-small"), Q8_8), length=2048)
    rtl, model = _equal_model(plan, x, tmp_path, trace=False)
    assert np.mean(rtl.predictions == y) >= 0.9


@pytest.mark.parametrize("encoding", ["rate", "latency"])
def test_encoded_network(tmp_path, encoding):
    """Rate / latency: the board's encoder (``hw.cores.encoder``) lists each step's input spikes,
    which layer 0 reads as all-one streams; pixels outside [0, 1] are clipped by the encoder."""
    rng = np.random.default_rng(11)
    meta = {"encoder": {"seed": 777}} if encoding == "rate" else {"encoder": {"tau": 2.0}}
    net = Network([Dense("a", rng.normal(0, 1.5, (7, 10)), rng.normal(0, 0.5, 7), neuron("synaptic")),
                   Dense("b", rng.normal(0, 2.0, (4, 7)), None, neuron("lif"))], (10,), timesteps=8,
                  encoding=encoding, metadata=meta)
    plan = plan_sc(quantize_network(net, Q8_8), length=32, bits_per_cycle=8)
    assert plan.encoder is not None and plan.encoder.kind == encoding
    x = rng.uniform(-0.3, 1.3, (3, 10))
    _, model = _equal_model(plan, x, tmp_path)
    assert model.layer_spikes[0].sum() > 0


def _random_sc_net(seed):
    """A random SC-mappable network: 1-3 Dense layers of random single-input kinds and sizes,
    weights from tiny to saturating, a random encoding, stream length and width."""
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, 4))
    widths = [int(v) for v in rng.integers(1, 14, n_layers + 1)]
    layers = []
    for i in range(n_layers):
        scale = float(rng.choice([0.2, 2.0, 40.0, 120.0]))
        w = np.clip(rng.normal(0, scale, (widths[i + 1], widths[i])), -127, 127)
        b = np.clip(rng.normal(0, scale / 2, widths[i + 1]), -127, 127) if rng.integers(0, 2) else None
        layers.append(Dense(f"l{i}", w, b, neuron(str(rng.choice(SINGLE_INPUT)))))
    encoding = str(rng.choice(["direct", "direct", "rate", "latency"]))
    meta = {"rate": {"encoder": {"seed": int(rng.integers(1, 1 << 16))}},
            "latency": {"encoder": {"tau": float(rng.uniform(1.0, 4.0))}}}.get(encoding, {})
    net = Network(layers, (widths[0],), timesteps=int(rng.integers(1, 7)), encoding=encoding, metadata=meta)
    bits = int(rng.choice([8, 16, 32]))
    length = bits * int(rng.integers(1, 4))
    x = rng.uniform(-0.3, 1.3, (int(rng.integers(1, 4)), widths[0]))
    x[rng.uniform(0, 1, x.shape) < 0.3] = 0.0
    return net, length, bits, int(rng.integers(0, 1000)), x


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_random_sc_networks(tmp_path, seed):
    """Differential testing of the SC engine: 12 random networks (kinds, sizes, saturating and tiny
    weights, biases or none, every encoding, stream lengths 8-96, 8-32 bits a clock, generator
    seeds), each RTL == model per layer and step, and cycles == the cycle model."""
    net, length, bits, base_seed, x = _random_sc_net(seed)
    plan = plan_sc(quantize_network(net, Q8_8), length=length, bits_per_cycle=bits, base_seed=base_seed)
    _equal_model(plan, x, tmp_path)

"""Engine RTL on Icarus (cocotb): the digits network equals sim.golden bit for bit."""

import numpy as np
import pytest

from boards import get_board
from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from hw.models import load_default_model
from hw.quantize import quantize_network
from sim.golden import run_golden
from sim.tb.network import run_plan_rtl, run_rtl
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.rtl

N_IMAGES = 100


def _digits_test_images(n):
    from sw.training.data import load_digits_data

    _, x_test, _, y_test = load_digits_data()
    return x_test.numpy()[:n].astype(np.float64), y_test.numpy()[:n]


def test_digits_network_equals_golden_on_100_images(tmp_path):
    """The iCEBreaker plan (3 SPRAM banks loaded through the load port, 4 + 2 lanes)."""
    net = load_default_model()
    x, labels = _digits_test_images(N_IMAGES)
    qnet = quantize_network(net, Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    assert plan.uses_spram and plan.needs_load  # the SPRAM + host-load path is part of the test
    golden = run_golden(qnet, x, record=True, progress=False)
    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=tmp_path)
    np.testing.assert_array_equal(rtl.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(rtl.predictions, golden.predictions)
    per_layer = [ls.sum(axis=2) for ls in golden.layer_spikes]
    np.testing.assert_array_equal(rtl.cycles, [plan.cycles([s[:, b] for s in per_layer])
                                               for b in range(N_IMAGES)])
    assert rtl.accuracy(labels) > 0.9


def test_run_rtl_entry_point(tmp_path):
    """``run_rtl`` (used by ``python -m sim.verify``) on a small network of two neuron kinds."""
    rng = np.random.default_rng(3)
    layers = []
    for i, (kind, n_in, n_out) in enumerate([("synaptic", 6, 9), ("lif", 9, 4)]):
        e = CELL_EQUATIONS[kind]
        layers.append(Dense(f"l{i}", rng.normal(0.2, 0.8, (n_out, n_in)), rng.normal(0, 0.2, n_out),
                            Neuron(kind, e.text, e.states, e.inputs, dict(e.params))))
    net = Network(layers, (6,), timesteps=10)
    x = rng.uniform(0, 1, (6, 6))
    golden = run_golden(net, x, progress=False)
    rtl = run_rtl(net, x, build_dir=tmp_path)
    np.testing.assert_array_equal(rtl.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(rtl.predictions, golden.predictions)
    assert golden.spike_counts.sum() > 0

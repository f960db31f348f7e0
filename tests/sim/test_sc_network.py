"""Whole-network SC inference: the current mapping, the exact shortcuts, agreement with float."""

import numpy as np
import pytest

from hw.ir import Conv2d, Dense, Network, Neuron
from sim.golden import simulate_float
from sim.sc import SCLayerMap, run_sc
from sw.training.equations import CELL_EQUATIONS


def _neuron(kind="lif"):
    e = CELL_EQUATIONS[kind]
    return Neuron(kind, e.text, e.states, e.inputs, dict(e.params))


def _net(n_in=20, hidden=24, n_out=5, encoding="direct", seed=0):
    rng = np.random.default_rng(seed)
    layers = [Dense("fc0", rng.normal(0, 0.5, (hidden, n_in)), rng.normal(0, 0.1, hidden), _neuron()),
              Dense("fc1", rng.normal(0, 0.6, (n_out, hidden)), None, _neuron())]
    return Network(layers, (n_in,), timesteps=12, encoding=encoding).validate()


def _map(net, mode, sng, length, x_range=(0.0, 1.0), index=0, seed=0):
    return SCLayerMap(net.layers[index], x_range, index, length=length, sng=sng, width=16, mode=mode,
                      base_seed=seed)


@pytest.mark.parametrize("mode", ["unipolar", "bipolar"])
@pytest.mark.parametrize("sng", ["lfsr", "sobol"])
def test_currents_estimate_w_x_plus_b(mode, sng):
    net = _net()
    layer = net.layers[0]
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 2.0, (50, 20))
    exact = layer.weight @ x.T + layer.bias[:, None]
    errs = []
    for length in (256, 4096):
        m = _map(net, mode, sng, length, x_range=(-1.0, 2.0))
        errs.append(np.sqrt(np.mean((m.currents(m.probabilities(x), 0) - exact) ** 2)))
    assert errs[1] < errs[0]
    scale = np.abs(layer.weight).max() * 3.0 * np.sqrt(20)
    assert errs[1] < (0.02 if sng == "sobol" else 0.05) * scale


@pytest.mark.parametrize("mode", ["unipolar", "bipolar"])
def test_spike_and_level_shortcuts_equal_the_direct_product(mode):
    net = _net()
    m = _map(net, mode, "lfsr", 300)
    rng = np.random.default_rng(2)
    spikes = rng.integers(0, 2, (7, 20)).astype(np.float64)
    levels = rng.integers(0, 4, (40, 20)) / 3.0  # 4 levels, 40 samples: the table path
    for p in (spikes, levels):
        x_thr = np.floor(p * 2**16 + 0.5).astype(np.int64)
        streams, _ = m.matvec.weight_streams(3)
        assert np.array_equal(m.matvec.counts(p, 3), m.matvec._direct(x_thr, 3, streams))
    exact = net.layers[0].weight @ spikes.T + net.layers[0].bias[:, None]
    assert np.abs(m.currents(spikes, 3) - exact).max() < 0.2 * np.abs(net.layers[0].weight).max() * 20


def test_run_sc_agrees_with_float_and_reproduces():
    net = _net()
    x = np.random.default_rng(3).random((60, 20))
    ref = simulate_float(net, x, progress=False)
    for sng in ("sobol", "lfsr"):
        r = run_sc(net, x, length=4096, sng=sng, progress=False)
        assert r.spike_counts.shape == (60, 5)
        assert np.mean(r.predictions == ref.predictions) >= 0.9, sng
        assert np.abs(r.spike_counts - ref.spike_counts).mean() < 1.0, sng
    a = run_sc(net, x[:10], length=256, sng="lfsr", progress=False)
    b = run_sc(net, x[:10], length=256, sng="lfsr", progress=False)
    c = run_sc(net, x[:10], length=256, sng="lfsr", base_seed=1, progress=False)
    assert np.array_equal(a.spike_counts, b.spike_counts)
    assert not np.array_equal(a.spike_counts, c.spike_counts)


def test_rate_encoded_network_routes_spike_trains():
    net = _net(encoding="rate")
    x = (np.random.default_rng(4).random((30, 12, 20)) < 0.4).astype(np.int64)
    ref = simulate_float(net, x, progress=False)
    r = run_sc(net, x, length=4096, sng="sobol", progress=False)
    assert np.mean(r.predictions == ref.predictions) >= 0.9


def test_run_sc_rejects_what_it_cannot_map():
    net = _net()
    with pytest.raises(ValueError, match="outside x_range"):
        run_sc(net, np.full((2, 20), 1.5), length=64, progress=False)
    with pytest.raises(ValueError, match="unknown mode"):
        run_sc(net, np.zeros((2, 20)), mode="tripolar", progress=False)
    conv = Network([Conv2d("c", np.ones((2, 1, 3, 3)), None, _neuron(), (1, 4, 4)),
                    Dense("d", np.ones((3, 8)), None, _neuron())], (1, 4, 4), timesteps=3)
    with pytest.raises(ValueError, match="Dense layers only"):
        run_sc(conv, np.zeros((1, 16)), progress=False)
    alpha = Network([Dense("a", np.ones((3, 4)), None, _neuron("alpha"))], (4,), timesteps=3)
    with pytest.raises(ValueError, match="single input"):
        run_sc(alpha, np.zeros((1, 4)), progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("sng", ["sobol", "lfsr"])
def test_digits_sc_at_2048_within_two_points_of_float(sng):
    from hw.models import load_default_model
    from sw.training.data import load_digits_data

    net = load_default_model()
    _, x, _, y = load_digits_data()
    x, y = x.numpy().astype(np.float64), y.numpy()
    ref = simulate_float(net, x, progress=False)
    sc = run_sc(net, x, length=2048, sng=sng, progress=False)
    assert len(y) == 360
    assert 100 * (ref.accuracy(y) - sc.accuracy(y)) <= 2.0
    assert np.mean(sc.predictions == ref.predictions) >= 0.97

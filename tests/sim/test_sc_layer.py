"""StochasticLIFNeuron and SCDenseLayer (the seed's API)."""

import math

import numpy as np
import pytest

from sim.sc import SCDenseLayer, StochasticLIFNeuron


def _expected_period(current, tau=20.0, dt=1.0, r=1.0, theta=1.0):
    """Steps between spikes for constant input, from v_n = v_inf (1 - a**n)."""
    a, v_inf = 1 - dt / tau, tau * r * current
    return math.ceil(math.log(1 - theta / v_inf) / math.log(a))


@pytest.mark.parametrize("current", [0.06, 0.1, 0.3])
def test_lif_fires_at_the_analytic_period(current):
    n = StochasticLIFNeuron()
    spikes = [n.step(current) for _ in range(400)]
    times = np.flatnonzero(spikes)
    period = _expected_period(current)
    assert times[0] == period - 1
    assert set(np.diff(times)) == {period}


def test_lif_subthreshold_refractory_and_state():
    n = StochasticLIFNeuron()
    assert sum(n.step(0.04) for _ in range(500)) == 0  # v_inf = 0.8 < threshold
    assert n.get_state()["v"] == pytest.approx(0.8, abs=1e-3)
    r = StochasticLIFNeuron(refractory_period=5)
    spikes = [r.step(2.0) for _ in range(30)]
    assert np.all(np.diff(np.flatnonzero(spikes)) == 6)
    assert r.get_state().keys() == {"v", "refractory_counter", "refractory"}
    with pytest.raises(ValueError):
        StochasticLIFNeuron(tau_mem=0.0)
    with pytest.raises(ValueError):
        r.step(float("nan"))


def test_lif_noise_is_seeded_and_reset_replays():
    a = StochasticLIFNeuron(noise_std=0.3, seed=4)
    b = StochasticLIFNeuron(noise_std=0.3, seed=4)
    c = StochasticLIFNeuron(noise_std=0.3, seed=5)
    run = lambda n: [n.step(0.045) for _ in range(300)]  # noqa: E731
    sa = run(a)
    assert sa == run(b) and sa != run(c) and sum(sa) > 0
    a.reset_state()
    assert run(a) == sa


def test_process_bitstream():
    n = StochasticLIFNeuron()
    out = n.process_bitstream(np.ones(100, dtype=np.uint8), input_scale=0.1)
    n.reset_state()
    assert list(out) == [n.step(0.1) for _ in range(100)]
    with pytest.raises(ValueError, match="only 0 and 1"):
        n.process_bitstream(np.array([0, 2, 1]))


def _layer(**kw):
    rng = np.random.default_rng(0)
    args = dict(n_neurons=8, x_inputs=rng.random(16).tolist(), weight_values=rng.random(16).tolist(),
                x_min=0.0, x_max=1.0, w_min=0.0, w_max=1.0, length=512, base_seed=42,
                y_max=0.3)
    args.update(kw)
    return SCDenseLayer(**args)


def test_layer_summary_shape_and_rates():
    layer = _layer()
    trains = layer.run(T=200)
    assert trains.shape == (8, 200) and trains.dtype == np.uint8
    s = layer.summary()
    assert set(s) == {"n_neurons", "stats", "avg_firing_rate_hz"} and s["n_neurons"] == 8
    assert [st["neuron"] for st in s["stats"]] == list(range(8))
    assert set(s["stats"][0]) == {"neuron", "total_spikes", "firing_rate_hz"}
    totals = trains.sum(axis=1)
    assert [st["total_spikes"] for st in s["stats"]] == totals.tolist()
    assert s["avg_firing_rate_hz"] == pytest.approx(totals.mean() / 0.2)  # 200 steps of 1 ms
    assert s["avg_firing_rate_hz"] > 0


def test_layer_current_estimates_the_dot_product():
    layer = _layer(length=4096, y_min=0.02, y_max=0.12)
    rng = np.random.default_rng(0)
    x, w = rng.random(16), rng.random(16)
    expected = 0.02 + 0.1 * np.mean(x * w)
    cur = np.stack([layer.currents(t) for t in range(20)])
    assert np.abs(cur.mean(axis=0) - expected).max() < 0.002
    assert np.ptp(cur[:, 0]) > 0  # fresh bits every step


def test_layer_same_seed_reproduces_exactly():
    a, b, c = _layer().run(100), _layer().run(100), _layer(base_seed=43).run(100)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    layer = _layer()
    first = layer.run(50).copy()
    layer.reset()
    assert np.array_equal(layer.run(50), first)


def test_layer_rejects_bad_input():
    with pytest.raises(ValueError, match="16 values but weight_values has 15"):
        _layer(weight_values=[0.5] * 15)
    with pytest.raises(ValueError, match="outside"):
        _layer(x_inputs=[2.0] * 16)
    with pytest.raises(ValueError, match="unknown neuron_params"):
        _layer(neuron_params={"tau": 3})
    with pytest.raises(ValueError, match="shape"):
        _layer(weight_values=np.zeros((3, 16)))


def test_layer_per_neuron_weights_and_sobol_bipolar():
    w = np.zeros((2, 16))
    w[1] = 1.0
    layer = _layer(n_neurons=2, weight_values=w, sng="sobol", y_max=0.2)
    trains = layer.run(100)
    assert trains[0].sum() == 0 and trains[1].sum() > 0
    bip = _layer(mode="bipolar", x_inputs=[1.0] * 16, weight_values=[1.0] * 16, length=256)
    assert bip.currents(0) == pytest.approx(np.full(8, 0.3))  # XNOR of all-ones streams

"""sim.golden and hw.quantize: accuracy on digits, an independent per-sample reference,
determinism, saturation and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from hw.fixed import Q8_8, QFormat
from hw.ir import Conv2d, Dense, IRError, Network, Neuron
from hw.models import default_model_path, load_default_model
from hw.quantize import QuantizedNetwork, quantize_network
from sim.golden import FloatNeuron, GoldenResult, prepare_input, run_golden, simulate_float
from sw.training.equations import CELL_EQUATIONS


def neuron(kind: str = "lif", **params: float) -> Neuron:
    e = CELL_EQUATIONS[kind]
    return Neuron(e.kind, e.text, e.states, e.inputs, {**e.params, **params})


@pytest.fixture(scope="module")
def digits():
    from sw.training import load_digits_data

    _, X_te, _, y_te = load_digits_data()
    return X_te.numpy(), y_te.numpy()


# -- accuracy on the digits test set ------------------------------------------------------
def test_default_model_float_vs_q88_accuracy(digits) -> None:
    x, y = digits
    assert x.shape == (360, 64)
    net = load_default_model()
    assert default_model_path().name == "digits.npz"
    assert [l.n_out for l in net.layers] == [128, 128, 10] and net.timesteps == 25 and net.encoding == "direct"
    f = simulate_float(net, x)
    q = run_golden(net, x)
    acc_f, acc_q = f.accuracy(y), q.accuracy(y)
    print(f"\ndigits test set (360): float64 {acc_f:.4f}, Q8.8 golden {acc_q:.4f}, "
          f"prediction agreement {np.mean(f.predictions == q.predictions):.4f}")
    assert acc_f > 0.9
    assert abs(acc_f - acc_q) <= 0.005 + 1e-12  # goal: within 0.5 points
    assert np.mean(f.predictions == q.predictions) > 0.97
    # the artifact records how it was made and the float accuracy torch measured
    meta = net.metadata
    assert meta["recipe"]["epochs"] == 10 and meta["recipe"]["lr"] == 2e-3
    assert abs(meta["float_val_accuracy"] - acc_f) <= 0.01
    assert meta["q8_8_golden_accuracy"] == pytest.approx(acc_q)


def test_finer_format_tracks_float(digits) -> None:
    x, _ = digits
    net = load_default_model()
    f = simulate_float(net, x[:120])
    q = run_golden(net, x[:120], QFormat(16, 16))
    assert np.mean(f.predictions == q.predictions) >= 0.99
    assert np.abs(f.spike_counts - q.spike_counts).mean() < np.abs(
        f.spike_counts - run_golden(net, x[:120]).spike_counts).mean() + 1e-9


# -- determinism --------------------------------------------------------------------------
def test_deterministic_and_batch_independent(digits) -> None:
    x, _ = digits
    net = load_default_model()
    qnet = quantize_network(net)
    a = run_golden(qnet, x[:100], record=True)
    b = run_golden(qnet, x[:100], record=True, batch_size=7, progress=False)
    assert np.array_equal(a.spike_counts, b.spike_counts)
    assert all(np.array_equal(p, r) for p, r in zip(a.layer_spikes, b.layer_spikes))
    perm = np.random.default_rng(0).permutation(100)
    c = run_golden(qnet, x[:100][perm])
    assert np.array_equal(c.spike_counts, a.spike_counts[perm])
    assert a.spike_counts.dtype == np.int64 and a.predictions.dtype == np.int64
    assert np.array_equal(a.layer_spikes[-1].sum(0), a.spike_counts)
    for key in ("current_saturations", "current_values", "state_saturations", "state_values"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    # 100 samples x (128 static currents once + 25 steps x (128 + 10) currents)
    assert a.current_values.tolist() == [100 * 128, 100 * 25 * 128, 100 * 25 * 10]


# -- an independent per-sample reference -------------------------------------------------------
def _ref_conv_values(fmt: QFormat, layer: Conv2d, w: np.ndarray, b: np.ndarray, x: np.ndarray,
                     binary: bool) -> np.ndarray:
    """Loop convolution on raws: exact sum per output, one rounding, overflow rule, then max-pool."""
    c, h, wd = layer.in_shape
    img = np.zeros((c, h + 2 * layer.padding, wd + 2 * layer.padding), dtype=np.int64)
    img[:, layer.padding:layer.padding + h, layer.padding:layer.padding + wd] = x.reshape(c, h, wd)
    co, _, kh, kw = w.shape
    _, ho, wo = layer.conv_shape
    cur = np.zeros((co, ho, wo), dtype=np.int64)
    for o in range(co):
        for i in range(ho):
            for j in range(wo):
                win = img[:, i * layer.stride:i * layer.stride + kh, j * layer.stride:j * layer.stride + kw]
                acc = int(np.sum(w[o] * win))
                if binary:
                    cur[o, i, j] = fmt.fit(acc + int(b[o]))
                else:
                    cur[o, i, j] = fmt.fit(fmt.shift_round(acc + (int(b[o]) << fmt.frac_bits), fmt.frac_bits))
    p = layer.pool
    _, hp, wp = layer.out_shape
    out = np.zeros((co, hp, wp), dtype=np.int64)
    for i in range(hp):
        for j in range(wp):
            out[:, i, j] = cur[:, i * p:(i + 1) * p, j * p:(j + 1) * p].max(axis=(1, 2))
    return out.reshape(-1)


def _ref_currents(fmt: QFormat, q, x: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
    names = q.layer.neuron.inputs
    if q.layer.neuron.kind == "alpha":
        parts = [(names[0], np.where(q.weight > 0, q.weight, 0), np.where(q.bias > 0, q.bias, 0)),
                 (names[1], np.where(q.weight < 0, -q.weight, 0), np.where(q.bias < 0, -q.bias, 0))]
    else:
        parts = [(names[0], q.weight, q.bias)]
    out = {}
    for name, w, b in parts:
        if isinstance(q.layer, Conv2d):
            out[name] = _ref_conv_values(fmt, q.layer, w, b, x, binary)
        else:
            out[name] = fmt.spike_sum(w, x, b) if binary else fmt.mac(w, x, b)
    return out


def _at_limits(fmt: QFormat, values) -> int:
    return sum(int(np.sum((np.asarray(v) == fmt.max_raw) | (np.asarray(v) == fmt.min_raw))) for v in values)


def reference(qnet: QuantizedNetwork, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """One sample at a time, one layer at a time: the docstring's schedule spelled out.

    Also returns the saturation counts (current hits, currents, state hits, states) per layer."""
    fmt, T = qnet.fmt, qnet.timesteps
    counts, spikes_all = [], []
    sat = np.zeros((4, len(qnet.layers)), dtype=np.int64)
    for sample in x:
        states = [q.neuron.initial_state(q.n_out) for q in qnet.layers]
        prev = [np.zeros(q.n_out, dtype=np.int64) for q in qnet.layers]
        rec = [np.zeros((T, q.n_out), dtype=np.int64) for q in qnet.layers]
        static = fmt.quantize(sample) if qnet.encoding == "direct" else None
        for t in range(T):
            s = None
            for li, q in enumerate(qnet.layers):
                if li == 0:
                    cur = (_ref_currents(fmt, q, static, False) if static is not None
                           else _ref_currents(fmt, q, sample[t], True))
                else:
                    cur = _ref_currents(fmt, q, s, True)
                if q.recurrent_weight is not None:
                    cur["R"] = fmt.spike_sum(q.recurrent_weight, prev[li])
                s, states[li] = q.neuron.step(states[li], cur)
                counted = [v for k, v in cur.items() if k == "R" or t == 0 or li > 0 or static is None]
                sat[0, li] += _at_limits(fmt, counted)
                sat[1, li] += sum(np.size(v) for v in counted)
                sat[2, li] += _at_limits(fmt, states[li].values())
                sat[3, li] += sum(np.size(v) for v in states[li].values())
                prev[li] = s
                rec[li][t] = s
        counts.append(rec[-1].sum(0))
        spikes_all.append(rec)
    layer_spikes = [np.stack([r[li] for r in spikes_all], axis=1) for li in range(len(qnet.layers))]
    return np.array(counts), layer_spikes, sat


def mixed_net(encoding: str = "direct", T: int = 6) -> Network:
    rng = np.random.default_rng(5)
    return Network(
        layers=[
            Conv2d("c0", rng.normal(0, 0.8, (3, 1, 3, 3)), rng.normal(0, 0.2, 3), neuron("lif", beta=0.8),
                   in_shape=(1, 7, 7), stride=1, padding=1, pool=2),
            Conv2d("c1", rng.normal(0, 0.8, (4, 3, 2, 2)), None, neuron("synaptic"), in_shape=(3, 3, 3),
                   stride=2, padding=1, pool=1),
            Dense("d0", rng.normal(0, 0.7, (9, 16)), rng.normal(0, 0.2, 9), neuron("recurrent_lif"),
                  rng.normal(0, 0.5, (9, 9))),
            Dense("d1", rng.normal(0, 0.9, (5, 9)), rng.normal(0, 0.3, 5), neuron("alpha")),
            Dense("d2", rng.normal(0, 1.2, (4, 5)), rng.normal(0, 0.3, 4), neuron("alif")),
        ],
        input_shape=(1, 7, 7), timesteps=T, encoding=encoding)


@pytest.mark.parametrize("encoding,gain", [("direct", 1.0), ("rate", 1.0), ("direct", 60.0), ("rate", 60.0)])
def test_golden_equals_per_sample_reference(encoding: str, gain: float) -> None:
    """Spikes and saturation counts; gain 60 drives many currents and states into the limits."""
    net = mixed_net(encoding)
    for layer in net.layers:
        layer.weight = layer.weight * gain
    rng = np.random.default_rng(1)
    if encoding == "direct":
        x = rng.random((6, 49)) * 1.5
    else:
        x = (rng.random((6, net.timesteps, 49)) < 0.4).astype(np.int64)
    qnet = quantize_network(net)
    got = run_golden(qnet, x, record=True)
    counts, layer_spikes, sat = reference(qnet, x)
    assert np.array_equal(got.spike_counts, counts)
    for a, b in zip(got.layer_spikes, layer_spikes):
        assert np.array_equal(a, b)
    assert sum(int(s.sum()) for s in layer_spikes) > 0  # the network is not silent
    assert got.current_saturations.tolist() == sat[0].tolist()
    assert got.current_values.tolist() == sat[1].tolist()
    assert got.state_saturations.tolist() == sat[2].tolist()
    assert got.state_values.tolist() == sat[3].tolist()
    if gain > 1:
        assert sat[0].sum() > 0 and sat[2].sum() > 0
        return
    # float64 on the same schedule stays close to Q8.8
    f = simulate_float(net, x)
    assert np.abs(f.spike_counts - got.spike_counts).mean() <= 1.0
    assert f.current_saturations is None


def test_batched_equals_per_sample_on_digits(digits) -> None:
    """All 360 digits test images at once (vectorised over samples) equal the per-sample
    reference spike for spike in every layer, with the same saturation counts; and fast."""
    import time

    x, _ = digits
    qnet = quantize_network(load_default_model())
    start = time.perf_counter()
    got = run_golden(qnet, x, record=True, progress=False)
    seconds = time.perf_counter() - start
    counts, layer_spikes, sat = reference(qnet, x)
    assert got.spike_counts.shape == (360, 10) and np.array_equal(got.spike_counts, counts)
    for a, b in zip(got.layer_spikes, layer_spikes):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert [got.current_saturations.tolist(), got.current_values.tolist(), got.state_saturations.tolist(),
            got.state_values.tolist()] == sat.tolist()
    assert seconds < 10.0, f"golden took {seconds:.1f} s for the 360 digits test images"


def _kind_net(kind: str, encoding: str, gain: float) -> Network:
    """Two dense layers of ``kind`` (4 -> 7 -> 5), weights times ``gain`` (lapicque: tau 2, so
    that 7 steps are enough to spike)."""
    params = {"tau": 2.0} if kind == "lapicque" else {}
    rng = np.random.default_rng(sorted(CELL_EQUATIONS).index(kind))
    layers = []
    for i, (n_out, n_in) in enumerate([(7, 4), (5, 7)]):
        rec = rng.normal(0, 0.6 * gain, (n_out, n_out)) if kind == "recurrent_lif" else None
        layers.append(Dense(f"d{i}", rng.normal(0.3, 0.9, (n_out, n_in)) * gain, rng.normal(0, 0.3, n_out),
                            neuron(kind, **params), rec))
    return Network(layers, (4,), timesteps=7, encoding=encoding)


@pytest.mark.parametrize("gain", [1.0, 80.0])
@pytest.mark.parametrize("encoding", ["direct", "rate"])
@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_batched_equals_per_sample_every_kind(kind: str, encoding: str, gain: float) -> None:
    """Every neuron kind: the batched run equals the per-sample reference bit for bit (gain 80
    saturates currents and states), and equals itself one sample at a time (batch_size=1)."""
    net = _kind_net(kind, encoding, gain)
    rng = np.random.default_rng(7)
    x = rng.random((9, 4)) * 1.5 if encoding == "direct" else (rng.random((9, 7, 4)) < 0.5).astype(np.int64)
    qnet = quantize_network(net)
    got = run_golden(qnet, x, record=True, progress=False)
    one = run_golden(qnet, x, record=True, batch_size=1, progress=False)
    counts, layer_spikes, sat = reference(qnet, x)
    assert np.array_equal(got.spike_counts, counts) and np.array_equal(one.spike_counts, counts)
    for a, b, c in zip(got.layer_spikes, one.layer_spikes, layer_spikes):
        assert np.array_equal(a, c) and np.array_equal(b, c)
    assert got.current_saturations.tolist() == sat[0].tolist() and got.state_saturations.tolist() == sat[2].tolist()
    assert sum(int(s.sum()) for s in layer_spikes) > 0, "silent network: the comparison lost its point"
    if gain > 1:
        assert sat[0].sum() > 0, "no current saturated"


def test_prediction_ties_go_to_lowest_index() -> None:
    w = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.9], [0.9, 0.9]])
    net = Network([Dense("o", w, None, neuron("if"))], (2,), 8)
    x = np.array([[1.0, 1.0], [0.0, 0.0]])
    for res in (run_golden(net, x), simulate_float(net, x)):
        assert res.spike_counts[0, 2] == res.spike_counts[0, 3] > res.spike_counts[0, 0]
        assert res.predictions.tolist() == [2, 0]  # silent sample -> class 0


# -- saturation and edge cases ------------------------------------------------------------------
def test_saturation_never_wraps() -> None:
    """Huge weights saturate to the format's limits; currents and membranes clamp, never wrap."""
    w = np.array([[1000.0], [-1000.0], [300.0]])
    net = Network([Dense("o", w, np.array([0.0, 0.0, -500.0]), neuron("lif", threshold=1.0))], (1,), 10)
    qnet = quantize_network(net)
    assert qnet.layers[0].weight[:, 0].tolist() == [Q8_8.max_raw, Q8_8.min_raw, Q8_8.max_raw]
    assert qnet.layers[0].saturated == 4 and qnet.saturated == 4
    assert qnet.layers[0].saturation == {"weight": 3, "bias": 1, "recurrent": 0}
    assert qnet.layers[0].n_values == 6
    assert qnet.saturation_summary() == ("Q8.8 quantisation: 4 weights/biases outside [-128, 127.996] "
                                         "were clipped: o 4 of 6 (3 weight, 1 bias)")
    res = run_golden(qnet, np.array([[1.0]]))
    # currents +max and -max (once: direct input); v of neuron 1 sits at -128 on all 10 steps
    assert res.current_saturations.tolist() == [2] and res.current_values.tolist() == [3]
    assert res.state_saturations[0] >= 10 and res.state_values.tolist() == [30]
    # +max current: v pins at +max and spikes every step; -max: v pins at -128, never wraps positive;
    # neuron 2: the bias -500 saturated to -128 at quantisation, so 127.996 - 128 = -1/256
    assert res.spike_counts.tolist() == [[10, 0, 0]]
    assert simulate_float(net, np.array([[1.0]])).spike_counts.tolist() == [[10, 0, 0]]
    lin = Q8_8.mac(qnet.layers[0].weight, Q8_8.quantize(np.array([1.0])), qnet.layers[0].bias)
    assert lin.tolist() == [Q8_8.max_raw, Q8_8.min_raw, -1]


def test_out_of_range_input_saturates() -> None:
    net = Network([Dense("o", np.array([[1.0]]), None, neuron("if", threshold=100.0))], (1,), 3)
    # x = 1000 quantises to 127.996: v = 27.996 + 127.996 saturates at 127.996 (> 100) every step,
    # so it spikes every step; x = -1000 pins v at -128 (a wrap would make it positive and spike)
    res = run_golden(net, np.array([[1000.0], [-1000.0]]), record=True)
    assert res.spike_counts[:, 0].tolist() == [3, 0]
    qn = quantize_network(net).layers[0].neuron
    spike, st = qn.step({"v": np.array([Q8_8.min_raw])}, {"I": np.array([Q8_8.min_raw])})
    assert spike.tolist() == [0] and st["v"].tolist() == [Q8_8.min_raw]


def test_empty_and_zero_input() -> None:
    net = load_default_model()
    for fn in (run_golden, simulate_float):
        res = fn(net, np.zeros((0, 64)))
        assert res.spike_counts.shape == (0, 10) and res.predictions.shape == (0,)
    zero_bias = Network([Dense("o", np.ones((3, 4)), None, neuron("lif"))], (4,), 5)
    assert run_golden(zero_bias, np.zeros((2, 4))).spike_counts.sum() == 0


def test_input_shapes_and_errors() -> None:
    net = mixed_net()
    x = np.random.default_rng(0).random((2, 49))
    a = run_golden(net, x)
    b = run_golden(net, x.reshape(2, 1, 7, 7))
    assert np.array_equal(a.spike_counts, b.spike_counts)
    with pytest.raises(ValueError, match="shape"):
        run_golden(net, np.zeros((2, 48)))
    with pytest.raises(ValueError, match="NaN"):
        run_golden(net, np.full((1, 49), np.nan))
    rate = mixed_net("rate")
    with pytest.raises(ValueError, match="binary"):
        run_golden(rate, np.full((1, rate.timesteps, 49), 0.5))
    with pytest.raises(ValueError, match="T=6"):
        run_golden(rate, np.zeros((1, 5, 49)))
    with pytest.raises(ValueError, match="quantised to Q8.8"):
        run_golden(quantize_network(net), x, QFormat(16, 16))
    with pytest.raises(TypeError):
        run_golden("net.npz", x)
    with pytest.raises(ValueError, match="dtype"):
        prepare_input(net, np.array([["a"] * 49]))


# -- hw.quantize ---------------------------------------------------------------------------------
def test_quantize_network_raws() -> None:
    net = mixed_net()
    qnet = quantize_network(net)
    assert isinstance(qnet, QuantizedNetwork) and qnet.fmt == Q8_8 and len(qnet.layers) == 5
    for q, layer in zip(qnet.layers, net.layers):
        assert q.weight.dtype == np.int64 and q.weight.shape == layer.weight.shape
        assert np.array_equal(q.weight, Q8_8.quantize(layer.weight))
        want_bias = np.zeros(layer.weight.shape[0]) if layer.bias is None else layer.bias
        assert np.array_equal(q.bias, Q8_8.quantize(want_bias))
        assert q.neuron.fmt == Q8_8 and q.neuron.states == layer.neuron.states
    assert np.array_equal(qnet.layers[2].recurrent_weight, Q8_8.quantize(net.layers[2].recurrent_weight))
    w_exc, b_exc, w_inh, b_inh = qnet.layers[3].split(Q8_8)
    assert np.array_equal(w_exc - w_inh, qnet.layers[3].weight)
    assert (w_exc >= 0).all() and (w_inh >= 0).all() and not (w_exc * w_inh).any()
    assert np.array_equal(b_exc - b_inh, qnet.layers[3].bias)
    assert "saturated 0" in qnet.report()
    assert qnet.saturation_summary() == "Q8.8 quantisation: no weight or bias outside [-128, 127.996]"
    fine = quantize_network(net, QFormat(12, 12))
    assert fine.layers[0].weight.max() > qnet.layers[0].weight.max()


def test_quantize_rejects_bad_input() -> None:
    net = mixed_net()
    net.layers[0].weight = net.layers[0].weight * np.nan
    with pytest.raises(IRError) as info:
        quantize_network(net)
    assert info.value.field == "layers[0].weight"
    with pytest.raises(TypeError):
        quantize_network({"layers": []})
    with pytest.raises(TypeError):
        quantize_network(mixed_net(), fmt="Q8.8")


def test_float_neuron_matches_equation_text() -> None:
    fl = FloatNeuron(neuron("alif", beta=0.5, threshold=1.0, rho=0.5, beta_adapt=1.0))
    state = fl.initial_state(2)
    spike, state = fl.step(state, {"I": np.array([2.0, 0.5])})
    # v = 0.5*0 + I; theta = 1 + 1*0; spike = v > 1; v -= spike*theta; a = 0.5*a + spike
    assert spike.tolist() == [1, 0]
    assert state["v"].tolist() == [1.0, 0.5] and state["a"].tolist() == [1.0, 0.0]
    assert isinstance(GoldenResult(np.zeros((1, 2)), np.zeros(1)).accuracy([0]), float)

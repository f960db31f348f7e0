"""Streaming statistics: exact against a full-history reference, O(neurons) memory,
numpy and torch inputs, epoch windows, reset, serialisation and plotting."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch

from sw.profiling import DEAD_NEURONS, Severity, SpikeProfiler


def random_steps(n_steps=40, shape=(16, 24), seed=0, rate=0.3):
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.0, 2 * rate, size=shape[1:])
    out = []
    for _ in range(n_steps):
        s = (rng.random(shape) < rates).astype(np.float32)
        v = (rng.standard_normal(shape) * 0.7 + 0.2).astype(np.float32)
        g = (rng.standard_normal(shape) * rng.uniform(1e-4, 1e-2)).astype(np.float32)
        out.append((s, v, g))
    return out


def reference(steps):
    s = np.stack([x[0] for x in steps]).reshape(-1, steps[0][0][0].size).astype(np.float64)
    v = np.stack([x[1] for x in steps]).astype(np.float64)
    rms = [np.sqrt(np.mean(x[2].astype(np.float64) ** 2)) for x in steps]
    return s.mean(0), v.mean(), v.std(), float(np.mean(rms)), float(np.max(rms))


def check_against_reference(stats, steps):
    rates, vmean, vstd, gnorm, gmax = reference(steps)
    np.testing.assert_allclose(stats.firing_rates, rates, rtol=1e-12, atol=1e-12)
    assert stats.voltage_mean == pytest.approx(vmean, rel=1e-6)  # float32 inputs, float32 sums
    assert stats.voltage_std == pytest.approx(vstd, rel=1e-6)
    assert stats.gradient_norm == pytest.approx(gnorm, rel=1e-6)
    assert stats.gradient_norm_max == pytest.approx(gmax, rel=1e-6)


def test_numpy_statistics_match_full_history():
    steps = random_steps()
    prof = SpikeProfiler()
    for s, v, g in steps:
        prof.record_step("layer", s, voltages=v, gradients=g)
    stats = prof.report().layer_stats["layer"]
    assert stats.n_neurons == 24 and stats.n_samples == 40 * 16 and stats.n_steps == 40
    check_against_reference(stats, steps)
    v = np.stack([x[1] for x in steps]).reshape(-1, 24).astype(np.float64)
    np.testing.assert_allclose(stats.neuron_voltage_mean, v.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.neuron_voltage_std, v.std(0), rtol=1e-6)


def test_torch_tensors_give_the_numpy_answer():
    steps = random_steps(seed=3)
    prof = SpikeProfiler()
    for s, v, g in steps:
        st = torch.from_numpy(s).requires_grad_()  # graph tensors are fine
        prof.record_step("layer", st, voltages=torch.from_numpy(v), gradients=torch.from_numpy(g))
    check_against_reference(prof.report().layer_stats["layer"], steps)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_stay_on_device_and_match():
    steps = random_steps(seed=4)
    prof = SpikeProfiler()
    for s, v, g in steps:
        prof.record_step("layer", torch.from_numpy(s).cuda(), voltages=torch.from_numpy(v).cuda(),
                         gradients=torch.from_numpy(g).cuda())
    assert prof._window["layer"].spike_sum.is_cuda
    check_against_reference(prof.report().layer_stats["layer"], steps)


def test_time_major_and_conv_shapes_flatten_neurons():
    rng = np.random.default_rng(1)
    T, B, C, H, W = 5, 4, 3, 6, 6
    s = (rng.random((T, B, C, H, W)) < 0.4).astype(np.float32)
    v_traj = rng.standard_normal((T, B, C, H, W))
    prof = SpikeProfiler()
    prof.record_step("conv", s, voltages=v_traj, time_major=True)
    prof.record_step("conv", s[0], voltages=v_traj[-1])  # a single step, (batch, C, H, W)
    stats = prof.report().layer_stats["conv"]
    assert stats.n_neurons == C * H * W and stats.n_samples == T * B + B
    expected = np.concatenate([s.reshape(-1, C * H * W), s[0].reshape(-1, C * H * W)]).mean(0)
    np.testing.assert_allclose(stats.firing_rates, expected)
    # final-state voltages (batch, ...) are accepted with time-major spikes
    prof.record_step("conv", torch.from_numpy(s), voltages=torch.from_numpy(v_traj[-1]),
                     time_major=True)


def test_bad_inputs_give_clear_errors():
    prof = SpikeProfiler()
    with pytest.raises(ValueError, match=r"\(batch, \*neurons\)"):
        prof.record_step("a", np.zeros(()))  # a 1-D array is one unbatched sample (seed API)
    with pytest.raises(ValueError, match=r"\(T, batch, \*neurons\)"):
        prof.record_step("a", np.zeros((3, 5)), time_major=True)
    prof.record_step("a", np.zeros((3, 5)))
    with pytest.raises(ValueError, match="6 neurons per sample, earlier steps had 5"):
        prof.record_step("a", np.zeros((3, 6)))
    with pytest.raises(ValueError, match="voltages of shape"):
        prof.record_step("a", np.zeros((3, 5)), voltages=np.zeros((3, 4)))
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        prof.record_step("a", [[0, 1]])
    with pytest.raises(TypeError, match="non-empty string"):
        prof.record_step("", np.zeros((3, 5)))
    with pytest.raises(TypeError, match="numeric"):
        prof.record_step("b", np.array([["x", "y"]]))
    with pytest.raises(ValueError, match=r"layer 'c': spikes must lie in \[0, 1\]"):
        prof.record_step("c", np.full((2, 3), 2.0))
    prof = SpikeProfiler()
    prof.record_step("d", torch.zeros(2, 3))
    prof.record_step("d", torch.full((2, 3), -1.0))
    with pytest.raises(ValueError, match=r"layer 'd': spikes must lie in \[0, 1\], but firing"):
        prof.report()
    with pytest.raises(ValueError, match="window"):
        SpikeProfiler().report(window="last")


def _traced_after(prof, steps):
    for s, v, g in steps:
        prof.record_step("layer", s, voltages=v, gradients=g)
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_memory_does_not_grow_with_steps(backend):
    steps = random_steps(n_steps=20, shape=(8, 256))
    if backend == "torch":
        steps = [tuple(torch.from_numpy(a) for a in x) for x in steps]
    prof = SpikeProfiler()
    _traced_after(prof, steps[:2])
    held = prof.nbytes()
    tracemalloc.start()
    try:
        before = _traced_after(prof, steps)
        after = before
        for _ in range(25):  # 500 more steps
            after = _traced_after(prof, steps)
    finally:
        tracemalloc.stop()
    assert prof.nbytes() == held  # O(neurons): same arrays after 2 or 502 steps
    assert held < 16 * 256 * 8
    assert after - before < 64 * 1024  # nothing kept per step
    assert prof.report().layer_stats["layer"].n_steps == 2 + 20 * 26


def _epoch(prof, rates, seed, steps=50, n=50):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        prof.record_step("hidden", (rng.random((16, n)) < rates).astype(np.float32),
                         voltages=rng.standard_normal((16, n)))


def test_epoch_windows_show_late_pathology():
    healthy = np.full(50, 0.2)
    dying = healthy.copy()
    dying[:35] = 0.0  # 70 % dead, only in the last epoch
    prof = SpikeProfiler()
    for e in range(9):
        _epoch(prof, healthy, e)
        rep = prof.end_epoch()
        assert rep.window == "epoch" and rep.epoch == e + 1 and not rep.pathologies
    _epoch(prof, dying, 99)
    # the run average (7 % dead-ish rates) hides it, the epoch window does not
    current = prof.report(window="epoch")
    assert current.epoch == 10
    [p] = current.by_category(DEAD_NEURONS)
    assert p.severity is Severity.CRITICAL and p.epoch == 10
    overall = prof.report()
    assert overall.window == "all" and overall.layer_stats["hidden"].n_steps == 500
    assert overall.layer_stats["hidden"].dead_neuron_count == 0  # averaged away...
    late = overall.by_category(DEAD_NEURONS)
    assert late and late[0].epoch == 10 and late[0].severity is Severity.CRITICAL  # ...but listed
    assert "(epoch 10)" in overall.summary()
    closed = prof.end_epoch()
    assert closed.has_critical and len(prof.epoch_reports) == 10
    assert prof.report(window="epoch") is closed  # nothing recorded since
    assert prof.report().by_category(DEAD_NEURONS)[0].epoch == 10


def test_reset_forgets_everything():
    prof = SpikeProfiler()
    _epoch(prof, np.zeros(50), 0)
    prof.end_epoch()
    _epoch(prof, np.zeros(50), 1)
    assert prof.report().has_critical
    prof.reset()
    report = prof.report()
    assert report.layer_stats == {} and report.pathologies == [] and prof.epoch == 1
    assert len(prof.epoch_reports) == 0 and prof.nbytes() == 0
    _epoch(prof, np.full(50, 0.2), 2)
    assert not prof.report().pathologies


def test_json_and_dict_round_trip(tmp_path):
    prof = SpikeProfiler()
    _epoch(prof, np.zeros(50), 0)
    prof.record_step("hidden", np.zeros((2, 50)), gradients=np.full((2, 50), np.nan))
    report = prof.report()
    path = tmp_path / "report.json"
    text = report.to_json(path)
    data = json.loads(path.read_text())
    assert data == json.loads(text) == json.loads(json.dumps(report.to_dict()))
    assert data["has_critical"] is True
    layer = data["layers"]["hidden"]
    assert layer["n_neurons"] == 50 and len(layer["firing_rates"]) == 50
    assert layer["dead_neuron_count"] == 50 and layer["gradient_nonfinite"] == 1
    cats = {p["category"]: p for p in data["pathologies"]}
    assert cats["silent_network"]["severity"] == "CRITICAL"
    assert cats["gradient_explosion"]["metric_value"] == "inf"


def test_plot_writes_an_image(tmp_path):
    prof = SpikeProfiler()
    for e in range(3):
        _epoch(prof, np.full(50, 0.1 * (e + 1)), e)
        prof.record_step("out", np.ones((4, 10)), gradients=np.ones((4, 10)) * 1e-2)
        prof.end_epoch()
    out = prof.report().plot(tmp_path / "sub" / "profile.png", history=list(prof.epoch_reports))
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    svg = prof.report().plot(tmp_path / "profile.svg")
    assert "<svg" in svg.read_text()
    with pytest.raises(ValueError, match="nothing to plot"):
        SpikeProfiler().report().plot(tmp_path / "empty.png")


def test_gradient_buffer_folds_exactly_over_many_steps():
    rng = np.random.default_rng(7)
    scales = rng.uniform(1e-6, 1e-2, size=700)
    prof = SpikeProfiler()
    rms = []
    for scale in scales:
        g = torch.from_numpy((rng.standard_normal((4, 30)) * scale).astype(np.float32))
        rms.append(float(g.double().pow(2).mean().sqrt()))
        prof.record_step("l", torch.zeros(4, 30), gradients=g)
    stats = prof.report().layer_stats["l"]
    assert stats.gradient_steps == 700
    assert stats.gradient_norm == pytest.approx(np.mean(rms), rel=1e-5)
    assert stats.gradient_norm_max == pytest.approx(max(rms), rel=1e-5)


@pytest.mark.parametrize("scale", [1e-15, 1e12])
def test_float32_gradient_norms_keep_extreme_magnitudes(scale):
    prof = SpikeProfiler()
    g = torch.full((25, 64, 128), scale, dtype=torch.float32)
    prof.record_step("l", torch.zeros(2, 128), gradients=g)
    assert prof.report().layer_stats["l"].gradient_norm == pytest.approx(scale, rel=1e-3)


def test_voltage_every_samples_steps_but_not_rates():
    rng = np.random.default_rng(2)
    steps = [((rng.random((8, 6)) < 0.5).astype(np.float32), rng.standard_normal((8, 6)))
             for _ in range(9)]
    prof = SpikeProfiler(voltage_every=4)
    for s, v in steps:
        prof.record_step("l", s, voltages=v)
    stats = prof.report().layer_stats["l"]
    sampled = np.stack([steps[i][1] for i in (0, 4, 8)])
    assert stats.voltage_mean == pytest.approx(sampled.mean()) and stats.n_steps == 9
    assert stats.voltage_std == pytest.approx(sampled.std())
    np.testing.assert_allclose(stats.firing_rates, np.concatenate([s for s, _ in steps]).mean(0))
    with pytest.raises(ValueError, match="voltage_every"):
        SpikeProfiler(voltage_every=0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_run_totals_across_epochs_match_full_history(backend):
    steps = random_steps(n_steps=30, seed=11)
    # shift the voltage level per epoch so the merge of shifted sums is exercised
    steps = [(s, v + 3.0 * (i // 10), g) for i, (s, v, g) in enumerate(steps)]
    conv = (lambda a: torch.from_numpy(np.ascontiguousarray(a))) if backend == "torch" else (lambda a: a)
    prof = SpikeProfiler()
    for i, (s, v, g) in enumerate(steps):
        prof.record_step("layer", conv(s), voltages=conv(v.astype(np.float32)), gradients=conv(g))
        if i % 10 == 9 and i < 29:
            prof.end_epoch()
    steps = [(s, v.astype(np.float32), g) for s, v, g in steps]
    check_against_reference(prof.report().layer_stats["layer"], steps)
    epoch2 = prof.epoch_reports[1].layer_stats["layer"]
    check_against_reference(epoch2, steps[10:20])


def test_rejected_step_records_nothing():
    prof = SpikeProfiler()
    with pytest.raises(ValueError, match="voltages of shape"):
        prof.record_step("a", np.zeros((3, 5)), voltages=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="spikes must lie"):
        prof.record_step("a", np.full((3, 5), 3.0))
    assert prof.report().layer_stats == {}
    prof.record_step("a", np.ones((3, 7)))  # the neuron count is not fixed by a rejected step
    prof.record_step("a", np.ones((3, 7)))
    with pytest.raises(ValueError, match="voltages of shape"):
        prof.record_step("a", np.zeros((3, 7)), voltages=np.zeros((7,)))
    stats = prof.report().layer_stats["a"]
    assert stats.n_steps == 2 and stats.firing_rates.tolist() == [1.0] * 7


def test_numpy_only_use_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from sw.profiling import SpikeProfiler\n"
            "p = SpikeProfiler()\n"
            "p.record_step('a', np.zeros((4, 3)), voltages=np.ones((4, 3)), gradients=np.ones((4, 3)))\n"
            "p.end_epoch(); p.report().to_json()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

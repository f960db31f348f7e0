"""``SpikeProfiler.attach`` on the real ``sw.training`` models and training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sw.profiling import (
    DEAD_NEURONS, GRADIENT_EXPLOSION, SILENT_NETWORK, Severity, SpikeProfiler,
)
from sw.training import (
    ConvSpikingNet, LIFCell, SpikingNet, load_digits_data, make_loaders, spike_count_loss,
    train_epoch,
)


@pytest.fixture(scope="module")
def digits():
    X_tr, X_te, y_tr, y_te = load_digits_data()
    return X_tr, X_te, y_tr, y_te


def _capture(model):
    """Independent observers keeping each cell's spikes (with retained grads) as a reference."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, LIFCell):
            def obs(cell, spikes, states, time_major, name=name):
                if spikes.requires_grad:
                    spikes.retain_grad()
                seen.setdefault(name, []).append(spikes)
            handles.append(m.add_observer(obs))
    return seen, handles


def test_attach_records_rates_voltages_and_gradients(digits):
    torch.manual_seed(0)
    X = digits[0][:32]
    y = digits[2][:32]
    model = SpikingNet(64, 48, 10, n_layers=2)
    prof = SpikeProfiler().attach(model)
    seen, _ = _capture(model)
    counts, _ = model(X.unsqueeze(0).expand(6, *X.shape))
    spike_count_loss(counts, y).backward()
    report = prof.report()
    assert list(report.layer_stats) == ["lifs.0", "lifs.1", "lifs.2"]
    for name, stats in report.layer_stats.items():
        [spikes] = seen[name]
        flat = spikes.detach().reshape(-1, spikes.shape[-1]).double().numpy()
        assert stats.n_neurons == flat.shape[1] and stats.n_samples == 6 * 32
        np.testing.assert_allclose(stats.firing_rates, flat.mean(0), rtol=1e-12)
        assert np.isfinite(stats.voltage_mean) and stats.voltage_std > 0
        expected = float(spikes.grad.double().pow(2).mean().sqrt())
        assert stats.gradient_steps == 1
        assert stats.gradient_norm == pytest.approx(expected, rel=1e-5)  # float32 norm
        assert stats.params == {"beta": pytest.approx(0.9), "threshold": 1.0}


def test_detach_stops_recording_and_keeps_params():
    model = SpikingNet(8, 16, 4, n_layers=1)
    x = torch.rand(5, 3, 8)
    with SpikeProfiler().attach(model) as prof:
        model(x)
        assert all(len(c._observers) == 1 for c in model.lifs)
    assert all(len(c._observers) == 0 for c in model.lifs)
    model(x)
    report = prof.report()
    assert [s.n_steps for s in report.layer_stats.values()] == [1, 1]
    assert report.layer_stats["lifs.0"].params["threshold"] == 1.0


def test_attach_selects_layers_and_rejects_bad_models():
    model = SpikingNet(8, 16, 4, n_layers=1)
    prof = SpikeProfiler().attach(model, layers=["lifs.1"])
    model(torch.rand(5, 3, 8))
    assert list(prof.report().layer_stats) == ["lifs.1"]
    with pytest.raises(ValueError, match="no observable cell named"):
        SpikeProfiler().attach(model, layers=["fcs.0"])
    with pytest.raises(ValueError, match="no cell with add_observer"):
        SpikeProfiler().attach(nn.Linear(3, 3))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        SpikeProfiler().attach(object())


def test_threshold_read_live_from_the_cell():
    model = SpikingNet(8, 16, 4, n_layers=1)
    prof = SpikeProfiler().attach(model)
    with torch.no_grad():
        for cell in model.lifs:
            cell.threshold.fill_(100.0)
    model(torch.rand(10, 4, 8))
    report = prof.report()
    assert report.layer_stats["lifs.0"].params["threshold"] == 100.0
    [dead] = [p for p in report.by_category(DEAD_NEURONS) if p.layer == "lifs.0"]
    assert "from 100 to ~" in dead.suggestion


def test_conv_net_layers_flatten_channels_and_pixels():
    torch.manual_seed(0)
    model = ConvSpikingNet()
    prof = SpikeProfiler().attach(model)
    counts, _ = model(torch.rand(2, 2, 1, 28, 28))
    counts.sum().backward()
    stats = prof.report().layer_stats
    assert [s.n_neurons for s in stats.values()] == [12 * 12 * 12, 32 * 4 * 4, 10]
    assert all(s.n_samples == 4 and s.gradient_steps == 1 for s in stats.values())


def _train(digits, epochs, lr=2e-3, threshold=None, seed=0, n_hidden=128):
    torch.manual_seed(seed)
    train, _ = make_loaders(*digits, batch_size=64, seed=seed)
    model = SpikingNet(64, n_hidden, 10)
    if threshold is not None:
        with torch.no_grad():
            for cell in model.lifs:
                cell.threshold.fill_(threshold)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    prof = SpikeProfiler().attach(model)
    accs = []
    for _ in range(epochs):
        accs.append(train_epoch(model, train, opt, 25)[1])
        prof.end_epoch()
    return prof, accs


def test_default_digits_net_after_normal_training_has_no_critical(digits):
    prof, accs = _train(digits, epochs=3)
    assert accs[-1] > 0.85  # it did train
    report = prof.report()
    assert not report.has_critical, report.summary()
    assert not any(r.has_critical for r in prof.epoch_reports[1:])
    assert all(s.gradient_norm is not None for s in report.layer_stats.values())


@pytest.mark.slow
def test_ten_epochs_of_seed_training_stay_healthy(digits):
    prof, accs = _train(digits, epochs=10)
    assert accs[-1] > 0.95
    assert not prof.report().has_critical, prof.report().summary()


def test_threshold_100_is_diagnosed_dead_and_silent(digits):
    prof, _ = _train(digits, epochs=1, threshold=100.0)
    report = prof.report()
    assert report.has_critical
    [silent] = report.by_category(SILENT_NETWORK)
    assert silent.severity is Severity.CRITICAL
    dead = report.by_category(DEAD_NEURONS)
    assert {p.layer for p in dead} == {"lifs.0", "lifs.1", "lifs.2"}
    assert all(p.severity is Severity.CRITICAL and "100" in p.suggestion for p in dead)


def test_learning_rate_10_is_diagnosed_as_gradient_explosion(digits):
    prof, _ = _train(digits, epochs=1, lr=10.0)
    first = prof.epoch_reports[0]
    boom = first.by_category(GRADIENT_EXPLOSION)
    assert boom and boom[0].severity is Severity.CRITICAL
    assert "learning rate" in boom[0].suggestion


def test_attach_voltage_sampling():
    model = SpikingNet(8, 16, 4, n_layers=1)
    x = torch.rand(5, 3, 8)
    seen, _ = _capture(model)
    sampled = SpikeProfiler().attach(model)  # default: every 4th forward
    full = SpikeProfiler().attach(model, voltage_every=1)
    v_hidden = []
    model.lifs[0].add_observer(lambda c, s, st, tm: v_hidden.append(st["v"].detach().double()))
    for _ in range(5):
        model(x + torch.rand(5, 3, 8))
    a, b = sampled.report().layer_stats["lifs.0"], full.report().layer_stats["lifs.0"]
    assert a.n_steps == b.n_steps == 5
    np.testing.assert_allclose(a.firing_rates, b.firing_rates)
    assert b.voltage_mean == pytest.approx(float(torch.stack(v_hidden).mean()), rel=1e-5)
    assert a.voltage_mean == pytest.approx(float(torch.stack(v_hidden[::4]).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="voltage_every"):
        SpikeProfiler().attach(model, voltage_every=0)


def test_attaching_twice_is_refused():
    model = SpikingNet(8, 16, 4, n_layers=1)
    prof = SpikeProfiler().attach(model)
    with pytest.raises(ValueError, match="already attached"):
        prof.attach(model)
    prof.detach()
    prof.attach(model)  # fine again after detach
    model(torch.rand(3, 2, 8))
    assert prof.report().layer_stats["lifs.0"].n_steps == 1

"""Each pathology fires on a constructed case and stays quiet on its healthy twin."""

from __future__ import annotations

import numpy as np
import pytest

from sw.profiling import (
    DEAD_NEURONS, GRADIENT_EXPLOSION, GRADIENT_VANISHING, SATURATED_NEURONS, SILENT_NETWORK,
    VOLTAGE_COLLAPSE, Severity, SpikeProfiler,
)

N, BATCH, STEPS = 100, 32, 100


def feed(profiler: SpikeProfiler, layer: str, rates: np.ndarray, seed: int = 0,
         voltages: tuple[float, float] | None = (0.0, 0.3), grad_rms=None,
         params=None) -> None:
    """Record STEPS steps of Bernoulli spikes with per-neuron ``rates``."""
    rng = np.random.default_rng(seed)
    for step in range(STEPS):
        spikes = (rng.random((BATCH, rates.size)) < rates).astype(np.float32)
        v = None
        if voltages is not None:
            mean, std = voltages
            v = (mean + std * rng.standard_normal((BATCH, rates.size))).astype(np.float32)
        g = None
        if grad_rms is not None:
            scale = grad_rms(step) if callable(grad_rms) else grad_rms
            g = scale * rng.choice([-1.0, 1.0], size=(BATCH, rates.size))
        profiler.record_step(layer, spikes, voltages=v, gradients=g, params=params)


def categories(report, category):
    return [p for p in report.pathologies if p.category == category]


def healthy(n: int = N) -> np.ndarray:
    return np.full(n, 0.2)


def test_healthy_network_is_clean():
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), grad_rms=1e-3)
    feed(prof, "output", healthy(10), seed=1, grad_rms=1e-2)
    report = prof.report()
    assert report.pathologies == []
    assert not report.has_critical and report.max_severity is None
    assert "No pathologies" in report.summary()


@pytest.mark.parametrize("dead_fraction, severity", [
    (0.7, Severity.CRITICAL), (0.3, Severity.WARNING), (0.05, Severity.INFO)])
def test_dead_neurons_by_fraction(dead_fraction, severity):
    rates = healthy()
    n_dead = int(dead_fraction * N)
    rates[:n_dead] = 0.0
    prof = SpikeProfiler()
    feed(prof, "hidden", rates, params={"threshold": 1.0})
    report = prof.report()
    [p] = categories(report, DEAD_NEURONS)
    assert p.severity is severity and p.layer == "hidden"
    assert p.metric_value == pytest.approx(n_dead / N)
    assert f"{n_dead} of {N} neurons" in p.message
    stats = report.layer_stats["hidden"]
    assert stats.dead_neuron_count == n_dead
    assert stats.dead_neuron_fraction == pytest.approx(n_dead / N)
    assert report.has_critical == (severity is Severity.CRITICAL)


def test_dead_suggestion_uses_real_threshold_and_voltages():
    rates = healthy()
    rates[:80] = 0.0
    prof = SpikeProfiler()
    # voltages N(0.5, 0.1): mean + 2 std = 0.7, far below the real threshold 4.0
    feed(prof, "hidden", rates, voltages=(0.5, 0.1), params={"threshold": 4.0})
    [p] = categories(prof.report(), DEAD_NEURONS)
    assert "from 4 to ~" in p.suggestion
    suggested = float(p.suggestion.split("~")[1].split()[0])
    assert 0.6 < suggested < 1.2


def test_saturated_neurons_and_twin():
    rates = healthy()
    rates[:40] = 1.0
    prof = SpikeProfiler()
    feed(prof, "hidden", rates, params={"threshold": 0.5})
    [p] = categories(prof.report(), SATURATED_NEURONS)
    assert p.severity is Severity.WARNING and p.metric_value == pytest.approx(0.4)
    assert "from 0.5 to ~1" in p.suggestion
    few = healthy()
    few[:5] = 1.0
    prof = SpikeProfiler()
    feed(prof, "hidden", few)
    [p] = categories(prof.report(), SATURATED_NEURONS)
    assert p.severity is Severity.INFO
    prof = SpikeProfiler()
    feed(prof, "hidden", np.full(N, 0.9))
    assert categories(prof.report(), SATURATED_NEURONS) == []


def test_silent_network_and_twin():
    prof = SpikeProfiler()
    feed(prof, "hidden", np.zeros(N), params={"threshold": 100.0})
    feed(prof, "output", np.zeros(10), seed=1)
    report = prof.report()
    [p] = categories(report, SILENT_NETWORK)
    assert p.severity is Severity.CRITICAL and p.layer == "network"
    assert "hidden 100 -> ~" in p.suggestion
    # twin: one single neuron firing at 1 % keeps the network from being silent
    rates = np.zeros(N)
    rates[0] = 0.01
    prof = SpikeProfiler()
    feed(prof, "hidden", rates)
    feed(prof, "output", np.zeros(10), seed=1)
    assert categories(prof.report(), SILENT_NETWORK) == []


@pytest.mark.parametrize("mean", [0.0, 0.37, 5.0, -60.0])
def test_voltage_collapse_and_twin(mean):
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), voltages=(mean, 0.0))
    [p] = categories(prof.report(), VOLTAGE_COLLAPSE)
    assert p.severity is Severity.WARNING and p.metric_value < 1e-6
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), voltages=(mean, 1e-5))  # small but moving
    report = prof.report()
    assert categories(report, VOLTAGE_COLLAPSE) == []
    assert report.layer_stats["hidden"].voltage_std == pytest.approx(1e-5, rel=0.05)


def test_gradient_explosion_and_twin():
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), grad_rms=lambda s: 1.0 if s == 60 else 1e-3)
    [p] = categories(prof.report(), GRADIENT_EXPLOSION)
    assert p.severity is Severity.CRITICAL
    assert p.metric_value == pytest.approx(1000.0, rel=1e-6)
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), grad_rms=lambda s: 1e-3 * (1 + (s % 7)))
    assert categories(prof.report(), GRADIENT_EXPLOSION) == []


def test_nonfinite_gradient_is_explosion():
    prof = SpikeProfiler()
    feed(prof, "hidden", healthy(), grad_rms=lambda s: np.inf if s == 3 else 1e-3)
    [p] = categories(prof.report(), GRADIENT_EXPLOSION)
    assert p.severity is Severity.CRITICAL and "1 of 100" in p.message
    assert prof.report().layer_stats["hidden"].gradient_norm == pytest.approx(1e-3)


def test_gradient_vanishing_and_twin():
    prof = SpikeProfiler()
    feed(prof, "l0", healthy(), grad_rms=1e-6)
    feed(prof, "l1", healthy(), seed=1, grad_rms=1e-4)
    feed(prof, "l2", healthy(10), seed=2, grad_rms=1e-2)
    [p] = categories(prof.report(), GRADIENT_VANISHING)
    assert p.severity is Severity.CRITICAL and p.layer == "l0"
    assert p.metric_value == pytest.approx(1e4)
    prof = SpikeProfiler()
    feed(prof, "l0", healthy(), grad_rms=1e-3)
    feed(prof, "l2", healthy(10), seed=2, grad_rms=1e-2)
    assert categories(prof.report(), GRADIENT_VANISHING) == []


def test_constructor_thresholds_are_used_everywhere():
    rates = healthy()  # 0.2 everywhere
    prof = SpikeProfiler(dead_threshold=0.3, saturated_threshold=0.9,
                         gradient_explosion_ratio=5.0)
    feed(prof, "hidden", rates, grad_rms=lambda s: 1e-2 if s == 10 else 1e-3)
    report = prof.report()
    assert report.thresholds.dead_threshold == 0.3
    assert report.layer_stats["hidden"].dead_neuron_count == N
    [dead] = categories(report, DEAD_NEURONS)
    assert dead.severity is Severity.CRITICAL and "< 0.3" in dead.message
    [boom] = categories(report, GRADIENT_EXPLOSION)
    assert boom.threshold == 5.0 and boom.metric_value == pytest.approx(10.0)
    assert report.to_dict()["thresholds"]["dead_threshold"] == 0.3
    # saturated threshold moves the count too
    prof = SpikeProfiler(saturated_threshold=0.1)
    feed(prof, "hidden", rates)
    assert prof.report().layer_stats["hidden"].saturated_neuron_count == N
    # fractions and the other limits are constructor keywords as well
    prof = SpikeProfiler(silent_threshold=0.5, dead_fraction_critical=0.95,
                         dead_fraction_warning=0.9)
    feed(prof, "hidden", rates)
    report = prof.report()
    assert categories(report, SILENT_NETWORK)
    assert not categories(report, DEAD_NEURONS)


def test_bad_thresholds_rejected():
    with pytest.raises(ValueError, match="dead_threshold"):
        SpikeProfiler(dead_threshold=0.99, saturated_threshold=0.5)
    with pytest.raises(ValueError, match="gradient_explosion_ratio"):
        SpikeProfiler(gradient_explosion_ratio=0.5)
    with pytest.raises(TypeError, match="unknown threshold"):
        SpikeProfiler(dead_treshold=0.1)
    with pytest.raises(ValueError, match="saturated_threshold"):
        SpikeProfiler(saturated_threshold=float("nan"))


def test_seed_example_output_format():
    rates = healthy()
    rates[:95] = 0.0
    prof = SpikeProfiler()
    feed(prof, "hidden", rates, params={"threshold": 1.0})
    report = prof.report()
    assert report.has_critical
    crit = [p for p in report.pathologies if p.severity.value >= 2]
    assert crit[0].category == "dead_neurons" and crit[0].layer == "hidden"
    assert crit[0].message == "95 of 100 neurons (95.0%) have firing rate < 0.01"
    assert crit[0].suggestion.startswith("Lower threshold from 1 to ~")
    text = report.summary()
    assert "[CRITICAL] dead_neurons @ hidden" in text and "Fix: Lower threshold" in text

"""The seed's profiler API (issue 17): unbatched record_step, report fields, hand-built
report classes, both gradient-vanishing directions, findings withdrawn as resolved."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sw.profiling import (DEAD_NEURONS, GRADIENT_VANISHING, LayerStats, Pathology, ProfileReport,
                          Severity, SpikeProfiler)

from .test_pathologies import categories, feed, healthy


def test_record_step_takes_unbatched_arrays():
    prof = SpikeProfiler()
    rng = np.random.default_rng(0)
    spikes = (rng.random((50, 16)) < 0.25).astype(np.float32)
    volts = rng.standard_normal((50, 16)).astype(np.float32)
    for s, v in zip(spikes, volts):  # (n_neurons,) each, as the seed's tutorial allows
        prof.record_step("h", s, voltages=v)
    prof.record_step("t", torch.ones(16), voltages=torch.zeros(16))
    stats = prof.report().layer_stats["h"]
    assert stats.n_neurons == 16 and stats.n_steps == 50 and stats.n_samples == 50
    np.testing.assert_allclose(stats.firing_rates, spikes.mean(0))
    assert stats.total_spikes == int(spikes.sum())
    assert stats.voltage_min == pytest.approx(float(volts.min()))
    assert stats.voltage_max == pytest.approx(float(volts.max()))


def test_report_and_layer_fields_of_the_seed():
    prof = SpikeProfiler()
    rng = np.random.default_rng(1)
    for _ in range(20):
        prof.record_step("hidden", (rng.random((4, 10)) < 0.3).astype(np.float32),
                         gradients=np.full((4, 10), 0.5), fan_out=7)
        prof.record_step("out", (rng.random((4, 3)) < 0.5).astype(np.float32))
    rep = prof.report()
    h, o = rep.layer_stats["hidden"], rep.layer_stats["out"]
    assert rep.total_steps == 20 and rep.total_neurons == 13
    assert rep.total_spikes == h.total_spikes + o.total_spikes > 0
    assert h.gradient_norm_mean == pytest.approx(0.5) and o.gradient_norm_mean == 0.0
    assert h.estimated_syn_ops == 7 * h.total_spikes and o.estimated_syn_ops == 0
    assert math.isnan(o.voltage_min)
    d = rep.to_dict()
    assert d["total_spikes"] == rep.total_spikes and d["layers"]["hidden"]["estimated_syn_ops"] > 0
    assert "20 steps, 13 neurons" in rep.summary()
    with pytest.raises(ValueError, match="fan_out"):
        prof.set_fan_out("hidden", -1)


def test_report_classes_build_by_hand():
    empty = ProfileReport()
    assert empty.total_steps == 0 and empty.pathologies == [] and not empty.has_critical
    assert "No pathologies" in empty.summary()
    p = Pathology(Severity.CRITICAL, "dead_neurons", "hidden", "95 of 128 dead", "lower it")
    assert p.metric_value == 0.0 and math.isnan(p.threshold) and p.epoch is None
    assert Pathology("warning", "x", "l", "m", "s").severity is Severity.WARNING
    with pytest.raises(ValueError, match="severity"):
        Pathology("awful", "x", "l", "m", "s")
    s = LayerStats("hidden", 128, 10)  # the seed's positional order
    assert (s.n_neurons, s.n_steps, s.total_spikes, s.estimated_syn_ops) == (128, 10, 0, 0)
    assert s.firing_rates.shape == (128,) and s.gradient_norm_mean == 0.0
    rep = ProfileReport(layer_stats={"hidden": s}, pathologies=[p])
    assert rep.has_critical and rep.total_neurons == 128 and rep.total_steps == 10
    assert "[CRITICAL] dead_neurons @ hidden" in rep.summary()
    rep.to_json()


def test_gradient_vanishing_both_directions_named():
    prof = SpikeProfiler()  # the seed's definition: first / last > 100
    feed(prof, "l0", healthy(), grad_rms=1e-2)
    feed(prof, "l1", healthy(10), seed=2, grad_rms=1e-5)
    [p] = categories(prof.report(), GRADIENT_VANISHING)
    assert p.metric_value == pytest.approx(1e3) and "from the first layer" in p.message
    assert p.layer == "l1"
    prof = SpikeProfiler()  # the opposite direction: towards the input
    feed(prof, "l0", healthy(), grad_rms=1e-6)
    feed(prof, "l1", healthy(10), seed=2, grad_rms=1e-3)
    [p] = categories(prof.report(), GRADIENT_VANISHING)
    assert "towards the input" in p.message and p.layer == "l0"
    prof = SpikeProfiler()
    feed(prof, "l0", healthy(), grad_rms=1e-3)
    feed(prof, "l1", healthy(10), seed=2, grad_rms=5e-3)
    assert categories(prof.report(), GRADIENT_VANISHING) == []


def test_a_pathology_that_disappears_is_reported_resolved():
    prof = SpikeProfiler()
    dead = np.where(np.arange(100) < 70, 0.0, 0.2)
    feed(prof, "hidden", dead)
    first = prof.end_epoch()
    assert categories(first, DEAD_NEURONS)
    feed(prof, "hidden", healthy(), seed=1)
    prof.end_epoch()
    for _ in range(3):  # healthy epochs outweigh the bad one in the totals too
        feed(prof, "hidden", healthy(), seed=2)
        prof.end_epoch()
    rep = prof.report()
    assert categories(rep, DEAD_NEURONS) == []
    [res] = [p for p in rep.resolved if p.category == DEAD_NEURONS]
    assert res.resolved and res.epoch == 1 and res.layer == "hidden"
    assert "Resolved" in rep.summary() and rep.to_dict()["resolved"][0]["resolved"] is True
    # still dead in the latest window: not resolved
    prof = SpikeProfiler()
    feed(prof, "hidden", dead)
    prof.end_epoch()
    feed(prof, "hidden", dead, seed=3)
    rep = prof.report()
    assert categories(rep, DEAD_NEURONS) and rep.resolved == []

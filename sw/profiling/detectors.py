"""The six pathology detectors and their suggested fixes.

Each detector reads :class:`~sw.profiling.report.LayerStats` and one
:class:`~sw.profiling.thresholds.Thresholds`; suggestions quote the layer's
real parameters (``threshold`` ...) when they are known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .accumulators import Snapshot
from .report import (
    DEAD_NEURONS, GRADIENT_EXPLOSION, GRADIENT_VANISHING, NETWORK, SATURATED_NEURONS,
    SILENT_NETWORK, VOLTAGE_COLLAPSE, LayerStats, Pathology, Severity,
)
from .thresholds import Thresholds


def _g(x: float) -> str:
    """Three significant digits."""
    return f"{x:.3g}"


def build_layer_stats(name: str, snap: Snapshot, th: Thresholds,
                      params: Mapping[str, float] | None = None, fan_out: int = 0) -> LayerStats:
    """Turn a numpy snapshot into :class:`LayerStats` under thresholds ``th``.

    Raises:
        ValueError: when the recorded spikes were not in [0, 1].
    """
    rates = snap.firing_rates
    if snap.n_samples and (rates.min() < 0 or rates.max() > 1):
        raise ValueError(
            f"layer {name!r}: spikes must lie in [0, 1], but firing rates span "
            f"[{rates.min()}, {rates.max()}]")
    n = snap.n_neurons
    dead = int(np.count_nonzero(rates < th.dead_threshold))
    sat = int(np.count_nonzero(rates > th.saturated_threshold))
    return LayerStats(
        name=name,
        n_neurons=n,
        n_samples=snap.n_samples,
        n_steps=snap.n_steps,
        firing_rates=rates,
        dead_neuron_count=dead,
        dead_neuron_fraction=dead / n,
        saturated_neuron_count=sat,
        saturated_neuron_fraction=sat / n,
        voltage_mean=snap.voltage_mean,
        voltage_std=snap.voltage_std,
        neuron_voltage_mean=snap.neuron_voltage_mean,
        neuron_voltage_std=snap.neuron_voltage_std,
        gradient_norm=snap.gradient_norm,
        gradient_norm_max=snap.gradient_norm_max,
        gradient_steps=snap.gradient_steps,
        gradient_nonfinite=snap.gradient_nonfinite,
        gradient_explosion_ratio=snap.gradient_explosion_ratio,
        params={k: float(v) for k, v in (params or {}).items()},
        total_spikes=int(round(snap.total_spikes)),
        voltage_min=snap.voltage_min,
        voltage_max=snap.voltage_max,
        fan_out=int(fan_out),
    )


def _suggested_lower_threshold(s: LayerStats, mask: np.ndarray) -> float | None:
    """A threshold the masked (dead) neurons would cross a few % of the time.

    The median over those neurons of (voltage mean + 2 std): a roughly normal
    membrane exceeds it ~2 % of the time, above the dead limit.  None when
    the voltages are unknown or that level is not positive.
    """
    if s.neuron_voltage_mean is None or s.neuron_voltage_std is None or not mask.any():
        return None
    level = s.neuron_voltage_mean[mask] + 2.0 * s.neuron_voltage_std[mask]
    level = level[np.isfinite(level)]
    if level.size == 0:
        return None
    target = float(np.median(level))
    return target if target > 0 else None


def _dead_fix(s: LayerStats, th: Thresholds) -> str:
    mask = s.firing_rates < th.dead_threshold
    theta = s.params.get("threshold")
    target = _suggested_lower_threshold(s, mask)
    if theta is not None and target is not None and target < theta:
        return (f"Lower threshold from {_g(theta)} to ~{_g(target)} (median of mean + 2 std "
                f"of the dead neurons' membrane voltage), or add input noise / scale up the "
                f"input weights")
    if theta is not None and s.neuron_voltage_mean is not None and target is None:
        return (f"The dead neurons' membrane stays below 0 while the threshold is "
                f"{_g(theta)}: scale up the input weights or input gain, check the input "
                f"encoding, or add input noise")
    if theta is not None:
        return (f"Lower threshold from {_g(theta)} to ~{_g(theta / 2)}, "
                f"or add input noise / scale up the input weights")
    return "Lower the firing threshold (e.g. halve it), or add input noise / scale up the input weights"


def detect_dead(s: LayerStats, th: Thresholds) -> Pathology | None:
    """Neurons firing below ``dead_threshold``: CRITICAL/WARNING/INFO by layer fraction."""
    if s.dead_neuron_count == 0 or s.n_samples == 0:
        return None
    frac = s.dead_neuron_fraction
    if frac > th.dead_fraction_critical:
        sev, limit = Severity.CRITICAL, th.dead_fraction_critical
    elif frac > th.dead_fraction_warning:
        sev, limit = Severity.WARNING, th.dead_fraction_warning
    else:
        sev, limit = Severity.INFO, 0.0
    msg = (f"{s.dead_neuron_count} of {s.n_neurons} neurons ({frac:.1%}) have firing rate "
           f"< {_g(th.dead_threshold)}")
    return Pathology(sev, DEAD_NEURONS, s.name, msg, _dead_fix(s, th), frac, limit)


def detect_saturated(s: LayerStats, th: Thresholds) -> Pathology | None:
    """Neurons firing above ``saturated_threshold``: WARNING above the fraction limit, else INFO."""
    if s.saturated_neuron_count == 0 or s.n_samples == 0:
        return None
    frac = s.saturated_neuron_fraction
    if frac > th.saturated_fraction_warning:
        sev, limit = Severity.WARNING, th.saturated_fraction_warning
    else:
        sev, limit = Severity.INFO, 0.0
    msg = (f"{s.saturated_neuron_count} of {s.n_neurons} neurons ({frac:.1%}) have firing rate "
           f"> {_g(th.saturated_threshold)}")
    theta = s.params.get("threshold")
    if theta is not None:
        fix = (f"Raise threshold from {_g(theta)} to ~{_g(2 * theta)}, reduce the input/weight "
               f"scale, or add a spike-rate penalty (spike_l1_loss)")
    else:
        fix = ("Raise the firing threshold (e.g. double it), reduce the input/weight scale, "
               "or add a spike-rate penalty (spike_l1_loss)")
    return Pathology(sev, SATURATED_NEURONS, s.name, msg, fix, frac, limit)


def detect_silent(stats: Mapping[str, LayerStats], th: Thresholds) -> Pathology | None:
    """No neuron of any layer fires above ``silent_threshold``: CRITICAL."""
    recorded = [s for s in stats.values() if s.n_samples]
    if not recorded:
        return None
    top = max(float(s.firing_rates.max()) for s in recorded)
    if top >= th.silent_threshold:
        return None
    msg = (f"the highest firing rate of any neuron in {len(recorded)} layer(s) is {_g(top)} "
           f"< {_g(th.silent_threshold)}")
    lowered = []
    for s in recorded:
        theta = s.params.get("threshold")
        if theta is None:
            continue
        target = _suggested_lower_threshold(s, np.ones(s.n_neurons, dtype=bool))
        if target is not None and target < theta:
            lowered.append(f"{s.name} {_g(theta)} -> ~{_g(target)}")
        else:
            lowered.append(f"{s.name} {_g(theta)} -> ~{_g(theta / 2)}")
    fix = "Check the input encoding (inputs all zero, or not scaled to [0, 1]?) and lower all thresholds"
    if lowered:
        fix += " (" + ", ".join(lowered) + ")"
    return Pathology(Severity.CRITICAL, SILENT_NETWORK, NETWORK, msg, fix, top,
                     th.silent_threshold)


def detect_voltage_collapse(s: LayerStats, th: Thresholds) -> Pathology | None:
    """Membrane voltage standard deviation below ``voltage_collapse_std``: WARNING."""
    if math.isnan(s.voltage_std) or s.voltage_std >= th.voltage_collapse_std:
        return None
    msg = (f"membrane voltage std {s.voltage_std:.3g} < {_g(th.voltage_collapse_std)} "
           f"(mean {s.voltage_mean:.3g}): the layer's voltage does not move")
    fix = ("Increase the input current (larger input weights or input gain) and check that "
           "the layer actually receives input")
    beta = s.params.get("beta")
    if beta is not None and beta < 0.5:
        fix += f"; beta={_g(beta)} leaks most of the input each step, try ~0.9"
    return Pathology(Severity.WARNING, VOLTAGE_COLLAPSE, s.name, msg, fix, s.voltage_std,
                     th.voltage_collapse_std)


def detect_gradient_explosion(s: LayerStats, th: Thresholds) -> Pathology | None:
    """NaN/inf gradients, or a step whose gradient norm is > ratio x the mean of the others: CRITICAL."""
    fix = ("Clip gradients (torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)) "
           "and reduce the learning rate (e.g. x0.1)")
    if s.gradient_nonfinite:
        msg = (f"{s.gradient_nonfinite} of {s.gradient_steps} recorded steps had NaN/inf "
               f"gradients")
        return Pathology(Severity.CRITICAL, GRADIENT_EXPLOSION, s.name, msg, fix, math.inf,
                         th.gradient_explosion_ratio)
    ratio = s.gradient_explosion_ratio
    if ratio is None or ratio <= th.gradient_explosion_ratio:
        return None
    mean_rest = s.gradient_norm_max / ratio if s.gradient_norm_max else 0.0
    msg = (f"largest per-step gradient norm {s.gradient_norm_max:.3g} is {ratio:.3g}x the mean "
           f"of the other steps ({mean_rest:.3g}); limit {_g(th.gradient_explosion_ratio)}x")
    return Pathology(Severity.CRITICAL, GRADIENT_EXPLOSION, s.name, msg, fix, ratio,
                     th.gradient_explosion_ratio)


def detect_gradient_vanishing(stats: Mapping[str, LayerStats],
                              th: Thresholds) -> list[Pathology]:
    """First- vs last-layer mean gradient norm (layers in record order): CRITICAL when one is
    more than ``gradient_vanishing_ratio`` times the other.

    ``first / last > ratio`` is the seed's definition (the gradient decays
    from the first layer to the last); ``last / first > ratio`` is the
    opposite direction (it decays on its way back to the input, the classic
    deep-network case).  The message names the direction.
    """
    with_grad = [s for s in stats.values() if s.gradient_norm is not None]
    if len(with_grad) < 2:
        return []
    first, last = with_grad[0], with_grad[-1]
    g_first, g_last = first.gradient_norm, last.gradient_norm
    limit = th.gradient_vanishing_ratio
    fix = ("Add skip connections or fewer layers, use a wider surrogate (e.g. a smaller "
           "atan alpha or fast_sigmoid slope), and check for dead/saturated layers in between")
    found = []
    if g_last > 0:
        ratio = math.inf if g_first == 0 else g_last / g_first
        if ratio > limit:
            msg = (f"gradient vanishes towards the input: mean gradient norm of the first layer "
                   f"{first.name!r} ({g_first:.3g}) is {ratio:.3g}x smaller than of the last "
                   f"layer {last.name!r} ({g_last:.3g}); limit {_g(limit)}x")
            found.append(Pathology(Severity.CRITICAL, GRADIENT_VANISHING, first.name, msg, fix,
                                   ratio, limit))
    if g_first > 0:
        ratio = math.inf if g_last == 0 else g_first / g_last
        if ratio > limit:
            msg = (f"gradient decays from the first layer {first.name!r} ({g_first:.3g}) to the "
                   f"last layer {last.name!r} ({g_last:.3g}): {ratio:.3g}x (the seed's "
                   f"first/last definition); limit {_g(limit)}x")
            found.append(Pathology(Severity.CRITICAL, GRADIENT_VANISHING, last.name, msg,
                                   fix + "; a weak output-layer gradient often means a saturated "
                                   "or silent output layer or a loss that ignores it", ratio, limit))
    return found


def detect_all(stats: Mapping[str, LayerStats], th: Thresholds) -> list[Pathology]:
    """Run every detector; most severe first, then layer order."""
    found: list[Pathology] = []
    silent = detect_silent(stats, th)
    if silent:
        found.append(silent)
    for s in stats.values():
        for detect in (detect_dead, detect_saturated, detect_voltage_collapse,
                       detect_gradient_explosion):
            p = detect(s, th)
            if p:
                found.append(p)
    found.extend(detect_gradient_vanishing(stats, th))
    return sorted(found, key=lambda p: -int(p.severity))

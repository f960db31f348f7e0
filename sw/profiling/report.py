"""What the profiler hands back: per-layer statistics, pathologies, a report.

Everything here is plain data (numpy arrays and Python numbers), so a
report outlives the model and the device it was measured on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from .thresholds import Thresholds


class Severity(IntEnum):
    """How bad a pathology is; compares and sorts as an int."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


DEAD_NEURONS = "dead_neurons"
SATURATED_NEURONS = "saturated_neurons"
SILENT_NETWORK = "silent_network"
VOLTAGE_COLLAPSE = "voltage_collapse"
GRADIENT_EXPLOSION = "gradient_explosion"
GRADIENT_VANISHING = "gradient_vanishing"
CATEGORIES: tuple[str, ...] = (
    DEAD_NEURONS, SATURATED_NEURONS, SILENT_NETWORK,
    VOLTAGE_COLLAPSE, GRADIENT_EXPLOSION, GRADIENT_VANISHING,
)
NETWORK = "network"
"""Layer name used by pathologies of the whole network (silent network)."""


def _json_number(x: float | None) -> float | str | None:
    """JSON has no NaN/inf: NaN becomes None, infinities the strings "inf"/"-inf"."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


@dataclass(frozen=True)
class Pathology:
    """One detected training problem.

    Attributes:
        severity: INFO, WARNING or CRITICAL.
        category: one of :data:`CATEGORIES` (e.g. ``"dead_neurons"``).
        layer: the layer it concerns, or ``"network"``.
        message: what was measured, with numbers.
        suggestion: a concrete fix, using the layer's real parameters when known.
        metric_value: the measured value compared against ``threshold`` (optional).
        threshold: the limit it crossed (optional; NaN when not given).
        epoch: the epoch window it was seen in (1-based), or None for the whole run.
        resolved: True for a finding of earlier epochs that the latest window no
            longer shows (listed in ``ProfileReport.resolved``); ``epoch`` is then
            the last epoch it was seen in.

    ``Pathology(severity, category, layer, message, suggestion)`` is enough, as
    in the seed; ``severity`` may also be given by name (``"critical"``).
    """

    severity: Severity
    category: str
    layer: str
    message: str
    suggestion: str
    metric_value: float = 0.0
    threshold: float = math.nan
    epoch: int | None = None
    resolved: bool = False

    def __post_init__(self) -> None:
        sev = self.severity
        if isinstance(sev, str):
            try:
                sev = Severity[sev.upper()]
            except KeyError:
                raise ValueError(f"unknown severity {self.severity!r}; expected one of "
                                 f"{[s.name for s in Severity]}") from None
        object.__setattr__(self, "severity", Severity(sev))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (severity as its name)."""
        return {
            "severity": self.severity.name,
            "category": self.category,
            "layer": self.layer,
            "message": self.message,
            "suggestion": self.suggestion,
            "metric_value": _json_number(self.metric_value),
            "threshold": _json_number(self.threshold),
            "epoch": self.epoch,
            "resolved": self.resolved,
        }


@dataclass
class LayerStats:
    """Statistics of one layer over the report's window.

    Attributes:
        name: layer name (the module name when attached to a model).
        n_neurons: neurons per sample (all axes after batch, flattened).
        n_samples: sample-timesteps recorded (rows the rates are averaged over).
        n_steps: ``record_step`` calls (or observed cell calls).
        firing_rates: per-neuron spikes per sample-timestep, shape (n_neurons,).
        dead_neuron_count, dead_neuron_fraction: neurons below the dead threshold.
        saturated_neuron_count, saturated_neuron_fraction: neurons above the
            saturated threshold.
        voltage_mean, voltage_std: over all neurons and samples (NaN when no
            voltages were recorded).
        neuron_voltage_mean, neuron_voltage_std: per-neuron voltage moments, or None.
        gradient_norm: mean over steps of the per-step gradient RMS, or None
            when no (finite) gradients were recorded.
        gradient_norm_max: the largest per-step gradient RMS, or None.
        gradient_steps: steps with gradients; gradient_nonfinite: those with NaN/inf.
        params: the layer's neuron parameters (threshold, beta, ...) when known.
        total_spikes: spikes over all recorded samples and neurons.
        voltage_min, voltage_max: extremes of the recorded voltages (NaN: none).
        gradient_norm_mean: ``gradient_norm``, 0.0 when none was recorded (the seed's field).
        fan_out: synapses each spike drives (0: unknown); estimated_syn_ops:
            ``total_spikes * fan_out``, the synaptic events the spikes cause.

    ``LayerStats(name, n_neurons, n_steps)`` builds an empty record (the seed's
    positional order); every other field has a default.
    """

    name: str
    n_neurons: int = 0
    n_steps: int = 0
    n_samples: int = 0
    firing_rates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dead_neuron_count: int = 0
    dead_neuron_fraction: float = 0.0
    saturated_neuron_count: int = 0
    saturated_neuron_fraction: float = 0.0
    voltage_mean: float = math.nan
    voltage_std: float = math.nan
    neuron_voltage_mean: np.ndarray | None = None
    neuron_voltage_std: np.ndarray | None = None
    gradient_norm: float | None = None
    gradient_norm_max: float | None = None
    gradient_steps: int = 0
    gradient_nonfinite: int = 0
    gradient_explosion_ratio: float | None = None
    params: dict[str, float] = field(default_factory=dict)
    total_spikes: int = 0
    voltage_min: float = math.nan
    voltage_max: float = math.nan
    gradient_norm_mean: float | None = None
    fan_out: int = 0
    estimated_syn_ops: int | None = None

    def __post_init__(self) -> None:
        self.firing_rates = np.asarray(self.firing_rates, dtype=np.float64).reshape(-1)
        if self.firing_rates.size == 0 and self.n_neurons > 0:
            self.firing_rates = np.zeros(self.n_neurons)
        if self.gradient_norm is None and self.gradient_norm_mean:
            self.gradient_norm = float(self.gradient_norm_mean)
        if self.gradient_norm_mean is None:
            self.gradient_norm_mean = 0.0 if self.gradient_norm is None else float(self.gradient_norm)
        if self.estimated_syn_ops is None:
            self.estimated_syn_ops = int(self.total_spikes) * int(self.fan_out)

    @property
    def mean_rate(self) -> float:
        """Mean firing rate of the layer."""
        return float(self.firing_rates.mean()) if self.firing_rates.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists, NaN as None)."""
        r = self.firing_rates
        return {
            "name": self.name,
            "n_neurons": self.n_neurons,
            "n_samples": self.n_samples,
            "n_steps": self.n_steps,
            "firing_rates": [float(v) for v in r],
            "firing_rate_mean": self.mean_rate,
            "firing_rate_min": float(r.min()) if r.size else None,
            "firing_rate_max": float(r.max()) if r.size else None,
            "dead_neuron_count": self.dead_neuron_count,
            "dead_neuron_fraction": self.dead_neuron_fraction,
            "saturated_neuron_count": self.saturated_neuron_count,
            "saturated_neuron_fraction": self.saturated_neuron_fraction,
            "voltage_mean": _json_number(self.voltage_mean),
            "voltage_std": _json_number(self.voltage_std),
            "gradient_norm": _json_number(self.gradient_norm),
            "gradient_norm_max": _json_number(self.gradient_norm_max),
            "gradient_steps": self.gradient_steps,
            "gradient_nonfinite": self.gradient_nonfinite,
            "gradient_explosion_ratio": _json_number(self.gradient_explosion_ratio),
            "params": {k: _json_number(v) for k, v in self.params.items()},
            "total_spikes": int(self.total_spikes),
            "voltage_min": _json_number(self.voltage_min),
            "voltage_max": _json_number(self.voltage_max),
            "gradient_norm_mean": _json_number(self.gradient_norm_mean),
            "fan_out": int(self.fan_out),
            "estimated_syn_ops": int(self.estimated_syn_ops),
        }


@dataclass
class ProfileReport:
    """The profiler's diagnosis over one window of recorded steps.

    Attributes:
        layer_stats: per-layer statistics, in the order layers were first recorded.
        pathologies: detected problems, most severe first.
        thresholds: the limits used.
        window: ``"all"`` (since the last reset) or ``"epoch"``.
        epoch: the 1-based epoch window of an ``"epoch"`` report, else None.
        epochs_closed: how many epochs had been closed with ``end_epoch()``.
        resolved: findings of earlier epochs that the latest window no longer
            shows (``Pathology.resolved``); they do not count in ``has_critical``.
        total_steps: the most steps recorded for any layer.
        total_spikes, total_neurons: sums over the layers.

    ``ProfileReport()`` is an empty report (the seed's defaults); the totals
    are computed from ``layer_stats`` unless given.
    """

    layer_stats: dict[str, LayerStats] = field(default_factory=dict)
    pathologies: list[Pathology] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    window: str = "all"
    epoch: int | None = None
    epochs_closed: int = 0
    resolved: list[Pathology] = field(default_factory=list)
    total_steps: int | None = None
    total_spikes: int | None = None
    total_neurons: int | None = None

    def __post_init__(self) -> None:
        stats = self.layer_stats.values()
        if self.total_steps is None:
            self.total_steps = max((s.n_steps for s in stats), default=0)
        if self.total_spikes is None:
            self.total_spikes = int(sum(s.total_spikes for s in stats))
        if self.total_neurons is None:
            self.total_neurons = int(sum(s.n_neurons for s in stats))

    @property
    def has_critical(self) -> bool:
        """True when any pathology is CRITICAL."""
        return any(p.severity >= Severity.CRITICAL for p in self.pathologies)

    @property
    def max_severity(self) -> Severity | None:
        """The worst severity found, or None when the report is clean."""
        return max((p.severity for p in self.pathologies), default=None)

    def by_category(self, category: str) -> list[Pathology]:
        """Pathologies of one category."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        return [p for p in self.pathologies if p.category == category]

    def summary(self) -> str:
        """Human-readable multi-line report: one line per layer, then the pathologies."""
        head = "Spike profiler report"
        if self.window == "epoch" and self.epoch is not None:
            head += f" (epoch {self.epoch})"
        elif self.epochs_closed:
            head += f" (all {self.epochs_closed} epoch(s) + current)"
        lines = [head, "=" * len(head),
                 f"{self.total_steps} steps, {self.total_neurons} neurons, "
                 f"{self.total_spikes} spikes"]
        if not self.layer_stats:
            lines.append("no steps recorded")
        for s in self.layer_stats.values():
            r = s.firing_rates if s.firing_rates.size else np.zeros(1)
            line = (f"{s.name}: {s.n_neurons} neurons, rate {s.mean_rate:.4f} "
                    f"(min {r.min():.4f}, max {r.max():.4f}), "
                    f"dead {s.dead_neuron_count} ({s.dead_neuron_fraction:.0%}), "
                    f"saturated {s.saturated_neuron_count} ({s.saturated_neuron_fraction:.0%})")
            if not math.isnan(s.voltage_mean):
                line += f", V {s.voltage_mean:.3f} ± {s.voltage_std:.3f}"
            if s.gradient_norm is not None:
                line += f", grad {s.gradient_norm:.3g}"
            lines.append(line)
        lines.append("")
        if not self.pathologies:
            lines.append("No pathologies detected.")
        for p in self.pathologies:
            where = f" (epoch {p.epoch})" if p.epoch is not None and self.window != "epoch" else ""
            lines.append(f"[{p.severity.name}] {p.category} @ {p.layer}{where}")
            lines.append(f"    {p.message}")
            lines.append(f"    Fix: {p.suggestion}")
        if self.resolved:
            lines.append("")
            lines.append("Resolved (seen earlier, not in the latest window):")
            for p in self.resolved:
                lines.append(f"  [{p.severity.name}] {p.category} @ {p.layer} "
                             f"(last seen epoch {p.epoch}): {p.message}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole report."""
        return {
            "window": self.window,
            "epoch": self.epoch,
            "epochs_closed": self.epochs_closed,
            "has_critical": self.has_critical,
            "thresholds": self.thresholds.to_dict(),
            "layers": {name: s.to_dict() for name, s in self.layer_stats.items()},
            "pathologies": [p.to_dict() for p in self.pathologies],
            "resolved": [p.to_dict() for p in self.resolved],
            "total_steps": self.total_steps,
            "total_spikes": self.total_spikes,
            "total_neurons": self.total_neurons,
        }

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        """The report as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def plot(self, path: str | Path, history: list[ProfileReport] | None = None) -> Path:
        """Save per-layer firing-rate histograms and gradient norms to an image file.

        Args:
            path: output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
            history: epoch reports (e.g. ``profiler.epoch_reports``) to add a
                per-epoch trend of mean rate and dead fraction.
        """
        from .plot import plot_report

        return plot_report(self, path, history)

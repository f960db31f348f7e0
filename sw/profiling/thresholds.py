"""Detection thresholds of the spike profiler, in one place.

Every detector, every suggestion and every plot reads its limits from one
:class:`Thresholds` instance, so a value passed to
:class:`~sw.profiling.SpikeProfiler` is the value used everywhere.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Thresholds:
    """Limits that turn per-layer statistics into pathologies.

    Defaults are those of the specification (seed 000).

    Attributes:
        dead_threshold: a neuron whose firing rate (spikes per sample-timestep)
            is below this is dead.
        saturated_threshold: a neuron whose firing rate is above this is saturated.
        gradient_explosion_ratio: a layer's largest per-step gradient norm divided
            by the mean of its other per-step norms above this is an explosion.
        dead_fraction_critical: dead fraction of a layer above which dead
            neurons are CRITICAL.
        dead_fraction_warning: dead fraction above which they are a WARNING
            (any dead neuron below that is INFO).
        saturated_fraction_warning: saturated fraction above which saturation
            is a WARNING (any saturated neuron below that is INFO).
        silent_threshold: the network is silent when no neuron of any layer
            fires at a rate above this.
        voltage_collapse_std: a layer whose membrane voltage standard deviation
            is below this has collapsed.
        gradient_vanishing_ratio: last-layer over first-layer mean gradient norm
            above this is vanishing.
    """

    dead_threshold: float = 0.01
    saturated_threshold: float = 0.95
    gradient_explosion_ratio: float = 100.0
    dead_fraction_critical: float = 0.5
    dead_fraction_warning: float = 0.1
    saturated_fraction_warning: float = 0.3
    silent_threshold: float = 0.001
    voltage_collapse_std: float = 1e-6
    gradient_vanishing_ratio: float = 100.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Thresholds.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Thresholds.{f.name} must be finite and >= 0, got {value!r}")
        for name in ("dead_threshold", "saturated_threshold", "silent_threshold",
                     "dead_fraction_critical", "dead_fraction_warning",
                     "saturated_fraction_warning"):
            if getattr(self, name) > 1:
                raise ValueError(f"Thresholds.{name} is a rate or fraction and must be <= 1, "
                                 f"got {getattr(self, name)!r}")
        if self.dead_threshold >= self.saturated_threshold:
            raise ValueError(
                f"Thresholds.dead_threshold ({self.dead_threshold}) must be below "
                f"saturated_threshold ({self.saturated_threshold})")
        if self.dead_fraction_warning > self.dead_fraction_critical:
            raise ValueError(
                f"Thresholds.dead_fraction_warning ({self.dead_fraction_warning}) must not exceed "
                f"dead_fraction_critical ({self.dead_fraction_critical})")
        for name in ("gradient_explosion_ratio", "gradient_vanishing_ratio"):
            if getattr(self, name) <= 1:
                raise ValueError(f"Thresholds.{name} must be > 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, float]:
        """The thresholds as a plain dict (JSON-ready)."""
        return asdict(self)

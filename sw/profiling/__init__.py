"""Spike-level training profiler: per-layer statistics and pathology detection.

Example::

    from sw.profiling import SpikeProfiler

    profiler = SpikeProfiler()
    profiler.record_step("hidden", spikes, voltages=v)     # or: profiler.attach(model)
    report = profiler.report()
    print(report.summary())
"""

from .profiler import SpikeProfiler
from .report import (
    CATEGORIES, DEAD_NEURONS, GRADIENT_EXPLOSION, GRADIENT_VANISHING, NETWORK,
    SATURATED_NEURONS, SILENT_NETWORK, VOLTAGE_COLLAPSE, LayerStats, Pathology,
    ProfileReport, Severity,
)
from .thresholds import Thresholds

__all__ = [
    "CATEGORIES", "DEAD_NEURONS", "GRADIENT_EXPLOSION", "GRADIENT_VANISHING", "NETWORK",
    "SATURATED_NEURONS", "SILENT_NETWORK", "VOLTAGE_COLLAPSE", "LayerStats", "Pathology",
    "ProfileReport", "Severity", "SpikeProfiler", "Thresholds",
]

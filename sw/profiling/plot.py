"""Render a :class:`~sw.profiling.report.ProfileReport` to an image file.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global
backend change), so it works headless and from worker threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .report import ProfileReport


def plot_report(report: ProfileReport, path: str | Path,
                history: list[ProfileReport] | None = None) -> Path:
    """Save firing-rate histograms per layer, gradient norms and (optionally) epoch trends.

    Returns:
        The path written.

    Raises:
        ValueError: when the report has no recorded layer.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stats = list(report.layer_stats.values())
    if not stats:
        raise ValueError("nothing to plot: the report has no recorded layer")
    th = report.thresholds
    history = [h for h in (history or []) if h.layer_stats]
    ncols = max(len(stats), 2)
    fig = Figure(figsize=(3.2 * ncols, 6.0 if not history else 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    rows = 3 if history else 2
    grid = fig.add_gridspec(rows, ncols)

    bins = np.linspace(0.0, 1.0, 41)
    for i, s in enumerate(stats):
        ax = fig.add_subplot(grid[0, i])
        ax.hist(np.clip(s.firing_rates, 0.0, 1.0), bins=bins, color="tab:blue")
        ax.axvline(th.dead_threshold, color="tab:red", ls="--", lw=1, label="dead")
        ax.axvline(th.saturated_threshold, color="tab:orange", ls="--", lw=1, label="saturated")
        ax.set_title(f"{s.name} ({s.n_neurons})\n"
                     f"dead {s.dead_neuron_fraction:.0%}, sat {s.saturated_neuron_fraction:.0%}",
                     fontsize=9)
        ax.set_xlabel("firing rate")
        if i == 0:
            ax.set_ylabel("neurons")
            ax.legend(fontsize=7)

    names = [s.name for s in stats]
    ax = fig.add_subplot(grid[1, :])
    norms = [s.gradient_norm if s.gradient_norm is not None else np.nan for s in stats]
    x = np.arange(len(stats))
    if np.all(np.isnan(norms)):
        ax.text(0.5, 0.5, "no gradients recorded", ha="center", va="center",
                transform=ax.transAxes)
    else:
        peaks = [s.gradient_norm_max if s.gradient_norm_max is not None else np.nan for s in stats]
        ax.bar(x - 0.2, norms, width=0.4, label="mean per-step norm")
        ax.bar(x + 0.2, peaks, width=0.4, label="max per-step norm")
        positive = [v for v in norms + peaks if np.isfinite(v) and v > 0]
        if positive:
            ax.set_ylim(min(positive) / 3, max(positive) * 3)  # before log: no 0 limit
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_xticks(x, names)
    ax.set_xlim(-0.6, len(stats) - 0.4)
    ax.set_ylabel("gradient RMS")
    ax.set_title("gradient norm per layer", fontsize=9)

    if history:
        epochs = [h.epoch for h in history]
        ax_r = fig.add_subplot(grid[2, : ncols // 2])
        ax_d = fig.add_subplot(grid[2, ncols // 2:])
        for name in names:
            rate = [h.layer_stats[name].mean_rate if name in h.layer_stats else np.nan
                    for h in history]
            dead = [h.layer_stats[name].dead_neuron_fraction if name in h.layer_stats else np.nan
                    for h in history]
            ax_r.plot(epochs, rate, marker="o", label=name)
            ax_d.plot(epochs, dead, marker="o", label=name)
        ax_r.set_xlabel("epoch")
        ax_r.set_ylabel("mean firing rate")
        ax_d.set_xlabel("epoch")
        ax_d.set_ylabel("dead fraction")
        ax_d.axhline(th.dead_fraction_critical, color="tab:red", ls="--", lw=1)
        ax_d.set_ylim(-0.02, 1.02)
        ax_r.legend(fontsize=7)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path

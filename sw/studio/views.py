"""Shapes stored job rows and epoch metrics into API payloads (status, summaries, CSV).

Status and summaries come from the job's row alone (its summary columns), never
from its events, so listing jobs costs the same however long their runs were.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from .store import JobRecord

CSV_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "elapsed_s")


def job_status(r: JobRecord) -> dict[str, Any]:
    """Everything ``/status/{job_id}`` reports."""
    return {"job_id": r.job_id, "status": r.status, "config": r.config, "created_at": r.created_at,
            "started_at": r.started_at, "finished_at": r.finished_at, "reason": r.reason,
            "device": r.device, "note": r.note, "epochs_done": r.epochs_done,
            "last_event_id": r.last_event_id, "latest": r.latest}


def job_summary(r: JobRecord) -> dict[str, Any]:
    """One row of the jobs list."""
    return {"job_id": r.job_id, "status": r.status, "dataset": str(r.config.get("dataset", "?")),
            "epochs": int(r.config.get("epochs", 0)), "epochs_done": r.epochs_done,
            "created_at": r.created_at, "finished_at": r.finished_at,
            "best_val_accuracy": r.best_val_accuracy, "reason": r.reason}


def run_metrics(r: JobRecord, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's configuration and per-epoch curves (for overlays and reloads)."""
    return {"job_id": r.job_id, "status": r.status, "config": r.config, "epochs": epochs}


def metrics_csv(epochs: list[dict[str, Any]]) -> str:
    """Per-epoch metrics as CSV: fixed columns, then one column per layer rate and learnable parameter."""
    rate_keys = sorted({k for e in epochs for k in e.get("layer_spike_rates", {})})
    param_keys = sorted({k for e in epochs for k in e.get("param_snapshot", {})})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *(f"rate_{k}" for k in rate_keys), *(f"param_{k}" for k in param_keys)])
    for e in epochs:
        writer.writerow([*("" if e.get(c) is None else e[c] for c in CSV_COLUMNS),
                         *(e.get("layer_spike_rates", {}).get(k, "") for k in rate_keys),
                         *(e.get("param_snapshot", {}).get(k, "") for k in param_keys)])
    return out.getvalue()

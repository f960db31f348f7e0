"""Shapes the job manager's objects into API payloads (status, summaries, CSV)."""

from __future__ import annotations

import csv
import io
from typing import Any

from .jobs import Job

CSV_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "elapsed_s")


def _epochs(job: Job) -> list[dict[str, Any]]:
    return [e.data for e in job.log.since(0) if e.type == "epoch"]


def job_status(job: Job) -> dict[str, Any]:
    """Everything ``/status/{job_id}`` reports."""
    epochs = _epochs(job)
    r = job.record
    return {"job_id": r.job_id, "status": r.status, "config": r.config, "created_at": r.created_at,
            "started_at": r.started_at, "finished_at": r.finished_at, "reason": r.reason,
            "device": r.device, "note": r.note, "epochs_done": len(epochs),
            "last_event_id": job.log.last_id, "latest": epochs[-1] if epochs else None}


def job_summary(job: Job) -> dict[str, Any]:
    """One row of the jobs list."""
    epochs = _epochs(job)
    accs = [e["val_accuracy"] for e in epochs if e.get("val_accuracy") is not None]
    r = job.record
    return {"job_id": r.job_id, "status": r.status, "dataset": str(r.config.get("dataset", "?")),
            "epochs": int(r.config.get("epochs", 0)), "epochs_done": len(epochs),
            "created_at": r.created_at, "finished_at": r.finished_at,
            "best_val_accuracy": max(accs) if accs else None, "reason": r.reason}


def run_metrics(job: Job) -> dict[str, Any]:
    """A run's configuration and per-epoch curves (for overlays and reloads)."""
    return {"job_id": job.job_id, "status": job.status, "config": job.record.config, "epochs": _epochs(job)}


def metrics_csv(job: Job) -> str:
    """Per-epoch metrics as CSV: fixed columns, then one column per layer rate and learnable parameter."""
    epochs = _epochs(job)
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

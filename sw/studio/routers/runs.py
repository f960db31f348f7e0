"""``/api/runs``: stored per-epoch metrics of any job (JSON for overlays, CSV for export),
and a run's user-given name, tags and notes (``PATCH``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import PlainTextResponse

from .. import views
from ..deps import get_manager
from ..jobs import JobManager
from .runs_schemas import RunMeta, RunMetaUpdate, RunMetrics
from .training_schemas import BAD_BODY, JOB_ID_PATTERN, NOT_FOUND

router = APIRouter(prefix="/api/runs", tags=["runs"])
Manager = Annotated[JobManager, Depends(get_manager)]
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=30)]


@router.get("/{job_id}/metrics", response_model=RunMetrics, responses=NOT_FOUND)
def metrics(job_id: JobId, manager: Manager) -> dict:
    """A run's configuration and per-epoch curves."""
    return views.run_metrics(manager.record(job_id), manager.epoch_metrics(job_id))


@router.get("/{job_id}/metrics.csv", response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **NOT_FOUND})
def metrics_csv(job_id: JobId, manager: Manager) -> PlainTextResponse:
    """A run's per-epoch metrics as a CSV download."""
    return PlainTextResponse(views.metrics_csv(manager.epoch_metrics(job_id)), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{job_id}_metrics.csv"'})


@router.patch("/{job_id}", response_model=RunMeta, responses={**NOT_FOUND, **BAD_BODY})
def update_meta(job_id: JobId, update: RunMetaUpdate, manager: Manager) -> dict:
    """Set a run's name, tags and/or notes (the fields given; ``null`` or empty clears one)."""
    fields = {}
    given = update.model_fields_set
    if "name" in given:
        fields["name"] = update.name or None
    if "tags" in given:
        fields["tags"] = list(dict.fromkeys(update.tags or []))
    if "notes" in given:
        fields["notes"] = update.notes if update.notes and update.notes.strip() else None
    r = manager.update_meta(job_id, **fields)
    return {"job_id": r.job_id, "name": r.name, "tags": r.tags, "notes": r.notes}

"""``/api/training``: catalogue, start/stop, status, job list and the SSE stream (seed 001)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from .. import catalog, datasets, views
from ..deps import get_manager
from ..jobs import JobManager, JobNotFound
from ..store import JobRecord
from .training_schemas import (
    BAD_BODY, JOB_ID_PATTERN, NOT_FOUND, CellTypeInfo, DatasetInfo, ErrorMessage, JobStatus, JobSummary, StartResponse,
    StopRequest, SurrogateInfo, TrainConfig,
)

router = APIRouter(prefix="/api/training", tags=["training"])
Manager = Annotated[JobManager, Depends(get_manager)]
# Any string: a malformed id is as unknown as a well-formed one (404, not 422).
JobId = Annotated[str, Path(description=f"job id, {JOB_ID_PATTERN}")]
_JOB_ID = re.compile(JOB_ID_PATTERN)


def _known(manager: JobManager, job_id: str) -> str:
    """The id itself when it is a well-formed id; ``JobNotFound`` (404) for a malformed one."""
    if len(job_id) > 30 or not _JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    return job_id
SSE_RESPONSE = {200: {"description": "Server-Sent Events: `id: N` and `data: {\"event\", \"data\", \"id\"}`",
                      "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **NOT_FOUND}


@router.get("/surrogates", response_model=list[SurrogateInfo])
def surrogates() -> list[dict]:
    """The six surrogate gradient functions."""
    return catalog.surrogate_list()


@router.get("/cell-types", response_model=list[CellTypeInfo])
def cell_types() -> list[dict]:
    """Neuron cell types with their update equations."""
    return catalog.cell_type_list()


@router.get("/datasets", response_model=list[DatasetInfo])
def dataset_list(manager: Manager) -> list[dict]:
    """Datasets and whether each can be loaded here (MNIST needs local files)."""
    return datasets.availability(manager.settings.mnist_dir)


@router.post("/start", response_model=StartResponse,
             responses={429: {"model": ErrorMessage, "description": "too many active jobs"}, **BAD_BODY})
def start(config: TrainConfig, manager: Manager) -> dict:
    """Start a training job in the background."""
    job = manager.start(config.model_dump())
    return {"job_id": job.job_id, "status": job.status}


@router.post("/stop", response_model=JobStatus, responses={**NOT_FOUND, **BAD_BODY})
def stop(request: StopRequest, manager: Manager) -> dict:
    """Ask a job to stop (takes effect within one batch); finished jobs are returned unchanged."""
    manager.stop(request.job_id)
    return views.job_status(manager.record(request.job_id))


@router.get("/status/{job_id}", response_model=JobStatus, responses=NOT_FOUND)
def status(job_id: JobId, manager: Manager) -> dict:
    """A job's lifecycle state, timings and latest epoch metrics."""
    return views.job_status(manager.record(_known(manager, job_id)))


@router.get("/jobs", response_model=list[JobSummary])
def jobs(manager: Manager, response: Response,
         limit: Annotated[int, Query(ge=1, le=1000, description="at most this many jobs")] = 100,
         offset: Annotated[int, Query(ge=0, le=2**31, description="skip this many newest jobs")] = 0) -> list[dict]:
    """Jobs, newest first, including those from before a restart (one page; the total
    is in the ``X-Total-Count`` header)."""
    response.headers["X-Total-Count"] = str(manager.count())
    return [_summary(r) for r in manager.jobs(limit=limit, offset=offset)]


def _summary(r: JobRecord) -> dict:
    """One row of the runs table: the stored summary, the run's name / tags / notes and its main settings."""
    cfg = r.config
    return {**views.job_summary(r), "name": r.name, "tags": list(r.tags), "notes": r.notes,
            **{k: cfg.get(k) for k in ("surrogate", "lr", "timesteps", "batch_size")},
            "hidden": list(cfg.get("hidden") or []),
            "learn_beta": bool(cfg.get("learn_beta")), "learn_threshold": bool(cfg.get("learn_threshold"))}


def _stream(manager: JobManager, job_id: str, follow: bool, last_event_id: int | None,
            header_id: int | None) -> StreamingResponse:
    manager.get(_known(manager, job_id))  # 404 before the stream starts
    after = max(last_event_id or 0, header_id or 0)
    return StreamingResponse(manager.sse(job_id, after, follow), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


FollowQ = Annotated[bool, Query(description="false: send the events so far and close")]
AfterQ = Annotated[int | None, Query(ge=0, description="replay events after this id")]
LastEventHeader = Annotated[int | None, Header(alias="Last-Event-ID", ge=0)]


@router.get("/stream/{job_id}", response_class=StreamingResponse, responses=SSE_RESPONSE)
def stream(job_id: JobId, manager: Manager, follow: FollowQ = True, last_event_id: AfterQ = None,
           last_event_header: LastEventHeader = None) -> StreamingResponse:
    """SSE metric stream; ends after completed, stopped or error."""
    return _stream(manager, job_id, follow, last_event_id, last_event_header)


@router.get("/{job_id}/stream", response_class=StreamingResponse, responses=SSE_RESPONSE)
def stream_alias(job_id: JobId, manager: Manager, follow: FollowQ = True, last_event_id: AfterQ = None,
                 last_event_header: LastEventHeader = None) -> StreamingResponse:
    """Same stream as ``/stream/{job_id}`` (the other spelling used in seed 001)."""
    return _stream(manager, job_id, follow, last_event_id, last_event_header)

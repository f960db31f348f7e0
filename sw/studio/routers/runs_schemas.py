"""Response models of ``/api/runs``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .training_schemas import EpochMetrics, JobStatusName


class RunMetrics(BaseModel):
    job_id: str
    status: JobStatusName
    config: dict[str, Any]
    epochs: list[EpochMetrics]

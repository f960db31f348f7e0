"""Request and response models of ``/api/runs``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .training_schemas import EpochMetrics, JobStatusName, _at_most

MAX_NAME = 100
MAX_TAGS = 20
MAX_TAG = 40
MAX_NOTES = 2000

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG,
                                       pattern=r"^[^,\x00-\x1f]+$")]


class RunMetrics(BaseModel):
    job_id: str
    status: JobStatusName
    config: dict[str, Any]
    epochs: list[EpochMetrics]


class RunMetaUpdate(BaseModel):
    """A run's name, tags and notes; a field left out keeps its value, ``null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=MAX_NAME)] = Field(
        None, description=f"at most {MAX_NAME} characters; empty or null: no name")
    tags: Annotated[list[Tag] | None, _at_most(MAX_TAGS)] = Field(
        None, max_length=MAX_TAGS,
        description=f"at most {MAX_TAGS} tags of 1..{MAX_TAG} characters, no commas (duplicates dropped)")
    notes: Annotated[str | None, StringConstraints(max_length=MAX_NOTES)] = Field(
        None, description=f"free text, at most {MAX_NOTES} characters")


class RunMeta(BaseModel):
    job_id: str
    name: str | None
    tags: list[str]
    notes: str | None

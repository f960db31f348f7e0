"""Request and response models of ``/api/training`` (ranges from seed 001)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from ..catalog import SURROGATES

SurrogateName = Literal[tuple(SURROGATES)]  # type: ignore[valid-type]
DatasetName = Literal["synthetic", "digits", "mnist"]
JobStatusName = Literal["idle", "starting", "running", "completed", "stopped", "failed"]
JOB_ID_PATTERN = r"^job_[0-9]{1,20}$"
MAX_HIDDEN_LAYERS = 4


def _not_bool(value: Any) -> Any:
    # JSON true/false are not numbers; pydantic's lax mode would read them as 1/0.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _at_most(n: int) -> BeforeValidator:
    """Reject a list longer than ``n`` before any of its items is validated (``max_length``
    alone validates every item first)."""
    def check(value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) > n:
            raise PydanticCustomError("too_long", "List should have at most {max_length} items, not {actual_length}",
                                      {"field_type": "List", "max_length": n, "actual_length": len(value)})
        return value
    return BeforeValidator(check)


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
HiddenSize = Annotated[int, Field(ge=1, le=1024), BeforeValidator(_not_bool)]


class TrainConfig(BaseModel):
    """One training run as the Train tab submits it."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field("synthetic", description="synthetic, digits, or mnist (local IDX files)")
    epochs: Int = Field(10, ge=1, le=100)
    batch_size: Int = Field(64, ge=8, le=512)
    lr: Float = Field(0.001, ge=0.0001, le=0.1, description="Adam learning rate")
    hidden: Annotated[list[HiddenSize], _at_most(MAX_HIDDEN_LAYERS)] = Field(
        default_factory=lambda: [128], min_length=1, max_length=MAX_HIDDEN_LAYERS,
        description=f"hidden layer sizes, 1..{MAX_HIDDEN_LAYERS} layers of 1..1024")
    timesteps: Int = Field(25, ge=5, le=100)
    surrogate: SurrogateName = "atan_surrogate"  # type: ignore[valid-type]
    learn_beta: StrictBool = False
    learn_threshold: StrictBool = False
    seed: Int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu"] = "auto"




class StartResponse(BaseModel):
    job_id: str
    status: JobStatusName


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN, max_length=24)


class EpochMetrics(BaseModel):
    """What one ``epoch`` event carries.

    Other keys are passed through as stored: runs of this Studio add
    ``layer_dead_fraction`` and ``layer_saturated_fraction`` (per layer, the fraction of
    neurons below the dead / above the saturated rate) and ``active_findings`` (the
    profiler findings that epoch shows, as ``"category@layer"``); older runs lack them.
    """

    model_config = ConfigDict(extra="allow")

    epoch: int
    train_loss: float | None
    val_loss: float | None
    train_accuracy: float
    val_accuracy: float
    layer_spike_rates: dict[str, float]
    param_snapshot: dict[str, float]
    elapsed_s: float | None = None


class JobStatus(BaseModel):
    """A job's state as stored (survives restarts)."""

    job_id: str
    status: JobStatusName
    config: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    reason: str | None
    device: str | None
    note: str | None
    epochs_done: int
    last_event_id: int
    latest: EpochMetrics | None


class JobSummary(BaseModel):
    job_id: str
    status: JobStatusName
    dataset: str
    epochs: int
    epochs_done: int
    created_at: float
    finished_at: float | None
    best_val_accuracy: float | None
    reason: str | None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    surrogate: str | None = None
    lr: float | None = None
    hidden: list[int] = Field(default_factory=list)
    timesteps: int | None = None
    batch_size: int | None = None
    learn_beta: bool = False
    learn_threshold: bool = False


class SurrogateInfo(BaseModel):
    name: str
    reference: str
    backward: str
    available: bool


class CellTypeInfo(BaseModel):
    name: str
    description: str
    kind: str | None
    states: list[str]
    params: dict[str, float]
    equations: str | None
    available: bool


class DatasetInfo(BaseModel):
    name: DatasetName
    available: bool
    note: str | None


class ErrorMessage(BaseModel):
    detail: str


ERROR_JSON = {"application/json": {"schema": {
    "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no job with this id", "content": ERROR_JSON}}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "body is not parseable JSON", "content": ERROR_JSON},
    413: {"description": "body larger than the server's limit (named in `detail`)", "content": ERROR_JSON}}

"""The model registry: models across hosts, selection and recorded performance (/api/v1/models/*)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Capability = Literal["text", "vision", "embedding", "tools", "insert", "thinking"]


class ModelHostOut(BaseModel):
    """One host that has the model installed."""

    id: str
    url: str
    state: Literal["healthy", "degraded", "down"]
    loaded: bool = Field(description="In memory on this host now (/api/ps)")


class PerformanceOut(BaseModel):
    """Figures from real calls; counts are 0 and the rest null for a model never called."""

    model_name: str
    task_type: str = Field(description='The purpose of the calls ("chat", "task", ...); "all" over every one')
    total_requests: int
    successful_requests: int
    failed_requests: int
    success_rate: float | None
    average_response_time_ms: float | None = Field(description="Mean over every successful call")
    p50_response_time_ms: float | None = Field(description="Over the latest 200 successful calls")
    p95_response_time_ms: float | None = Field(description="Over the latest 200 successful calls")
    average_first_token_ms: float | None
    average_tokens_per_second: float | None
    prompt_tokens: int
    completion_tokens: int
    performance_score: float | None = Field(description="0..1 from success rate and latency")
    last_error: str | None
    last_used: datetime | None
    last_updated: datetime | None


class AvailableModelOut(BaseModel):
    """One model of the union of every host's models."""

    name: str
    hosts: list[ModelHostOut]
    loaded: bool = Field(description="Loaded on at least one host")
    capabilities: list[str] = Field(description="From /api/show: text, vision, embedding, tools, ...")
    context_length: int | None
    family: str | None
    parameter_size: str | None
    quantization_level: str | None
    size: int = Field(description="Bytes on disk")
    digest: str
    modified_at: datetime | None
    performance: PerformanceOut


class HostReportOut(BaseModel):
    """What one host said at the last refresh."""

    id: str
    url: str
    state: Literal["healthy", "degraded", "down"]
    reason: str
    ok: bool = Field(description="The host answered; false: its models are not listed")
    models: int
    loaded: int


class AvailableModelsOut(BaseModel):
    models: list[AvailableModelOut]
    hosts: list[HostReportOut]
    total: int
    refreshed_at: datetime | None


class RefreshOut(BaseModel):
    status: Literal["refreshed", "partial", "failed"] = Field(
        description="partial: some hosts did not answer; failed: none did"
    )
    refreshed_at: datetime
    total: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    failed_hosts: list[HostReportOut]
    hosts: list[HostReportOut]
    show_calls: int = Field(description="/api/show calls made; the rest came from the cache")


class RequirementsIn(BaseModel):
    """Hard requirements: a model that misses one is never selected."""

    model_config = ConfigDict(extra="forbid")

    capabilities: list[Capability] = Field(default_factory=list)
    vision_capable: bool = False
    tools_capable: bool = False
    embedding_capable: bool = False
    min_context_length: int | None = Field(None, ge=1)
    max_size_bytes: int | None = Field(None, ge=1)
    max_size_gb: float | None = Field(None, gt=0)
    max_parameters_b: float | None = Field(None, gt=0, description="At most this many billion parameters")
    min_performance_score: float | None = Field(None, ge=0, le=1)


class SelectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: str = Field("general", min_length=1, max_length=64)
    content_type: str = Field("text", min_length=1, max_length=64)
    priority: Literal["speed", "quality", "balanced"] = "balanced"
    max_tokens: int | None = Field(None, ge=1, description="The context must hold at least this many tokens")
    requirements: RequirementsIn = Field(default_factory=RequirementsIn)
    preferred_models: list[str] = Field(default_factory=list, max_length=50)
    preferred_hosts: list[str] = Field(default_factory=list, max_length=50)


class ModelInfoOut(BaseModel):
    name: str
    capabilities: list[str]
    hosts: list[ModelHostOut]
    context_length: int | None
    parameter_size: str | None
    quantization_level: str | None
    size: int
    performance_score: float | None
    average_response_time_ms: float | None


class ScoreOut(BaseModel):
    model: str
    score: float
    speed: float
    quality: float
    reliability: float
    bonus: float
    basis: Literal["task_type", "overall", "prior"] = Field(
        description="Recorded figures for this task type, for any task type, or size-based priors"
    )


class SelectOut(BaseModel):
    selected_model: str
    model_info: ModelInfoOut
    fallback_models: list[str]
    selection_reason: str
    required_capabilities: list[str]
    candidates: int = Field(description="Models that met every requirement")
    scores: list[ScoreOut] = Field(description="The selected model's and the fallbacks', best first")
    selection_time_ms: float


class PerformanceQuery(BaseModel):
    task_type: str | None = Field(None, max_length=64)
    model: str | None = Field(None, max_length=200)
    limit: int = Field(100, ge=1, le=1000)


class PerformanceListOut(BaseModel):
    metrics: list[PerformanceOut]
    total: int


class ModelStatsOut(BaseModel):
    model_name: str
    installed: bool = Field(description="A reachable host has it now")
    hosts: list[ModelHostOut]
    overall: PerformanceOut
    by_task_type: list[PerformanceOut]

"""Ollama hosts behind the router, as the ``/integration`` routes show them (the load balancer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

HostStateOut = Literal["healthy", "degraded", "down"]


class BackendRegisterIn(BaseModel):
    """A new Ollama host; ``url`` is where its Ollama answers (``http://gpu-box:11434``)."""

    id: str = Field(min_length=1, max_length=64, description="Letters, digits, '.', '_' or '-'")
    url: str = Field(min_length=1, max_length=500)
    supported_request_types: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Purposes it serves (chat, task, wizard, openai, embedding, ...); empty: all",
    )
    max_concurrent_requests: int = Field(4, ge=1, le=1024)
    weight: float = Field(1.0, gt=0, le=100, description="Relative share of the load it should take")
    agentic_url: str | None = Field(
        None, max_length=500, description="An agentic-server on the same box (its CPU/GPU metrics)"
    )
    agentic_token: str | None = Field(
        None, max_length=4096, description="That server's token: stored encrypted, never returned"
    )
    health_check_url: str | None = Field(
        None, max_length=500, description="Accepted for the web client; hosts are probed on Ollama's own API"
    )


class BackendOut(BaseModel):
    """One host: how it was registered and what its probes and calls found."""

    id: str
    url: str
    builtin: bool = Field(description="The host from the settings (OLLAMA_HOST); it cannot be removed")
    supported_request_types: list[str]
    max_concurrent_requests: int
    weight: float
    agentic_url: str | None
    has_agentic_token: bool
    status: HostStateOut
    reason: str
    models: list[str]
    loaded_models: list[str]
    vram_used: int = Field(description="Bytes of VRAM its loaded models use")
    in_flight: int
    breaker: str
    version: str | None
    average_response_time_ms: float | None
    created_at: datetime | None


class BackendsOut(BaseModel):
    backends: list[BackendOut]
    total: int


class BackendRemovedOut(BaseModel):
    message: str
    backend_id: str


class RouteIn(BaseModel):
    """A would-be call: its kind and its data (``model`` in it, when it names one)."""

    request_type: str = Field("chat", min_length=1, max_length=50)
    model: str | None = Field(None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    priority: str | None = None


class LoadBalanceIn(BaseModel):
    """The body of ``/load-balance/{request_type}``: the model the call would use."""

    model: str | None = Field(None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)


class RouteOut(BaseModel):
    """Which host would take the call now, and why (nothing is sent)."""

    request_type: str
    model: str | None
    backend_id: str | None
    url: str | None
    reason: str
    candidates: int
    would_queue: bool
    queue_length: int

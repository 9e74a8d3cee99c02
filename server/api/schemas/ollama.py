"""Ollama model listings, health and downloads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ModelDetailsOut(BaseModel):
    """What kind of model it is."""

    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    format: str | None = None


class ModelOut(BaseModel):
    """An installed model."""

    name: str
    size: int = Field(description="Bytes on disk")
    modified_at: datetime | None
    digest: str
    details: ModelDetailsOut


class ModelsOut(BaseModel):
    """The installed models."""

    models: list[ModelOut]


class ModelNamesOut(BaseModel):
    """Names of the installed models."""

    models: list[str]


class OllamaHealthOut(BaseModel):
    """Whether Ollama answers, how many models it has and which one agents default to."""

    status: Literal["healthy", "unhealthy"]
    models_available: int
    default_model: str | None
    host: str
    detail: str


class ModelShowOut(BaseModel):
    """Capabilities and parameters of one model (Ollama's ``/api/show``)."""

    name: str
    capabilities: list[str]
    context_length: int | None
    family: str | None
    parameter_size: str | None
    quantization_level: str | None
    parameters: str | None
    template: str | None
    modified_at: datetime | None


class PullOut(BaseModel):
    """A download that started (progress: the bus, ``/ws/logs`` and ``GET /api/v1/ollama/pulls``)."""

    status: Literal["pulling"]
    message: str
    model_name: str


class PullStateOut(BaseModel):
    """A download in progress."""

    model_name: str
    status: str
    completed: int | None
    total: int | None
    percent: int | None
    started_at: datetime


class ModelDeletedOut(BaseModel):
    """Confirmation of a deletion."""

    status: Literal["deleted"]
    model_name: str

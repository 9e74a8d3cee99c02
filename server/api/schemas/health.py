"""Health and readiness answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.services.health import Health as HealthOut

__all__ = ["CheckOut", "HealthOut", "ReadinessOut"]


class CheckOut(BaseModel):
    """One dependency's readiness."""

    ok: bool
    detail: str


class ReadinessOut(BaseModel):
    """Readiness of every dependency; a 503 carries the same checks beside ``detail``."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut] = Field(description="database, ollama")
    detail: str | None = Field(None, description="What is not ready, when something is not")
    status_code: int

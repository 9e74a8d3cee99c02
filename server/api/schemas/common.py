"""Models every domain shares: error bodies and plain messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every error: what went wrong, in words, and the status code again."""

    detail: str = Field(description="What went wrong and, where possible, what to do about it")
    status_code: int


class ValidationIssue(BaseModel):
    """One problem pydantic found in the request (FastAPI's shape)."""

    loc: list[str | int] = Field(description='Where: ["body", "field", ...] or ["query", "name"]')
    msg: str
    type: str
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    """A 422: the request does not match its schema."""

    detail: list[ValidationIssue]
    status_code: int = 422


class Message(BaseModel):
    """A plain confirmation."""

    message: str

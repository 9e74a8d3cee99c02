"""Bodies of the outbound HTTP client endpoints (``/api/v1/http/*``); answers are the service's models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.services.http_client import (
    DownloadResult,
    HttpHealth,
    HttpMetrics,
    HttpRecord,
    HttpResult,
    RequestSpec,
)

__all__ = [
    "DownloadIn",
    "DownloadResult",
    "HttpHealth",
    "HttpMetrics",
    "HttpRecord",
    "HttpRequestIn",
    "HttpResult",
]

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


class RetryConfigIn(BaseModel):
    max_attempts: int = Field(3, ge=1, le=10, description="Tries in all; only idempotent methods are retried")
    backoff_factor: float = Field(
        2.0, ge=1.0, le=10.0, description="Each backoff is this many times the last"
    )


class RateLimitIn(BaseModel):
    requests_per_minute: float = Field(gt=0, le=100_000, description="Pace for this request's host")


class AuthIn(BaseModel):
    """``Authorization: <scheme> <value of the secret>``; the value never leaves the server."""

    secret_key: str = Field(min_length=1, max_length=100, description="Key of a secret of agent_id")
    scheme: str = Field("Bearer", max_length=30, pattern=r"^[A-Za-z0-9_\-]*$")


class HttpRequestIn(BaseModel):
    """One outside request. Header values may hold ``{{secret:KEY}}`` (with ``agent_id``)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = "GET"
    url: str = Field(min_length=1, max_length=8192)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float | bool | list[str | int | float | bool]] = Field(default_factory=dict)
    json_data: Any = Field(None, description="A JSON body")
    data: str | None = Field(None, max_length=1024 * 1024, description="A raw text body")
    timeout: float | None = Field(None, gt=0, le=600, description="Seconds per attempt")
    retry_config: RetryConfigIn | None = None
    rate_limit: RateLimitIn | None = None
    auth: AuthIn | None = None
    agent_id: str | None = Field(None, description="Whose secrets {{secret:KEY}} and auth refer to")
    follow_redirects: bool = False

    def to_spec(self) -> RequestSpec:
        return RequestSpec(
            method=self.method,
            url=self.url,
            headers=self.headers,
            params=self.params,
            json_data=self.json_data,
            data=self.data,
            timeout=self.timeout,
            max_attempts=self.retry_config.max_attempts if self.retry_config else None,
            backoff_factor=self.retry_config.backoff_factor if self.retry_config else None,
            requests_per_minute=self.rate_limit.requests_per_minute if self.rate_limit else None,
            agent_id=self.agent_id,
            auth_secret=self.auth.secret_key if self.auth else None,
            auth_scheme=self.auth.scheme if self.auth else "Bearer",
            follow_redirects=self.follow_redirects,
        )


class DownloadIn(BaseModel):
    """A file to stream into ``<data dir>/downloads/<destination_path>``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=8192)
    destination_path: str = Field(
        min_length=1, max_length=1024, description="Relative to the downloads folder; may not leave it"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    agent_id: str | None = None
    timeout: float | None = Field(None, gt=0, le=600, description="Seconds without data before it fails")

"""Content and ingest-source requests; the answers are the services' own models."""

from __future__ import annotations

from typing import Any

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, model_validator

from server.services.content import (
    BatchResult,
    CacheStats,
    ContentItem,
    ContentPage,
    Incoming,
    Operation,
    ProcessResult,
)
from server.services.ingest import IngestRun, Schedule, Source

__all__ = [
    "BatchIn",
    "BatchResult",
    "CacheStats",
    "ContentItem",
    "ContentListQuery",
    "ContentPage",
    "IngestRun",
    "ProcessIn",
    "ProcessResult",
    "RunsQuery",
    "Source",
    "SourceIn",
    "SourcePatch",
    "SourceTestIn",
    "SourceTestOut",
]


class Options(BaseModel):
    """How the operations run."""

    model_config = ConfigDict(extra="forbid")

    max_length: int | None = Field(None, ge=10, le=2000, description="summarize: at most this many words")
    max_keywords: int | None = Field(None, ge=1, le=50, description="keywords: at most this many")
    language: str | None = Field(None, max_length=20, description="Accepted for the spec's clients; unused")


class InlineContent(BaseModel):
    """Content given in the request: ``text``, or ``data`` (base64 bytes, e.g. a PDF)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, min_length=1)
    data: Base64Bytes | None = Field(
        None, description="The raw bytes, base64; the type is detected from them"
    )
    mime_type: str | None = Field(
        None, max_length=100, description="What you believe it is; the bytes decide"
    )
    title: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=4000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def incoming(self) -> Incoming:
        body = self.data if self.data is not None else (self.text or "").encode()
        return Incoming(
            body=body, url=self.url, title=self.title, claimed_mime=self.mime_type, metadata=self.metadata
        )

    @model_validator(mode="after")
    def _one_body(self) -> InlineContent:
        if (self.text is None) == (self.data is None):
            raise ValueError("give exactly one of text or data")
        return self


class ProcessIn(BaseModel):
    """A stored item (``content_id``) or inline content, and the operations to run on it."""

    model_config = ConfigDict(extra="forbid")

    content_id: str | None = Field(None, max_length=64)
    text: str | None = Field(None, min_length=1)
    data: Base64Bytes | None = None
    mime_type: str | None = Field(None, max_length=100)
    title: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=4000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list, max_length=5)
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _one_source(self) -> ProcessIn:
        given = [name for name in ("content_id", "text", "data") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of content_id, text or data")
        return self

    def incoming(self) -> Incoming | None:
        """The inline content, or ``None`` for a stored item."""
        if self.content_id is not None:
            return None
        body = self.data if self.data is not None else (self.text or "").encode()
        return Incoming(
            body=body, url=self.url, title=self.title, claimed_mime=self.mime_type, metadata=self.metadata
        )


class PipelineConfig(BaseModel):
    """The spec's batch options."""

    model_config = ConfigDict(extra="forbid")

    parallel: bool = True
    operations: list[Operation] = Field(default_factory=list, max_length=5)


class BatchIn(BaseModel):
    """Items by id or inline, processed with the same operations; at most 100."""

    model_config = ConfigDict(extra="forbid")

    items: list[str | InlineContent] = Field(min_length=1, max_length=100)
    pipeline_config: PipelineConfig = Field(default_factory=PipelineConfig)
    options: Options = Field(default_factory=Options)


class ContentListQuery(BaseModel):
    source_id: str | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class SourceIn(BaseModel):
    """A source to ingest from; its config is checked by the connector of its kind."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=20, description="web, filesystem, communication or social")
    config: dict[str, Any] = Field(default_factory=dict)
    schedule: Schedule | None = None
    enabled: bool = True
    test: bool = Field(True, description="Reach the source once before saving it (recommended)")


class SourcePatch(BaseModel):
    """Fields to change; ``schedule: null`` removes the schedule."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    schedule: Schedule | None = None
    enabled: bool | None = None


class SourceTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=20)
    config: dict[str, Any] = Field(default_factory=dict)


class SourceTestOut(BaseModel):
    ok: bool
    message: str


class RunsQuery(BaseModel):
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0)

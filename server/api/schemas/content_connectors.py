"""Request and response bodies of the connector preview and discover endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

if TYPE_CHECKING:
    from server.services.connectors.base import FetchedItem, FetchResult
    from server.services.connectors.registry import SourceOutcome

PREVIEW_CHARS = 500  # of each item's body shown in a preview


class ConnectorRunIn(BaseModel):
    """One source's config; a body without ``config`` is taken as the config itself."""

    config: dict[str, Any] = Field(description="The connector's settings (see each connector's fields)")

    @model_validator(mode="before")
    @classmethod
    def _bare_config(cls, data: Any) -> Any:
        if isinstance(data, dict) and "config" not in data:
            return {"config": data}
        return data


class SourceIn(BaseModel):
    """One source of a discover request (``kind`` is accepted for ``type``)."""

    type: str = Field(
        validation_alias=AliasChoices("type", "kind"),
        min_length=1,
        max_length=50,
        description="web, filesystem, communication or social",
    )
    config: dict[str, Any] = Field(default_factory=dict)


class DiscoverIn(BaseModel):
    sources: list[SourceIn] = Field(min_length=1, max_length=50)


class ItemOut(BaseModel):
    """One item found: everything but the body, of which a short preview."""

    ref: str
    title: str | None
    url: str | None
    mime_type: str | None
    size: int = Field(description="Bytes of the body")
    fetched_at: datetime
    metadata: dict[str, Any]
    preview: str = Field(description=f"The body's first {PREVIEW_CHARS} characters (decoded as UTF-8)")

    @classmethod
    def of(cls, item: FetchedItem) -> ItemOut:
        return cls(
            ref=item.ref,
            title=item.title,
            url=item.url,
            mime_type=item.mime_type,
            size=len(item.body),
            fetched_at=item.fetched_at,
            metadata=item.metadata,
            preview=item.body[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS],
        )


class FailureOut(BaseModel):
    ref: str
    reason: str


class ConnectorRunOut(BaseModel):
    """What one run of a connector found (nothing of it was stored)."""

    type: str
    items: list[ItemOut]
    total_items: int
    unchanged: int
    failures: list[FailureOut]

    @classmethod
    def of(cls, kind: str, result: FetchResult) -> ConnectorRunOut:
        return cls(
            type=kind,
            items=[ItemOut.of(item) for item in result.items],
            total_items=len(result.items),
            unchanged=result.unchanged,
            failures=[FailureOut(ref=ref, reason=reason) for ref, reason in result.failures],
        )


class SourceResultOut(BaseModel):
    """One source of a discover run: its items, or why it gave none."""

    index: int = Field(description="Position of the source in the request")
    type: str
    status: Literal["ok", "failed", "unavailable"] = Field(
        description="ok; failed (could not be read: see error); unavailable (needs an account or token)"
    )
    error: str | None = None
    items: list[ItemOut] = Field(default_factory=list)
    total_items: int = 0
    unchanged: int = 0
    failures: list[FailureOut] = Field(default_factory=list)


class DiscoverOut(BaseModel):
    sources: list[SourceResultOut]
    total_items: int
    failed_sources: int = Field(description="Sources with status failed or unavailable")

    @classmethod
    def of(cls, outcomes: list[SourceOutcome]) -> DiscoverOut:
        sources = []
        for index, outcome in enumerate(outcomes):
            entry = SourceResultOut(
                index=index, type=outcome.kind, status=outcome.status, error=outcome.error
            )  # type: ignore[arg-type]
            if outcome.result is not None:
                run = ConnectorRunOut.of(outcome.kind, outcome.result)
                entry.items, entry.total_items = run.items, run.total_items
                entry.unchanged, entry.failures = run.unchanged, run.failures
            sources.append(entry)
        return cls(
            sources=sources,
            total_items=sum(source.total_items for source in sources),
            failed_sources=sum(source.status != "ok" for source in sources),
        )

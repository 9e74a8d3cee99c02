"""What the content service hands to the semantic index (``server/services/semantic.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """One stored content item to embed and make searchable under its id."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)  # str/int/float/bool values only


class ContentIndex(Protocol):
    """The part of the semantic service the content service uses."""

    async def index(self, docs: Sequence[IndexDoc]) -> None:
        """Embed and store ``docs`` (replacing earlier versions of the same ids)."""
        ...

    async def remove(self, item_ids: Sequence[str]) -> None:
        """Forget these items."""
        ...

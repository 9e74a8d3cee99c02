"""Semantic requests (embed, search, chunk, cluster, classify, ...); the answers are the service's models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from server.services.semantic_models import (
    Chunking,
    Classification,
    Clusters,
    Duplicates,
    Embedded,
    Importance,
    KnowledgeGraph,
    Quality,
    Relations,
    SearchResults,
)

__all__ = [
    "ChunkIn",
    "Chunking",
    "Classification",
    "ClassifyIn",
    "ClusterIn",
    "Clusters",
    "Duplicates",
    "DuplicatesIn",
    "EmbedIn",
    "Embedded",
    "GraphIn",
    "Importance",
    "ImportanceIn",
    "KnowledgeGraph",
    "Quality",
    "Relations",
    "RelationsIn",
    "SearchIn",
    "SearchResults",
]

MAX_TEXT = 1_000_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain more than whitespace")
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_not_blank)]
Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
ItemId = Annotated[str, Field(min_length=1, max_length=200)]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedIn(_Strict):
    """Texts to embed; with ``store``, also indexed under ``ids`` (long texts as chunks)."""

    texts: list[Text] = Field(min_length=1, max_length=512)
    model: str | None = Field(None, description="Default: the configured embedding model")
    store: bool = False
    ids: list[ItemId] | None = Field(None, description="With store: one id per text")
    metadatas: list[dict[str, Scalar]] | None = Field(None, description="With store: one per text")

    @model_validator(mode="after")
    def _ids_fit(self) -> Self:
        if self.store and (self.ids is None or len(self.ids) != len(self.texts)):
            raise ValueError("store needs ids, one per text")
        if self.ids is not None and len(set(self.ids)) != len(self.ids):
            raise ValueError("ids must be unique")
        if self.metadatas is not None and len(self.metadatas) != len(self.texts):
            raise ValueError("metadatas needs one entry per text")
        return self


class SearchIn(_Strict):
    """A query text or a query vector, how many items, and chromadb ``where`` filters on metadata."""

    query: Text | None = Field(None, max_length=20_000)
    vector: list[float] | None = Field(None, min_length=1, max_length=16_384)
    top_k: int = Field(10, ge=1, le=100)
    where: dict[str, Any] | None = Field(
        None, description='Metadata filter, chromadb syntax: {"source": "rss"} or {"year": {"$gte": 2024}}'
    )
    min_score: float | None = Field(None, ge=-1, le=1, description="Leave out results below this cosine")

    @model_validator(mode="after")
    def _one_query(self) -> Self:
        if (self.query is None) == (self.vector is None):
            raise ValueError("give either query (text) or vector, not both")
        return self


class ChunkIn(_Strict):
    """``overlap`` is in characters; sentence and semantic chunks repeat the whole trailing
    sentences of the chunk before that fit in it."""

    text: Text
    strategy: Literal["fixed-size", "sentence", "semantic"] = "sentence"
    chunk_size: int = Field(1000, ge=20, le=100_000, description="Characters per chunk at most")
    overlap: int = Field(100, ge=0, le=50_000)
    threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="semantic: start a new chunk where neighbouring sentences are less similar than this "
        "(default: one standard deviation below their mean similarity)",
    )


class ClusterIn(_Strict):
    """Vectors, or ids of indexed items; ``k``, or the best silhouette for k in k_min..k_max."""

    vectors: list[list[float]] | None = Field(None, min_length=3, max_length=5000)
    item_ids: list[ItemId] | None = Field(None, min_length=3, max_length=5000)
    k: int | None = Field(None, ge=2, le=100)
    k_min: int = Field(2, ge=2, le=100)
    k_max: int = Field(10, ge=2, le=50)
    normalize: bool | None = Field(
        None, description="Scale vectors to unit length first (default: yes for items, no for vectors)"
    )
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.vectors is None) == (self.item_ids is None):
            raise ValueError("give either vectors or item_ids")
        if self.k_min > self.k_max:
            raise ValueError("k_min must not be above k_max")
        return self


class ClassifyIn(_Strict):
    """The caller's labels; ``embedding``: zero-shot by similarity, ``model``: a chat model decides."""

    content: Text
    categories: list[Label] = Field(min_length=1, max_length=100)
    descriptions: dict[str, str] | None = Field(None, description="label -> what it means")
    method: Literal["embedding", "model"] = "embedding"
    confidence_threshold: float = Field(0.0, ge=0, le=1)
    model: str | None = Field(None, description="embedding: the embedding model; model: the chat model")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories must be unique")
        return self


class RelationsIn(_Strict):
    content: Text
    entity_types: list[Label] | None = Field(None, max_length=50)
    relation_types: list[Label] | None = Field(None, max_length=50)
    model: str | None = None


class ImportanceContext(BaseModel):
    user_interests: list[Label] = Field(default_factory=list, max_length=50)
    time_sensitivity: Literal["low", "medium", "high"] | None = None
    geographic_relevance: str | None = None
    topic: str | None = None
    query: str | None = None


class ImportanceIn(_Strict):
    content: Text
    context: ImportanceContext = Field(default_factory=ImportanceContext)
    published_at: datetime | None = None
    source_weight: float = Field(0.5, ge=0, le=1)

    def interests(self) -> list[str]:
        """What the content's similarity is measured against."""
        context = self.context
        extra = [text for text in (context.topic, context.query) if text and text.strip()]
        return [*context.user_interests, *extra]


class Candidate(_Strict):
    id: ItemId
    text: Text


class DuplicatesIn(_Strict):
    """``content`` against the candidates, or every candidate pair; ``candidate_pool``: indexed item ids."""

    content: Text | None = None
    candidate_pool: list[ItemId] = Field(default_factory=list, max_length=2000)
    items: list[Candidate] = Field(default_factory=list, max_length=2000)
    similarity_threshold: float = Field(0.9, ge=0, le=1)

    @model_validator(mode="after")
    def _enough(self) -> Self:
        candidates = len(self.candidate_pool) + len(self.items)
        if candidates < (1 if self.content is not None else 2):
            raise ValueError("give content and at least one candidate, or at least two candidates")
        return self


class GraphIn(_Strict):
    item_ids: list[ItemId] = Field(default_factory=list, max_length=50)
    items: list[Candidate] = Field(default_factory=list, max_length=50)
    entity_types: list[Label] | None = Field(None, max_length=50)
    relation_types: list[Label] | None = Field(None, max_length=50)
    model: str | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not self.item_ids and not self.items:
            raise ValueError("give item_ids or items")
        return self

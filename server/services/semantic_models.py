"""What the semantic service answers: search hits, chunks, clusters, quality, classes, relations, graphs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ChunkStrategy = Literal["fixed-size", "sentence", "semantic"]


class SearchHit(BaseModel):
    id: str = Field(description="The stored chunk: the item id, or <item_id>#<n> for a chunk of a long item")
    item_id: str
    score: float = Field(description="Cosine similarity to the query, -1..1")
    text: str = Field(description="The start of the matching chunk")
    metadata: dict[str, Any]


class SearchResults(BaseModel):
    results: list[SearchHit]
    total: int
    model: str | None = Field(description="The embedding model of the query (none for a vector query)")
    processing_time_ms: float


class Embedded(BaseModel):
    model: str
    dimension: int
    embeddings: list[list[float]]
    prompt_tokens: int
    stored: int = Field(0, description="Items stored in the index (with store=true)")


class TextChunk(BaseModel):
    index: int
    text: str
    start: int = Field(description="Offset of the first character in the input text")
    end: int = Field(description="Offset after the last character (text == input[start:end])")


class Breakpoint(BaseModel):
    offset: int = Field(description="Where the new chunk starts")
    similarity: float = Field(description="Cosine similarity of the sentences on either side")


class Chunking(BaseModel):
    strategy: ChunkStrategy
    chunk_size: int
    overlap: int
    chunks: list[TextChunk]
    count: int
    breakpoints: list[Breakpoint] = Field(
        default_factory=list, description="semantic: the similarity drops where topics change"
    )
    threshold: float | None = Field(None, description="semantic: the similarity below which a chunk ends")


class ClusterInfo(BaseModel):
    cluster: int
    size: int
    members: list[str] = Field(description="Item ids, or the input vectors' positions")


class TriedK(BaseModel):
    k: int
    silhouette_score: float
    inertia: float


class Clusters(BaseModel):
    k: int
    silhouette_score: float = Field(description="-1..1; near 1: tight, well separated clusters")
    labels: list[int] = Field(description="The cluster of each input, in input order")
    clusters: list[ClusterInfo]
    tried: list[TriedK]
    processing_time_ms: float


class QualityFactor(BaseModel):
    value: float
    score: float = Field(description="0..1")
    explanation: str


class Quality(BaseModel):
    id: str
    quality_score: float = Field(description="0..1, the mean of the factors' scores")
    factors: dict[str, QualityFactor]
    indexed_chunks: int = Field(description="Chunks of this item in the vector store")
    stored_quality: float | None = Field(None, description="The score the content service recorded")


class Category(BaseModel):
    category: str
    subcategory: str | None = None
    confidence: float


class Classification(BaseModel):
    classification_id: str
    content_type: str = "text"
    method: Literal["embedding", "model"]
    model: str
    categories: list[Category]
    tags: list[str]
    processing_time_ms: float


class Entity(BaseModel):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)


class Relation(BaseModel):
    source: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    target: str = Field(min_length=1)


class Relations(BaseModel):
    entities: list[Entity]
    relations: list[Relation]
    model: str
    processing_time_ms: float


class ImportanceFactor(BaseModel):
    name: str
    value: float = Field(description="0..1")
    weight: float
    contribution: float = Field(description="weight * value / the weights of the factors used")
    explanation: str


class Importance(BaseModel):
    importance_score: float = Field(description="0..1")
    factors: list[ImportanceFactor]


class DuplicatePair(BaseModel):
    id_a: str
    id_b: str
    similarity: float
    method: Literal["exact", "semantic"]


class Duplicates(BaseModel):
    duplicates: list[DuplicatePair]
    similarity_threshold: float
    checked: int


class GraphNode(BaseModel):
    id: str
    label: str
    type: str
    items: list[str]
    mentions: int


class GraphEdge(BaseModel):
    source: str
    target: str
    relation: str
    items: list[str]
    weight: int


class KnowledgeGraph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    items_processed: int
    model: str


class _ModelCategories(BaseModel):
    categories: list[Category]
    tags: list[str] = Field(default_factory=list)


class _ModelRelations(BaseModel):
    entities: list[Entity]
    relations: list[Relation]

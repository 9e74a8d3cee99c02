"""Semantic: embeddings, search, chunking, clustering, quality, classification, relations, duplicates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.semantic import (
    ChunkIn,
    Chunking,
    Classification,
    ClassifyIn,
    ClusterIn,
    Clusters,
    Duplicates,
    DuplicatesIn,
    Embedded,
    EmbedIn,
    GraphIn,
    Importance,
    ImportanceIn,
    KnowledgeGraph,
    Quality,
    Relations,
    RelationsIn,
    SearchIn,
    SearchResults,
)

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("semantic",))


@routes.post(
    "/api/v1/semantic/embed",
    summary="Generate embeddings for text",
    auth=True,
    body=EmbedIn,
    response=Embedded,
    errors=(400, 409, 503),
)
async def semantic_embed(request: web.Request, body: EmbedIn) -> Embedded:
    """Vectors from the embedding model (Ollama). With ``store``, the texts are also indexed for
    search under ``ids`` with their ``metadatas``."""
    return await request.app[BACKEND].semantic.embed(
        body.texts, model=body.model, store=body.store, ids=body.ids, metadatas=body.metadatas
    )


@routes.post(
    "/api/v1/semantic/search",
    summary="Perform semantic search",
    auth=True,
    body=SearchIn,
    response=SearchResults,
    errors=(400, 409, 503),
)
async def semantic_search(request: web.Request, body: SearchIn) -> SearchResults:
    """The ``top_k`` indexed items nearest the query (cosine similarity), each with its best chunk."""
    return await request.app[BACKEND].semantic.search(
        query=body.query, vector=body.vector, top_k=body.top_k, where=body.where, min_score=body.min_score
    )


@routes.post(
    "/api/v1/semantic/chunk",
    summary="Intelligent text chunking",
    auth=True,
    body=ChunkIn,
    response=Chunking,
    errors=(503,),
)
async def semantic_chunk(request: web.Request, body: ChunkIn) -> Chunking:
    """fixed-size (characters, words kept whole where possible), sentence, or semantic (sentences,
    with a new chunk where neighbouring sentences' embeddings grow apart). Offsets index the input."""
    return await request.app[BACKEND].semantic.chunk(
        body.text,
        strategy=body.strategy,
        chunk_size=body.chunk_size,
        overlap=body.overlap,
        threshold=body.threshold,
    )


@routes.post(
    "/api/v1/semantic/cluster",
    summary="Cluster embeddings",
    auth=True,
    body=ClusterIn,
    response=Clusters,
    errors=(400, 404),
)
async def semantic_cluster(request: web.Request, body: ClusterIn) -> Clusters:
    """k-means with k-means++ starts; with no ``k``, the k in k_min..k_max with the best silhouette."""
    return await request.app[BACKEND].semantic.cluster(
        vectors=body.vectors,
        item_ids=body.item_ids,
        k=body.k,
        k_min=body.k_min,
        k_max=body.k_max,
        normalize=body.normalize,
        seed=body.seed,
    )


@routes.get(
    "/api/v1/semantic/quality/{item_id}",
    summary="Get content quality score",
    auth=True,
    response=Quality,
    errors=(404,),
)
async def semantic_quality(request: web.Request) -> Quality:
    """A 0..1 score for a stored item's text, with each factor and how it was scored."""
    return await request.app[BACKEND].semantic.quality(request.match_info["item_id"])


@routes.post(
    "/api/v1/semantic/classify",
    summary="Content classification and tagging",
    auth=True,
    body=ClassifyIn,
    response=Classification,
    errors=(404, 503),
)
async def semantic_classify(request: web.Request, body: ClassifyIn) -> Classification:
    """Against the caller's ``categories``: ``method`` embedding (zero-shot, confidence = cosine
    similarity to the label and its description) or model (a chat model, JSON checked against a
    schema, with tags)."""
    return await request.app[BACKEND].semantic.classify(
        body.content,
        body.categories,
        descriptions=body.descriptions,
        method=body.method,
        confidence_threshold=body.confidence_threshold,
        model=body.model,
    )


@routes.post(
    "/api/v1/semantic/extract-relations",
    summary="Entity and relationship extraction",
    auth=True,
    body=RelationsIn,
    response=Relations,
    errors=(404, 503),
)
async def semantic_extract_relations(request: web.Request, body: RelationsIn) -> Relations:
    """Entities and relations from a chat model's JSON (checked against a schema); relations whose
    ends are not among the entities, and types outside those asked for, are left out."""
    return await request.app[BACKEND].semantic.extract_relations(
        body.content, entity_types=body.entity_types, relation_types=body.relation_types, model=body.model
    )


@routes.post(
    "/api/v1/semantic/score-importance",
    summary="Content prioritization",
    auth=True,
    body=ImportanceIn,
    response=Importance,
    errors=(503,),
)
async def semantic_score_importance(request: web.Request, body: ImportanceIn) -> Importance:
    """A weighted mean of explainable factors: recency (published_at), length, similarity to the
    context's interests/topic/query, time sensitivity and the source's weight."""
    return await request.app[BACKEND].semantic.score_importance(
        body.content,
        interests=body.interests(),
        time_sensitivity=body.context.time_sensitivity,
        published_at=body.published_at,
        source_weight=body.source_weight,
    )


@routes.post(
    "/api/v1/semantic/detect-duplicates",
    summary="Semantic duplicate detection",
    auth=True,
    body=DuplicatesIn,
    response=Duplicates,
    errors=(400, 404, 503),
)
async def semantic_detect_duplicates(request: web.Request, body: DuplicatesIn) -> Duplicates:
    """Exact duplicates first (same text ignoring case and spacing), then pairs whose cosine
    similarity reaches ``similarity_threshold``."""
    return await request.app[BACKEND].semantic.detect_duplicates(
        content=body.content,
        candidate_pool=body.candidate_pool,
        items=[(item.id, item.text) for item in body.items],
        similarity_threshold=body.similarity_threshold,
    )


@routes.post(
    "/api/v1/semantic/build-knowledge-graph",
    summary="Knowledge graph construction",
    auth=True,
    body=GraphIn,
    response=KnowledgeGraph,
    errors=(404, 503),
)
async def semantic_build_knowledge_graph(request: web.Request, body: GraphIn) -> KnowledgeGraph:
    """Entities (nodes, merged by name) and relations (edges) extracted from each item by a chat model."""
    return await request.app[BACKEND].semantic.build_knowledge_graph(
        item_ids=body.item_ids,
        items=[(item.id, item.text) for item in body.items],
        entity_types=body.entity_types,
        relation_types=body.relation_types,
        model=body.model,
    )

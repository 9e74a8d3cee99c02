"""The model-backed half of the semantic service: classification, relations, importance, knowledge graphs.

A mixin of ``SemanticService`` (``semantic.py``): it embeds through the service's batched ``_embed``
and reads items through its ``_item_text``. Model answers are JSON checked against a schema; one
that does not match is refused (``DependencyDown``), never repaired by guessing.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from server.services.errors import DependencyDown, NotFound
from server.services.llm import collect
from server.services.semantic_models import (
    Category,
    Classification,
    Entity,
    GraphEdge,
    GraphNode,
    Importance,
    ImportanceFactor,
    KnowledgeGraph,
    Relation,
    Relations,
    _ModelCategories,
    _ModelRelations,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from pydantic import BaseModel

    from server.services.semantic_store import Stored

GRAPH_CONCURRENCY = 3


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``perf_counter`` reading), for ``processing_time_ms``."""
    return round((time.perf_counter() - started) * 1000, 2)


class UnderstandingMixin:
    """Classify, extract relations, score importance and build graphs; needs the service's parts."""

    _llm: Any
    _default_model: Callable[[], Awaitable[str | None]]

    if TYPE_CHECKING:

        async def _embed(
            self, texts: Sequence[str], model: str | None = None
        ) -> tuple[list[list[float]], str, int]: ...

        async def _item_text(self, item_id: str) -> tuple[str | None, Any, list[Stored]]: ...

    # -- model calls --

    async def _chat_model(self, model: str | None) -> str:
        if model:
            return model
        chosen = await self._default_model()
        if chosen is None:
            raise DependencyDown("No model is installed in Ollama: pull one in the Models panel")
        return chosen

    async def _structured(
        self, model: str, prompt: str, schema: type[BaseModel], json_schema: dict[str, Any]
    ) -> Any:
        """Ask ``model`` for JSON matching ``json_schema``; refuse an answer that does not match."""
        reply = await collect(
            self._llm.generate_stream(model, prompt, format=json_schema, options={"temperature": 0})
        )
        try:
            return schema.model_validate_json(reply.text)
        except ValidationError as exc:
            raise DependencyDown(
                f"The model {model} answered with JSON that does not match the schema "
                f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']}); try another model"
            ) from exc

    async def classify(
        self,
        content: str,
        categories: Sequence[str],
        *,
        descriptions: Mapping[str, str] | None = None,
        method: Literal["embedding", "model"] = "embedding",
        confidence_threshold: float = 0.0,
        model: str | None = None,
    ) -> Classification:
        """Score ``content`` against the caller's labels.

        ``embedding``: zero-shot, the cosine similarity of the content's vector to each label's
        (label plus description) vector, negatives as 0; no tags. ``model``: a chat model picks
        labels with confidences and tags, as JSON checked against a schema.
        """
        from server.services import semantic_math as sm

        started = time.perf_counter()
        descriptions = descriptions or {}
        tags: list[str] = []
        if method == "embedding":
            label_texts = [
                f"{label}: {descriptions[label]}" if label in descriptions else label for label in categories
            ]
            vectors, used, _ = await self._embed([content, *label_texts], model)
            scores = (await asyncio.to_thread(sm.cosine, sm.matrix(vectors[:1]), sm.matrix(vectors[1:])))[0]
            found = [
                Category(category=label, confidence=round(max(0.0, float(score)), 4))
                for label, score in zip(categories, scores, strict=True)
            ]
        else:
            used = await self._chat_model(model)
            labels = "\n".join(
                f"- {label}: {descriptions.get(label, '')}".rstrip(": ") for label in categories
            )
            schema = {
                "type": "object",
                "properties": {
                    "categories": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "category": {"type": "string", "enum": list(categories)},
                                "subcategory": {"type": ["string", "null"]},
                                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                            },
                            "required": ["category", "confidence"],
                        },
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["categories", "tags"],
            }
            prompt = (
                "Classify the text into the categories that apply, each with a confidence from 0 to 1, "
                f"and give up to 8 short topic tags. Categories:\n{labels}\n\nText:\n{content}"
            )
            answer = await self._structured(used, prompt, _ModelCategories, schema)
            allowed = set(categories)
            found = [
                Category(
                    category=c.category,
                    subcategory=c.subcategory,
                    confidence=round(min(1.0, max(0.0, c.confidence)), 4),
                )
                for c in answer.categories
                if c.category in allowed
            ]
            tags = [tag.strip() for tag in answer.tags if tag.strip()][:8]
        found = sorted(
            (c for c in found if c.confidence >= confidence_threshold), key=lambda c: -c.confidence
        )
        return Classification(
            classification_id=str(uuid.uuid4()),
            method=method,
            model=used,
            categories=found,
            tags=tags,
            processing_time_ms=elapsed_ms(started),
        )

    async def extract_relations(
        self,
        content: str,
        *,
        entity_types: Sequence[str] | None = None,
        relation_types: Sequence[str] | None = None,
        model: str | None = None,
    ) -> Relations:
        """Entities and the relations between them, as validated JSON from a chat model."""
        started = time.perf_counter()
        used = await self._chat_model(model)
        entity_type: dict[str, Any] = {
            "type": "string",
            **({"enum": list(entity_types)} if entity_types else {}),
        }
        relation_type: dict[str, Any] = {
            "type": "string",
            **({"enum": list(relation_types)} if relation_types else {}),
        }
        schema = {
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "type": entity_type},
                        "required": ["name", "type"],
                    },
                },
                "relations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "source": {"type": "string"},
                            "relation": relation_type,
                            "target": {"type": "string"},
                        },
                        "required": ["source", "relation", "target"],
                    },
                },
            },
            "required": ["entities", "relations"],
        }
        wanted = ""
        if entity_types:
            wanted += f"Entity types: {', '.join(entity_types)}.\n"
        if relation_types:
            wanted += f"Relation types: {', '.join(relation_types)}.\n"
        prompt = (
            "Extract the named entities of the text and the relations between them. A relation's source "
            f"and target are entity names from your list.\n{wanted}\nText:\n{content}"
        )
        answer = await self._structured(used, prompt, _ModelRelations, schema)
        return Relations(
            **_checked_relations(answer, entity_types, relation_types),
            model=used,
            processing_time_ms=elapsed_ms(started),
        )

    async def score_importance(
        self,
        content: str,
        *,
        interests: Sequence[str] = (),
        time_sensitivity: Literal["low", "medium", "high"] | None = None,
        published_at: datetime | None = None,
        source_weight: float = 0.5,
    ) -> Importance:
        """A 0..1 importance from explainable factors: recency, length, similarity to the caller's
        interests or query, time sensitivity and the source's weight."""
        from server.services import semantic_math as sm

        factors: list[tuple[str, float, float, str]] = []  # name, value, weight, explanation
        if published_at is not None:
            when = published_at if published_at.tzinfo else published_at.replace(tzinfo=UTC)
            age_days = max(0.0, (datetime.now(UTC) - when).total_seconds() / 86400)
            factors.append(
                ("recency", 0.5 ** (age_days / 7), 0.25, f"{age_days:.1f} days old (halves every 7 days)")
            )
        words = len(re.findall(r"\w+", content))
        factors.append(
            ("length", min(1.0, math.log10(words + 1) / 3), 0.15, f"{words} words (1000 or more scores 1)")
        )
        if interests:
            vectors, _, _ = await self._embed([content, *interests])
            scores = (await asyncio.to_thread(sm.cosine, sm.matrix(vectors[:1]), sm.matrix(vectors[1:])))[0]
            best = int(scores.argmax())
            factors.append(
                (
                    "topic_similarity",
                    max(0.0, float(scores[best])),
                    0.35,
                    f"closest to '{interests[best]}' (cosine {float(scores[best]):.3f})",
                )
            )
        if time_sensitivity is not None:
            value = {"low": 0.0, "medium": 0.5, "high": 1.0}[time_sensitivity]
            factors.append(("time_sensitivity", value, 0.10, f"time sensitivity {time_sensitivity}"))
        factors.append(("source_weight", source_weight, 0.15, "the weight given for the source"))
        total = sum(weight for _, _, weight, _ in factors)
        listed = [
            ImportanceFactor(
                name=name,
                value=round(value, 4),
                weight=weight,
                contribution=round(weight * value / total, 4),
                explanation=explanation,
            )
            for name, value, weight, explanation in factors
        ]
        return Importance(importance_score=round(sum(f.contribution for f in listed), 4), factors=listed)

    async def build_knowledge_graph(
        self,
        *,
        item_ids: Sequence[str] = (),
        items: Sequence[tuple[str, str]] = (),
        entity_types: Sequence[str] | None = None,
        relation_types: Sequence[str] | None = None,
        model: str | None = None,
    ) -> KnowledgeGraph:
        """Entities (nodes) and relations (edges) extracted from each item, merged by name."""
        used = await self._chat_model(model)
        sources = list(items)
        for item_id in item_ids:
            text, _, _ = await self._item_text(item_id)
            if text is None:
                raise NotFound(f"No content item {item_id}")
            sources.append((item_id, text))
        limit = asyncio.Semaphore(GRAPH_CONCURRENCY)

        async def extract(text: str) -> Relations:
            async with limit:
                return await self.extract_relations(
                    text, entity_types=entity_types, relation_types=relation_types, model=used
                )

        extracted = await asyncio.gather(*(extract(text) for _, text in sources))
        nodes: dict[str, GraphNode] = {}
        edges: dict[tuple[str, str, str], GraphEdge] = {}
        for (item_id, _), found in zip(sources, extracted, strict=True):
            for entity in found.entities:
                key = _node_id(entity.name)
                node = nodes.setdefault(
                    key, GraphNode(id=key, label=entity.name, type=entity.type, items=[], mentions=0)
                )
                node.mentions += 1
                if item_id not in node.items:
                    node.items.append(item_id)
            for relation in found.relations:
                edge_key = (_node_id(relation.source), relation.relation, _node_id(relation.target))
                edge = edges.setdefault(
                    edge_key,
                    GraphEdge(
                        source=edge_key[0], target=edge_key[2], relation=relation.relation, items=[], weight=0
                    ),
                )
                edge.weight += 1
                if item_id not in edge.items:
                    edge.items.append(item_id)
        return KnowledgeGraph(
            nodes=list(nodes.values()), edges=list(edges.values()), items_processed=len(sources), model=used
        )


def _node_id(name: str) -> str:
    """Entities with the same name (ignoring case and spacing) are one node."""
    return " ".join(name.lower().split())


def _checked_relations(
    answer: _ModelRelations, entity_types: Sequence[str] | None, relation_types: Sequence[str] | None
) -> dict[str, Any]:
    """The model's entities and relations without duplicates, types outside the asked ones, or
    relations whose ends are not among the entities."""
    entities: dict[str, Entity] = {}
    for entity in answer.entities:
        if entity_types and entity.type not in entity_types:
            continue
        entities.setdefault(_node_id(entity.name), Entity(name=entity.name.strip(), type=entity.type))
    relations: dict[tuple[str, str, str], Relation] = {}
    for relation in answer.relations:
        ends = (_node_id(relation.source), _node_id(relation.target))
        if relation_types and relation.relation not in relation_types:
            continue
        if ends[0] not in entities or ends[1] not in entities:
            continue
        relations.setdefault(
            (ends[0], relation.relation, ends[1]),
            Relation(
                source=entities[ends[0]].name, relation=relation.relation, target=entities[ends[1]].name
            ),
        )
    return {"entities": list(entities.values()), "relations": list(relations.values())}

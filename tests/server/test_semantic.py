"""Semantic API: embeddings through the fake Ollama, chromadb in the data dir, numpy math, model JSON.

The fake Ollama's ``/api/embed`` is a bag-of-words hashing embedding: texts that share words get
similar vectors, so search, duplicates and semantic chunking have something real to find.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from server.backend import Backend
from server.services.errors import DependencyDown
from server.services.semantic_store import VectorStore
from server.services.semantic_types import IndexDoc
from server.services.vector_process import ProcessVectorStore
from tests.conftest import API_KEY
from tests.fakes.ollama import FakeModel

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    from server.config import Settings
    from tests.fakes.ollama import FakeOllama

AUTH = {"Authorization": f"Bearer {API_KEY}"}

DOCS = {
    "cats": "Cats purr and chase mice around the barn; a cat naps in the sun.",
    "rockets": "Rockets burn fuel to launch satellites into orbit around the earth.",
    "bread": "Bake bread with flour, water, yeast and salt; knead the dough and let it rise.",
}
SOURCES = {"cats": "blog", "rockets": "news", "bread": "blog"}


async def post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = await client.post(f"/api/v1/semantic/{path}", json=body, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def store_docs(client: TestClient) -> None:
    ids = list(DOCS)
    body = await post(
        client,
        "embed",
        {
            "texts": [DOCS[i] for i in ids],
            "store": True,
            "ids": ids,
            "metadatas": [{"source": SOURCES[i], "rank": n} for n, i in enumerate(ids)],
        },
    )
    assert body["stored"] == 3


# -- embed and search --


async def test_embed_returns_one_vector_per_text_from_the_embedding_model(client: TestClient) -> None:
    body = await post(client, "embed", {"texts": ["one text", "another text"]})
    assert body["model"] == "nomic-embed-text:latest"
    assert body["dimension"] == 768
    assert [len(vector) for vector in body["embeddings"]] == [768, 768]
    assert body["stored"] == 0


async def test_search_finds_the_indexed_item_that_matches_the_query(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "search", {"query": "launch a rocket into orbit", "top_k": 3})
    results = body["results"]
    assert results[0]["item_id"] == "rockets"
    assert results[0]["score"] > results[1]["score"]
    assert results[0]["text"] == DOCS["rockets"]
    assert results[0]["metadata"]["source"] == "news"


async def test_search_with_a_vector_finds_the_item_it_was_made_from(client: TestClient) -> None:
    await store_docs(client)
    vector = (await post(client, "embed", {"texts": [DOCS["bread"]]}))["embeddings"][0]
    body = await post(client, "search", {"vector": vector, "top_k": 1})
    assert body["results"][0]["item_id"] == "bread"
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


async def test_metadata_filter_limits_search_to_matching_items(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "search", {"query": "rockets orbit", "top_k": 5, "where": {"source": "blog"}})
    assert {hit["item_id"] for hit in body["results"]} == {"cats", "bread"}


async def test_min_score_leaves_out_weak_matches(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "search", {"query": "rockets launch satellites", "top_k": 5, "min_score": 0.3})
    assert [hit["item_id"] for hit in body["results"]] == ["rockets"]


async def test_long_items_are_indexed_as_chunks_and_found_once(client: TestClient, backend: Backend) -> None:
    sentences = [f"Sentence number {n} talks about gardening tomatoes and soil." for n in range(60)]
    long_text = " ".join(sentences) + " The final sentence mentions volcanic eruptions."
    await backend.semantic.index([IndexDoc("garden", long_text, {"source": "book"})])
    await backend.semantic.index([IndexDoc("short", "Volcanoes erupt lava.", {})])
    body = await post(client, "search", {"query": "volcanic eruptions", "top_k": 5})
    garden = [hit for hit in body["results"] if hit["item_id"] == "garden"]
    assert len(garden) == 1
    assert garden[0]["id"].startswith("garden#")
    assert "volcanic" in garden[0]["text"]
    assert backend.semantic.store.count() > 3


async def test_reindexing_an_item_replaces_its_old_chunks(client: TestClient, backend: Backend) -> None:
    long_text = " ".join(f"Old sentence {n} about sailing boats." for n in range(80))
    await backend.semantic.index([IndexDoc("doc", long_text, {})])
    await backend.semantic.index([IndexDoc("doc", "Now a short note about trains.", {})])
    assert backend.semantic.store.count() == 1
    body = await post(client, "search", {"query": "sailing boats", "top_k": 5})
    assert [hit["id"] for hit in body["results"]] == ["doc"]


async def test_removed_items_are_no_longer_found(client: TestClient, backend: Backend) -> None:
    await store_docs(client)
    await backend.semantic.remove(["rockets"])
    body = await post(client, "search", {"query": "rockets orbit", "top_k": 5})
    assert "rockets" not in {hit["item_id"] for hit in body["results"]}


async def test_search_of_an_empty_store_finds_nothing(client: TestClient) -> None:
    body = await post(client, "search", {"query": "anything", "top_k": 5})
    assert body["results"] == []


# -- duplicates --


async def test_exact_and_near_duplicates_are_detected(client: TestClient) -> None:
    items = [
        {"id": "a", "text": "The meeting is scheduled for 3 PM tomorrow in room four"},
        {"id": "a-copy", "text": "the meeting  is scheduled for 3 pm tomorrow in room FOUR"},
        {"id": "a-near", "text": "The meeting is scheduled for 3 PM tomorrow in room five"},
        {"id": "other", "text": "Rockets burn fuel to reach orbit"},
    ]
    body = await post(client, "detect-duplicates", {"items": items, "similarity_threshold": 0.8})
    pairs = {(pair["id_a"], pair["id_b"]): pair for pair in body["duplicates"]}
    assert pairs[("a", "a-copy")]["method"] == "exact"
    assert pairs[("a", "a-copy")]["similarity"] == 1.0
    assert pairs[("a", "a-near")]["method"] == "semantic"
    assert 0.8 <= pairs[("a", "a-near")]["similarity"] < 1.0
    assert not any("other" in key for key in pairs)
    assert body["checked"] == 6


async def test_content_is_checked_against_stored_items(client: TestClient) -> None:
    await store_docs(client)
    body = await post(
        client,
        "detect-duplicates",
        {"content": DOCS["bread"].upper(), "candidate_pool": ["cats", "bread"], "similarity_threshold": 0.9},
    )
    assert [(p["id_a"], p["id_b"], p["method"]) for p in body["duplicates"]] == [
        ("content", "bread", "exact")
    ]


# -- chunking --

FIXED_TEXT = " ".join(f"word{n:03d}" for n in range(200))


async def test_fixed_size_chunks_keep_offsets_size_and_overlap(client: TestClient) -> None:
    body = await post(
        client, "chunk", {"text": FIXED_TEXT, "strategy": "fixed-size", "chunk_size": 100, "overlap": 20}
    )
    chunks = body["chunks"]
    assert body["count"] == len(chunks) > 10
    for chunk in chunks:
        assert chunk["text"] == FIXED_TEXT[chunk["start"] : chunk["end"]]
        assert len(chunk["text"]) <= 100
    for before, after in itertools.pairwise(chunks):
        assert after["start"] == before["end"] - 20
    assert chunks[0]["start"] == 0
    assert chunks[-1]["end"] == len(FIXED_TEXT)
    assert all(FIXED_TEXT[c["end"]] == " " for c in chunks[:-1])  # words kept whole


SENTENCES = [
    "The cat sat on the mat.",
    "The cat chased a mouse!",
    "A cat sleeps all day?",
    "Rockets launch from the pad.",
    "Rockets carry satellites to orbit.",
    "Rockets burn fuel.",
]
SENTENCE_TEXT = " ".join(SENTENCES)


async def test_sentence_chunks_end_at_sentence_ends_and_repeat_the_last_sentence(client: TestClient) -> None:
    body = await post(
        client, "chunk", {"text": SENTENCE_TEXT, "strategy": "sentence", "chunk_size": 80, "overlap": 40}
    )
    chunks = body["chunks"]
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk["text"] == SENTENCE_TEXT[chunk["start"] : chunk["end"]]
        assert len(chunk["text"]) <= 80
        assert chunk["text"][-1] in ".!?"
        assert chunk["text"].split(" ", 1)[0][0].isupper()
    for before, after in itertools.pairwise(chunks):
        last_sentence = next(s for s in reversed(SENTENCES) if before["text"].endswith(s))
        assert after["text"].startswith(last_sentence)  # one sentence fits in 40 characters, two do not
    assert chunks[-1]["end"] == len(SENTENCE_TEXT)


async def test_semantic_chunks_split_where_the_topic_changes(client: TestClient) -> None:
    body = await post(
        client, "chunk", {"text": SENTENCE_TEXT, "strategy": "semantic", "chunk_size": 1000, "overlap": 0}
    )
    rocket_start = SENTENCE_TEXT.index("Rockets launch")
    assert [chunk["text"] for chunk in body["chunks"]] == [
        " ".join(SENTENCES[:3]),
        " ".join(SENTENCES[3:]),
    ]
    assert [point["offset"] for point in body["breakpoints"]] == [rocket_start]
    assert body["breakpoints"][0]["similarity"] < body["threshold"]


async def test_semantic_chunks_with_overlap_repeat_the_sentence_before_the_break(client: TestClient) -> None:
    body = await post(
        client, "chunk", {"text": SENTENCE_TEXT, "strategy": "semantic", "chunk_size": 1000, "overlap": 25}
    )
    assert body["chunks"][1]["text"].startswith(SENTENCES[2])


# -- clustering --


def blobs() -> tuple[list[list[float]], list[int]]:
    rng = np.random.default_rng(7)
    centres = np.array([[0, 0, 0, 0], [10, 10, 0, 0], [0, 10, 10, 10]], dtype=float)
    points = np.vstack([rng.normal(centre, 0.5, (30, 4)) for centre in centres])
    return points.tolist(), [n // 30 for n in range(90)]


async def test_clustering_separable_data_recovers_the_clusters(client: TestClient) -> None:
    vectors, truth = blobs()
    body = await post(client, "cluster", {"vectors": vectors, "k_min": 2, "k_max": 6})
    assert body["k"] == 3
    assert body["silhouette_score"] > 0.8
    mapping = {label: body["labels"][truth.index(label)] for label in range(3)}
    assert [mapping[label] for label in truth] == body["labels"]
    assert sorted(cluster["size"] for cluster in body["clusters"]) == [30, 30, 30]
    assert [tried["k"] for tried in body["tried"]] == [2, 3, 4, 5, 6]


async def test_clustering_with_a_given_k(client: TestClient) -> None:
    vectors, _ = blobs()
    body = await post(client, "cluster", {"vectors": vectors, "k": 2})
    assert body["k"] == 2
    assert len(body["tried"]) == 1


async def test_clustering_stored_items_by_id(client: TestClient) -> None:
    texts = {
        "c1": "cats purr cats nap",
        "c2": "cats nap cats purr softly",
        "c3": "cats purr cats",
        "r1": "rockets launch rockets orbit",
        "r2": "rockets orbit rockets launch fast",
        "r3": "rockets launch rockets",
    }
    await post(client, "embed", {"texts": list(texts.values()), "store": True, "ids": list(texts)})
    body = await post(client, "cluster", {"item_ids": list(texts), "k": 2})
    groups = sorted(sorted(cluster["members"]) for cluster in body["clusters"])
    assert groups == [["c1", "c2", "c3"], ["r1", "r2", "r3"]]


# -- quality, classification, relations, importance, graph --


async def test_quality_of_a_stored_item_explains_its_factors(client: TestClient) -> None:
    await store_docs(client)
    body = await post_get(client, "/api/v1/semantic/quality/bread")
    assert 0 < body["quality_score"] <= 1
    assert set(body["factors"]) == {"length", "vocabulary", "sentence_length", "text_share"}
    assert body["indexed_chunks"] == 1


async def post_get(client: TestClient, path: str, status: int = 200) -> Any:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_quality_of_an_unknown_item_is_404(client: TestClient) -> None:
    body = await post_get(client, "/api/v1/semantic/quality/nope", status=404)
    assert "nope" in body["detail"]


async def test_zero_shot_classification_by_embedding_ranks_the_matching_label_first(
    client: TestClient,
) -> None:
    body = await post(
        client,
        "classify",
        {
            "content": "Knead the dough, let the bread rise, then bake it",
            "categories": ["space", "baking"],
            "descriptions": {"space": "rockets orbit satellites", "baking": "bread dough bake oven"},
        },
    )
    assert body["method"] == "embedding"
    assert body["categories"][0]["category"] == "baking"
    assert body["categories"][0]["confidence"] > body["categories"][-1]["confidence"]
    assert body["tags"] == []


async def test_classification_by_model_keeps_only_the_callers_labels(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append(
        json.dumps(
            {
                "categories": [
                    {"category": "finance", "confidence": 0.9},
                    {"category": "invented", "confidence": 0.8},
                    {"category": "business", "confidence": 0.4},
                ],
                "tags": ["earnings", "revenue"],
            }
        )
    )
    body = await post(
        client,
        "classify",
        {
            "content": "Quarterly earnings rose 15%",
            "categories": ["business", "finance"],
            "method": "model",
            "confidence_threshold": 0.5,
            "model": "llama3.2",
        },
    )
    assert [c["category"] for c in body["categories"]] == ["finance"]
    assert body["tags"] == ["earnings", "revenue"]
    generate = [r for r in fake_ollama.requests if r[1] == "/api/generate"]
    assert generate[-1][2]["format"]["properties"]["categories"]["items"]["properties"]["category"][
        "enum"
    ] == [
        "business",
        "finance",
    ]


RELATIONS = {
    "entities": [
        {"name": "Tim Cook", "type": "person"},
        {"name": "Apple", "type": "organization"},
        {"name": "iPhone 15", "type": "product"},
    ],
    "relations": [
        {"source": "Tim Cook", "relation": "employed_by", "target": "Apple"},
        {"source": "Apple", "relation": "announced", "target": "iPhone 15"},
        {"source": "Apple", "relation": "announced", "target": "Vision Pro"},
    ],
}


async def test_relations_are_extracted_as_validated_json(client: TestClient, fake_ollama: FakeOllama) -> None:
    fake_ollama.replies.append(json.dumps(RELATIONS))
    body = await post(
        client,
        "extract-relations",
        {"content": "Apple CEO Tim Cook announced the iPhone 15.", "model": "llama3.2"},
    )
    assert [e["name"] for e in body["entities"]] == ["Tim Cook", "Apple", "iPhone 15"]
    # The relation to an entity the model did not list is left out.
    assert [(r["source"], r["relation"], r["target"]) for r in body["relations"]] == [
        ("Tim Cook", "employed_by", "Apple"),
        ("Apple", "announced", "iPhone 15"),
    ]


async def test_a_model_answer_that_breaks_the_schema_is_503(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append('{"entities": "not a list"}')
    body = await post(client, "extract-relations", {"content": "Some text.", "model": "llama3.2"}, status=503)
    assert "does not match the schema" in body["detail"]


async def test_knowledge_graph_merges_entities_across_items(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.extend(
        [
            json.dumps(
                {
                    "entities": [{"name": "Alice", "type": "person"}, {"name": "Acme", "type": "org"}],
                    "relations": [{"source": "Alice", "relation": "works_for", "target": "Acme"}],
                }
            ),
            json.dumps(
                {
                    "entities": [{"name": "Bob", "type": "person"}, {"name": "ACME", "type": "org"}],
                    "relations": [{"source": "Bob", "relation": "works_for", "target": "ACME"}],
                }
            ),
        ]
    )
    body = await post(
        client,
        "build-knowledge-graph",
        {"items": [{"id": "i1", "text": "Alice works at Acme."}, {"id": "i2", "text": "Bob works at ACME."}]},
    )
    nodes = {node["id"]: node for node in body["nodes"]}
    assert set(nodes) == {"alice", "bob", "acme"}
    assert sorted(nodes["acme"]["items"]) == ["i1", "i2"]
    assert nodes["acme"]["mentions"] == 2
    assert sorted((e["source"], e["relation"], e["target"]) for e in body["edges"]) == [
        ("alice", "works_for", "acme"),
        ("bob", "works_for", "acme"),
    ]
    assert body["items_processed"] == 2


async def test_importance_factors_explain_the_score(client: TestClient) -> None:
    body = {
        "content": "Rockets launch satellites into orbit from the coast.",
        "context": {"user_interests": ["rockets and satellites", "gardening"], "time_sensitivity": "high"},
        "published_at": "2020-01-01T00:00:00Z",
        "source_weight": 0.8,
    }
    related = await post(client, "score-importance", body)
    factors = {factor["name"]: factor for factor in related["factors"]}
    assert set(factors) == {"recency", "length", "topic_similarity", "time_sensitivity", "source_weight"}
    assert factors["recency"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert "rockets and satellites" in factors["topic_similarity"]["explanation"]
    assert related["importance_score"] == pytest.approx(
        sum(f["contribution"] for f in factors.values()), abs=1e-3
    )
    unrelated = await post(
        client, "score-importance", {**body, "context": {**body["context"], "user_interests": ["gardening"]}}
    )
    assert unrelated["importance_score"] < related["importance_score"]


# -- persistence and chromadb's default model --


async def test_the_store_survives_a_backend_restart(settings: Settings) -> None:
    first = Backend(settings)
    await first.start()
    try:
        await first.semantic.index([IndexDoc("kept", "Glaciers carve valleys over centuries.", {"n": 1})])
    finally:
        await first.stop()
    second = Backend(settings)
    await second.start()
    try:
        found = await second.semantic.search(query="glaciers carve valleys", top_k=1)
    finally:
        await second.stop()
    assert [(hit.item_id, hit.metadata["n"]) for hit in found.results] == [("kept", 1)]
    assert (settings.data_dir / "chroma").is_dir()


async def test_a_changed_embedding_model_is_refused_naming_both_dimensions(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models.append(
        FakeModel("mxbai-embed-large", capabilities=("embedding",), embedding_length=1024)
    )
    first = Backend(settings)
    await first.start()
    try:
        await first.semantic.index([IndexDoc("x", "some text", {})])
    finally:
        await first.stop()
    second = Backend(settings.model_copy(update={"embedding_model": "mxbai-embed-large"}))
    await second.start()
    try:
        with pytest.raises(Exception, match=r"1024-dimension.*768-dimension") as caught:
            await second.semantic.index([IndexDoc("y", "other text", {})])
    finally:
        await second.stop()
    assert type(caught.value).__name__ == "Conflict"


def test_the_collection_has_no_embedding_function(tmp_path: Path) -> None:
    """chromadb cannot embed text itself: asked to, it refuses instead of loading its default model."""
    store = VectorStore(path=tmp_path / "chroma")
    store.open()
    store.check_dimension(3, "test", store=True)
    store.replace(["a"], ["a"], [[1.0, 0.0, 0.0]], ["x"], [{"item_id": "a"}])
    collection = store._collection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # chromadb's note on a collection without one
        with pytest.raises(ValueError, match="embedding function"):
            collection.query(query_texts=["cats"], n_results=1)
    store.close()


async def test_the_embedded_store_runs_in_its_own_process(client: TestClient, backend: Backend) -> None:
    """chromadb's native calls hold the GIL: the embedded store lives in a child process, and a
    child that dies is replaced on the next call without losing what was stored."""
    await store_docs(client)
    store = backend.semantic.store
    assert isinstance(store, ProcessVectorStore)
    first = store.pid
    assert first is not None
    assert first != os.getpid()
    stored = store.count()
    os.kill(first, signal.SIGKILL)
    await asyncio.to_thread(store._process.join, 10)
    with pytest.raises(DependencyDown, match="vector store process stopped"):
        store.count()
    assert store.count() == stored
    assert store.pid not in (None, first)


def test_chromadb_never_loads_or_downloads_its_default_model(tmp_path: Path) -> None:
    """In a fresh process with its own HOME: store and query vectors, then look for onnxruntime and
    chromadb's model cache (~/.cache/chroma/onnx_models)."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from server.services.semantic_store import VectorStore
        store = VectorStore(path=Path({str(tmp_path / "chroma")!r}))
        store.open()
        store.check_dimension(3, "test", store=True)
        metadatas = [{{"item_id": "a"}}, {{"item_id": "b"}}]
        store.replace(["a", "b"], ["a", "b"], [[1, 0, 0], [0, 1, 0]], ["x", "y"], metadatas)
        hits = store.query([1, 0.1, 0], 1, None)
        store.close()
        heavy = ("onnxruntime", "tokenizers", "huggingface_hub")
        print(hits[0].id, ",".join(m for m in heavy if m in sys.modules))
        """
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["a"]
    assert not (home / ".cache" / "chroma").exists()


# -- bad input and Ollama down --


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("embed", {"texts": []}),
        ("embed", {"texts": ["   "]}),
        ("embed", {"texts": ["a"], "store": True}),
        ("embed", {"texts": ["a", "b"], "store": True, "ids": ["x", "x"]}),
        ("search", {"query": "x", "top_k": 0}),
        ("search", {"query": "x", "top_k": 101}),
        ("search", {"query": "x", "vector": [0.1]}),
        ("search", {}),
        ("chunk", {"text": "x", "strategy": "paragraphs"}),
        ("chunk", {"text": ""}),
        ("chunk", {"text": "some text", "chunk_size": 100, "overlap": 100}),
        ("cluster", {"vectors": [[0, 0], [1, 1], [2, 2]], "k": 3}),
        ("cluster", {"vectors": [[0, 0], [1, 1], [2]]}),
        ("cluster", {"vectors": [[0, 0], [1, 1]]}),
        ("cluster", {"vectors": [[0, 0], [1, 1], [2, 2]], "k_min": 3}),
        ("classify", {"content": "x", "categories": []}),
        ("classify", {"content": "x", "categories": ["a"], "method": "guess"}),
        ("detect-duplicates", {"items": [{"id": "a", "text": "x"}]}),
        ("build-knowledge-graph", {}),
    ],
)
async def test_bad_input_is_422_with_detail(client: TestClient, path: str, body: dict[str, Any]) -> None:
    answer = await post(client, path, body, status=422)
    assert answer["detail"]


async def test_a_query_vector_of_the_wrong_dimension_is_422(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "search", {"vector": [0.1, 0.2, 0.3]}, status=422)
    assert body["detail"][0]["loc"] == ["body", "vector"]
    assert "768" in body["detail"][0]["msg"]


async def test_a_bad_metadata_filter_is_400(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "search", {"query": "x", "where": {"source": {"$nonsense": 1}}}, status=400)
    assert "filter" in body["detail"].lower() or "where" in body["detail"].lower()


async def test_clustering_unknown_items_is_404(client: TestClient) -> None:
    await store_docs(client)
    body = await post(client, "cluster", {"item_ids": ["cats", "bread", "ghost"], "k": 2}, status=404)
    assert "ghost" in body["detail"]


async def test_semantic_calls_need_credentials(client: TestClient) -> None:
    resp = await client.post("/api/v1/semantic/search", json={"query": "x"})
    assert resp.status == 401


async def test_ollama_down_is_503_and_nothing_is_stored(
    client: TestClient, backend: Backend, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    body = await post(client, "embed", {"texts": ["a"], "store": True, "ids": ["a"]}, status=503)
    assert "not reachable" in body["detail"]
    body = await post(client, "search", {"query": "anything"}, status=503)
    assert "Ollama" in body["detail"]
    await fake_ollama.start()
    assert (await post(client, "search", {"query": "a"}))["results"] == []

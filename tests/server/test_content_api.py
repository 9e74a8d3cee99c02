"""Content processing through the API: type detection, extraction, de-duplication, model operations
through the fake Ollama, batches, the result cache and size limits."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.services.content import ContentService, Incoming
from server.services.errors import InvalidInput
from tests.conftest import API_KEY, bearer

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from tests.fakes.ollama import FakeOllama

AUTH = bearer(API_KEY)
PDF = Path(__file__).parent / "data" / "report.pdf"
PAGE = b"""<!DOCTYPE html><html lang="en"><head><title>GPU cooling notes</title>
<meta name="description" content="How the lab keeps its cards cool"></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Cooling</h1><p>The <b>A100</b> runs hot under long training jobs.</p>
<p>Open-air frames keep it under 80 degrees.</p></article>
<footer>Copyright the lab</footer><script>track()</script></body></html>"""


async def process(client: TestClient, **body: object) -> dict[str, object]:
    resp = await client.post("/api/v1/content/process", json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_html_bytes_are_detected_as_html_whatever_type_was_claimed(client: TestClient) -> None:
    result = await process(client, data=b64(PAGE), mime_type="text/plain")
    item = result["item"]
    assert item["mime_type"] == "text/html"
    assert item["metadata"]["claimed_mime_type"] == "text/plain"
    assert item["title"] == "GPU cooling notes"
    assert (
        item["text"]
        == "Cooling\nThe A100 runs hot under long training jobs.\nOpen-air frames keep it under 80 degrees."
    )
    assert item["metadata"]["lang"] == "en"
    assert result["stored"] == "new"


@pytest.mark.parametrize(
    ("body", "mime_type", "text"),
    [
        (b"Just a plain note about fans.", "text/plain", "Just a plain note about fans."),
        (
            b"# Fans\n\nUse **two** of them.\n\n- intake\n- exhaust\n",
            "text/markdown",
            "Fans\nUse two of them.\nintake\nexhaust",
        ),
        (
            b'{"title": "Fan log", "rpm": [1200, 1400]}',
            "application/json",
            "title: Fan log\nrpm[0]: 1200\nrpm[1]: 1400",
        ),
        (PDF.read_bytes(), "application/pdf", "Quarterly report on GPU temperatures"),
    ],
)
async def test_each_format_is_detected_and_its_text_extracted(
    client: TestClient, body: bytes, mime_type: str, text: str
) -> None:
    item = (await process(client, data=b64(body), mime_type="application/octet-stream"))["item"]
    assert (item["mime_type"], item["text"].strip()) == (mime_type, text)
    fetched = await client.get(f"/api/v1/content/{item['id']}", headers=AUTH)
    assert (await fetched.json())["text"] == item["text"]


async def test_pdf_metadata_is_kept(client: TestClient) -> None:
    item = (await process(client, data=b64(PDF.read_bytes())))["item"]
    assert item["title"] == "Q3 report"
    assert item["metadata"]["pages"] == 1
    assert item["metadata"]["author"] == "Lab operator"


async def test_the_same_text_is_one_item(client: TestClient) -> None:
    first = await process(client, text="The lab  has three GPUs.")
    second = await process(client, text="The lab has three\nGPUs.  ")
    assert second["stored"] == "unchanged"
    assert second["item"]["id"] == first["item"]["id"]
    listing = await (await client.get("/api/v1/content", headers=AUTH)).json()
    assert listing["total"] == 1


async def test_quality_score_prefers_prose_to_markup_and_noise(client: TestClient) -> None:
    prose = " ".join(f"Sentence {n} explains how the cards are cooled in the rack." for n in range(20))
    noise = "\n".join(["1234 5678 9999"] * 30)
    good = (await process(client, text=prose))["item"]
    bad = (await process(client, text=noise))["item"]
    assert good["quality_score"] > 0.8 > bad["quality_score"]
    assert set(good["metadata"]["quality"]) == {"length", "text_ratio", "letters", "variety"}


async def test_operations_run_through_ollama_and_are_stored_with_the_item(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.extend(
        [
            "The lab cools its A100 with open-air frames.",
            json.dumps({"label": "positive", "score": 0.6}),
            json.dumps({"entities": [{"text": "A100", "type": "product"}]}),
        ]
    )
    result = await process(
        client,
        data=b64(PAGE),
        operations=["summarize", "sentiment", "extract_entities"],
        options={"max_length": 30},
    )
    ops = result["operations"]
    assert ops["summarize"]["status"] == "ok"
    assert ops["summarize"]["result"]["summary"] == "The lab cools its A100 with open-air frames."
    assert ops["sentiment"]["result"] == {"label": "positive", "score": 0.6}
    assert ops["extract_entities"]["result"]["entities"] == [{"text": "A100", "type": "product"}]
    prompts = [body for method, path, body in fake_ollama.requests if path == "/api/generate"]
    assert "at most 30 words" in prompts[0]["prompt"]
    assert "Open-air frames keep it under 80 degrees." in prompts[0]["prompt"]
    assert prompts[1]["format"]["properties"]["label"]["enum"] == ["positive", "negative", "neutral", "mixed"]
    stored = await (await client.get(f"/api/v1/content/{result['item']['id']}", headers=AUTH)).json()
    assert stored["results"]["sentiment"]["label"] == "positive"
    assert stored["results"]["summarize"]["model"] == ops["summarize"]["model"]


async def test_an_answer_in_the_wrong_shape_is_a_failure_not_a_result(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append(json.dumps({"label": "ecstatic", "score": 7}))
    result = await process(client, text="Great news from the lab.", operations=["sentiment"])
    assert result["operations"]["sentiment"]["status"] == "failed"
    assert "expected shape" in result["operations"]["sentiment"]["error"]
    assert result["item"]["results"] == {}


async def test_ollama_down_is_reported_per_operation_and_nothing_is_invented(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    result = await process(client, text="The fans are loud tonight.", operations=["summarize", "keywords"])
    for operation in ("summarize", "keywords"):
        assert result["operations"][operation]["status"] == "failed"
        assert result["operations"][operation]["result"] is None
        assert "Ollama" in result["operations"][operation]["error"]
    assert result["item"]["text"] == "The fans are loud tonight."  # the item itself is stored
    assert result["item"]["results"] == {}


async def test_repeated_operations_are_cache_hits(client: TestClient, fake_ollama: FakeOllama) -> None:
    fake_ollama.replies.append(json.dumps({"keywords": ["fans", "noise"]}))
    first = await process(client, text="The fans make noise.", operations=["keywords"])
    second = await process(client, text="The fans make noise.", operations=["keywords"])
    assert (first["operations"]["keywords"]["cached"], second["operations"]["keywords"]["cached"]) == (
        False,
        True,
    )
    assert second["operations"]["keywords"]["result"] == {"keywords": ["fans", "noise"]}
    assert sum(path == "/api/generate" for _, path, _ in fake_ollama.requests) == 1
    stats = await (await client.get("/api/v1/content/cache/stats", headers=AUTH)).json()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert stats["hit_rate"] == 0.5


async def test_the_cache_evicts_the_least_recently_used_beyond_its_limit(backend: Backend) -> None:
    service = ContentService(
        backend.sessions,
        backend.bus,
        backend.llm,
        default_model=backend.models.default_model,
        cache_entries=2,
    )
    for n in range(3):
        await service.process(
            incoming=Incoming(body=f"Note number {n} about racks.".encode()), operations=["summarize"]
        )
    again = await service.process(
        incoming=Incoming(body=b"Note number 0 about racks."), operations=["summarize"]
    )
    stats = service.cache_stats()
    assert again.operations["summarize"].cached is False  # the oldest entry went first
    assert (stats.entries, stats.max_entries, stats.evictions, stats.hits, stats.misses) == (2, 2, 2, 0, 4)


async def test_batch_gives_each_item_its_result_and_one_failure_sinks_nothing(client: TestClient) -> None:
    stored = await process(client, text="Already stored note.")
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    body = {
        "items": [
            stored["item"]["id"],
            {"text": "A new note in the batch."},
            "no-such-item",
            {"data": b64(png), "mime_type": "text/plain"},
        ],
        "pipeline_config": {"parallel": True},
    }
    resp = await client.post("/api/v1/content/batch", json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    statuses = [(entry["index"], entry["status"]) for entry in result["results"]]
    assert statuses == [(0, "ok"), (1, "ok"), (2, "failed"), (3, "failed")]
    assert "not found" in result["results"][2]["error"]
    assert "image/png" in result["results"][3]["error"]
    assert (result["succeeded"], result["failed"]) == (2, 2)


async def test_an_unknown_operation_is_422(client: TestClient) -> None:
    resp = await client.post(
        "/api/v1/content/process", json={"text": "x", "operations": ["classify"]}, headers=AUTH
    )
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"][:2] == ["body", "operations"]


async def test_a_20_mb_item_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    big = json.dumps({"data": b64(b"a" * (20 * 1024 * 1024))}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = await client.post("/api/v1/content/process", data=io.BytesIO(big), headers=headers)
    assert resp.status == 413
    assert "over the limit" in (await resp.json())["detail"]
    listing = await (await client.get("/api/v1/content", headers=AUTH)).json()
    assert listing["total"] == 0


async def test_an_item_over_the_content_limit_is_refused_by_the_service(backend: Backend) -> None:
    service = ContentService(
        backend.sessions,
        backend.bus,
        backend.llm,
        default_model=backend.models.default_model,
        max_item_bytes=2048,
    )
    with pytest.raises(InvalidInput, match="over the limit of 2048 bytes"):
        await service.process(incoming=Incoming(body=b"word " * 1000))
    assert (await service.list()).total == 0


async def test_unknown_item_is_404(client: TestClient) -> None:
    resp = await client.get("/api/v1/content/no-such-item", headers=AUTH)
    assert resp.status == 404
    assert "not found" in (await resp.json())["detail"]


async def test_content_routes_need_credentials(client: TestClient) -> None:
    resp = await client.post("/api/v1/content/process", json={"text": "hello"})
    assert resp.status == 401

"""Ingest sources and runs: connector -> stored items -> index, state saved only after storing, the
schedule (interval and cron) and its survival across a restart."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, text

from server.backend import Backend
from server.bus import utcnow
from server.db.models.content import ContentItemRow, ContentSourceRow
from server.events import IngestFinished, IngestProgressed
from server.services.connectors.base import ConnectorError, FetchedItem, FetchResult
from server.services.errors import InvalidInput
from server.services.ingest import Schedule
from tests.conftest import API_KEY, bearer

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aiohttp.test_utils import TestClient

    from server.bus import Subscription
    from server.config import Settings
    from server.services.ingest import IngestRun
    from server.services.semantic_types import IndexDoc

AUTH = bearer(API_KEY)


@dataclass
class ScriptedConnector:
    """A connector that follows the contract: it reports what changed since ``state`` and remembers
    each entry's hash in it. ``entries`` is the source's content; ``broken`` entries fail to read."""

    entries: dict[str, bytes] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    reachable: bool = True
    kind: str = "web"
    fetches: int = 0

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if not str(config.get("feed", "")).startswith("http://127.0.0.1"):
            raise InvalidInput("feed must be an http://127.0.0.1 URL")
        return {"feed": config["feed"]}

    async def test(self, config: Mapping[str, Any]) -> str:
        if not self.reachable:
            raise ConnectorError(f"{config['feed']} refused the connection")
        return f"{len(self.entries)} entries"

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        self.fetches += 1
        if not self.reachable:
            raise ConnectorError(f"{config['feed']} refused the connection")
        seen: dict[str, str] = state.setdefault("seen", {})
        result = FetchResult(failures=[(ref, why) for ref, why in self.broken.items()])
        for ref, body in self.entries.items():
            digest = hashlib.sha256(body).hexdigest()
            if seen.get(ref) == digest:
                result.unchanged += 1
                continue
            seen[ref] = digest
            result.items.append(
                FetchedItem(
                    ref=ref, body=body, fetched_at=utcnow(), title=None, url=ref, mime_type="text/html"
                )
            )
        return result


@dataclass
class RecordingIndex:
    """A ContentIndex that keeps what it was given."""

    docs: list[IndexDoc] = field(default_factory=list)

    async def index(self, docs: Sequence[IndexDoc]) -> None:
        self.docs.extend(docs)

    async def remove(self, item_ids: Sequence[str]) -> None:
        self.docs = [doc for doc in self.docs if doc.id not in item_ids]


def page(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><p>{body}</p></body></html>".encode()


@pytest.fixture
def connector(backend: Backend) -> ScriptedConnector:
    scripted = ScriptedConnector(
        entries={
            "http://127.0.0.1/a": page("Alpha", "The first article about racks."),
            "http://127.0.0.1/b": page("Beta", "The second article about fans."),
        },
        broken={"http://127.0.0.1/c": "HTTP 500 from the host"},
    )
    backend.connectors.register("web", lambda: scripted)
    return scripted


@pytest.fixture
def index(backend: Backend) -> RecordingIndex:
    recording = RecordingIndex()
    backend.content.index = recording
    return recording


async def finished(events: Subscription[IngestFinished], source_id: str, timeout: float = 10) -> IngestRun:
    """The next finished run of ``source_id``."""
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.run.source_id == source_id:
                return event.run
    raise AssertionError("unreachable")


async def add_source(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Lab feed", "kind": "web", "config": {"feed": "http://127.0.0.1/feed"}, **fields}
    resp = await client.post("/api/v1/content/sources", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def run(client: TestClient, backend: Backend, source_id: str) -> IngestRun:
    with backend.bus.subscribe(IngestFinished) as events:
        resp = await client.post(f"/api/v1/content/sources/{source_id}/run", headers=AUTH)
        assert resp.status == 202, await resp.text()
        assert (await resp.json())["status"] == "running"
        return await finished(events, source_id)


async def source_state(backend: Backend, source_id: str) -> dict[str, Any]:
    async with backend.sessions() as session:
        row = await session.get(ContentSourceRow, source_id)
        assert row is not None
        return dict(row.state)


async def test_a_run_stores_new_items_indexes_them_and_records_failures(
    client: TestClient, backend: Backend, connector: ScriptedConnector, index: RecordingIndex
) -> None:
    source = await add_source(client)
    with backend.bus.subscribe(IngestProgressed) as progress:
        result = await run(client, backend, source["id"])
        last = None
        while progress.pending():
            last = await progress.get()
    assert (result.status, result.new_count, result.changed_count, result.failed_count) == (
        "partial",
        2,
        0,
        1,
    )
    assert result.failures[0].reason == "HTTP 500 from the host"
    assert last is not None
    assert (last.done, last.total, last.new, last.failed) == (2, 2, 2, 1)
    assert sorted(doc.metadata["title"] for doc in index.docs) == ["Alpha", "Beta"]
    assert {doc.metadata["source_id"] for doc in index.docs} == {source["id"]}
    items = await (await client.get(f"/api/v1/content?source_id={source['id']}", headers=AUTH)).json()
    assert sorted(item["text"] for item in items["items"]) == [
        "The first article about racks.",
        "The second article about fans.",
    ]
    assert set((await source_state(backend, source["id"]))["seen"]) == {
        "http://127.0.0.1/a",
        "http://127.0.0.1/b",
    }
    stored = await (await client.get(f"/api/v1/content/sources/{source['id']}", headers=AUTH)).json()
    assert stored["last_run"]["new_count"] == 2


async def test_a_second_run_finds_changed_and_unchanged_items(
    client: TestClient, backend: Backend, connector: ScriptedConnector, index: RecordingIndex
) -> None:
    source = await add_source(client)
    first = await run(client, backend, source["id"])
    connector.broken.clear()
    connector.entries["http://127.0.0.1/b"] = page("Beta", "The second article, now about quieter fans.")
    index.docs.clear()
    second = await run(client, backend, source["id"])
    assert (second.status, second.new_count, second.changed_count, second.unchanged_count) == (
        "succeeded",
        0,
        1,
        1,
    )
    assert [doc.text for doc in index.docs] == ["The second article, now about quieter fans."]
    async with backend.sessions() as session:
        rows = (
            await session.scalars(select(ContentItemRow).where(ContentItemRow.source_id == source["id"]))
        ).all()
    assert len(rows) == 2  # changed in place, not a second row
    runs = await (await client.get(f"/api/v1/content/sources/{source['id']}/runs", headers=AUTH)).json()
    assert [entry["id"] for entry in runs] == [second.id, first.id]


async def test_a_storage_failure_stores_nothing_and_leaves_the_state(
    client: TestClient, backend: Backend, connector: ScriptedConnector, index: RecordingIndex
) -> None:
    source = await add_source(client)
    async with backend.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER refuse_items BEFORE INSERT ON content_items "
                "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
            )
        )
    failed = await run(client, backend, source["id"])
    assert failed.status == "failed"
    assert failed.error is not None
    assert "disk full (test)" in failed.error
    assert await source_state(backend, source["id"]) == {}
    assert index.docs == []
    async with backend.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER refuse_items"))
    retried = await run(client, backend, source["id"])
    assert (retried.status, retried.new_count) == ("partial", 2)  # the same items, fetched again


async def test_an_oversized_or_unreadable_entry_fails_alone(
    client: TestClient, backend: Backend, connector: ScriptedConnector, index: RecordingIndex
) -> None:
    connector.entries["http://127.0.0.1/huge"] = b"x" * (20 * 1024 * 1024)
    connector.entries["http://127.0.0.1/logo.png"] = b"\x89PNG\r\n\x1a\n" + bytes(32)
    source = await add_source(client)
    result = await run(client, backend, source["id"])
    reasons = {failure.ref: failure.reason for failure in result.failures}
    assert "over the limit" in reasons["http://127.0.0.1/huge"]
    assert "image/png" in reasons["http://127.0.0.1/logo.png"]
    assert result.new_count == 2
    async with backend.sessions() as session:
        refs = set((await session.scalars(select(ContentItemRow.ref))).all())
    assert refs == {"http://127.0.0.1/a", "http://127.0.0.1/b"}


async def test_an_unreachable_source_fails_the_run_without_advancing(
    client: TestClient, backend: Backend, connector: ScriptedConnector
) -> None:
    source = await add_source(client)
    connector.reachable = False
    result = await run(client, backend, source["id"])
    assert result.status == "failed"
    assert "refused the connection" in (result.error or "")
    assert await source_state(backend, source["id"]) == {}


async def test_a_source_is_tested_before_it_is_saved(
    client: TestClient, connector: ScriptedConnector
) -> None:
    connector.reachable = False
    body = {"name": "Down", "kind": "web", "config": {"feed": "http://127.0.0.1/feed"}}
    resp = await client.post("/api/v1/content/sources", json=body, headers=AUTH)
    assert resp.status == 400
    assert "refused the connection" in (await resp.json())["detail"]
    assert await (await client.get("/api/v1/content/sources", headers=AUTH)).json() == []


async def test_test_endpoint_says_what_it_found(client: TestClient, connector: ScriptedConnector) -> None:
    body = {"kind": "web", "config": {"feed": "http://127.0.0.1/feed"}}
    resp = await client.post("/api/v1/content/sources/test", json=body, headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"ok": True, "message": "2 entries"}


async def test_an_unknown_connector_kind_is_422(client: TestClient) -> None:
    body = {"name": "Pigeons", "kind": "carrier-pigeon", "config": {}}
    resp = await client.post("/api/v1/content/sources", json=body, headers=AUTH)
    assert resp.status == 422
    detail = (await resp.json())["detail"][0]
    assert detail["loc"] == ["body", "kind"]
    assert "carrier-pigeon" in detail["msg"]


async def test_a_bad_config_is_refused_by_its_connector(
    client: TestClient, connector: ScriptedConnector
) -> None:
    body = {"name": "Far away", "kind": "web", "config": {"feed": "http://192.0.2.1/feed"}}
    resp = await client.post("/api/v1/content/sources", json=body, headers=AUTH)
    assert resp.status == 400
    assert "127.0.0.1" in (await resp.json())["detail"]


async def test_a_bad_cron_is_422_naming_it(client: TestClient, connector: ScriptedConnector) -> None:
    body = {
        "name": "Cron",
        "kind": "web",
        "config": {"feed": "http://127.0.0.1/feed"},
        "schedule": {"cron": "61 * * *"},
    }
    resp = await client.post("/api/v1/content/sources", json=body, headers=AUTH)
    assert resp.status == 422
    detail = (await resp.json())["detail"][0]
    assert detail["loc"] == ["body", "schedule", "cron"]
    assert "61 * * *" in detail["msg"]


async def test_a_cron_source_is_scheduled_at_its_next_time(
    client: TestClient, backend: Backend, connector: ScriptedConnector
) -> None:
    source = await add_source(client, schedule={"cron": "0 3 * * *"})
    next_run = source["next_run_at"]
    assert next_run is not None
    assert next_run.endswith("03:00:00Z")
    resp = await client.request(
        "PATCH", f"/api/v1/content/sources/{source['id']}", json={"schedule": None}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["next_run_at"] is None


async def test_a_run_in_progress_is_not_started_twice(
    client: TestClient, backend: Backend, connector: ScriptedConnector
) -> None:
    gate = asyncio.Event()
    original = connector.fetch_new

    async def slow_fetch(config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        await gate.wait()
        return await original(config, state)

    connector.fetch_new = slow_fetch  # type: ignore[method-assign]
    source = await add_source(client)
    url = f"/api/v1/content/sources/{source['id']}/run"
    with backend.bus.subscribe(IngestFinished) as events:
        together = await asyncio.gather(client.post(url, headers=AUTH), client.post(url, headers=AUTH))
        again = await client.post(url, headers=AUTH)  # while the first still waits on the source
        gate.set()
        await finished(events, source["id"])
    assert sorted(resp.status for resp in together) == [202, 409]
    assert again.status == 409
    assert connector.fetches == 1


async def test_an_interval_source_runs_on_schedule(
    client: TestClient, backend: Backend, connector: ScriptedConnector
) -> None:
    with backend.bus.subscribe(IngestFinished) as events:
        source = await add_source(client, schedule={"interval_seconds": 1})
        result = await finished(events, source["id"])
    assert (result.trigger, result.new_count) == ("schedule", 2)


async def test_the_schedule_survives_a_restart(settings: Settings) -> None:
    connector = ScriptedConnector(entries={"http://127.0.0.1/a": page("Alpha", "Racks.")})
    first = Backend(settings)
    await first.start()
    try:
        first.connectors.register("web", lambda: connector)
        with first.bus.subscribe(IngestFinished) as events:
            source = await first.ingest.create_source(
                name="Lab feed",
                kind="web",
                config={"feed": "http://127.0.0.1/feed"},
                schedule=Schedule(interval_seconds=2),
            )
            await finished(events, source.id)
    finally:
        await first.stop()

    second = Backend(settings)
    await second.start()
    try:
        second.connectors.register("web", lambda: connector)
        assert second.ingest.next_run_at(source.id) is not None
        with second.bus.subscribe(IngestFinished) as events:
            result = await finished(events, source.id)
        assert (result.trigger, result.status, result.unchanged_count) == ("schedule", "succeeded", 1)
        assert len(await second.ingest.runs(source.id)) == 2
    finally:
        await second.stop()

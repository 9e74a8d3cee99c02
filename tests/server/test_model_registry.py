"""The model registry (/api/v1/models/*): the union of two fake Ollama hosts, refresh with a host
down, selection by capability, priority and requirements, and performance from real calls that
survives a restart."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from server.api.app import create_app
from server.backend import Backend
from server.bus import EventBus
from server.events import ModelCallFinished
from server.services.llm import OllamaGateway
from server.services.model_performance import PerformanceStore
from server.services.model_registry import ModelRegistry, SingleHostDirectory, parameters_billions
from tests.conftest import bearer
from tests.fakes.ollama import FakeModel, FakeOllama

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from aiohttp.test_utils import TestClient

    from server.config import Settings

SECOND_MODELS = [
    FakeModel("llama3.2:latest", capabilities=("completion", "tools"), context_length=8192),
    FakeModel(
        "llava:7b",
        family="llama",
        parameter_size="7B",
        size=4_700_000_000,
        capabilities=("completion", "vision"),
        context_length=4096,
    ),
    FakeModel("library/x:latest", family="phi3", parameter_size="3.8B", size=2_200_000_000),
]


@pytest.fixture
async def second_ollama() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama(models=[FakeModel(**vars(m)) for m in SECOND_MODELS])
    await fake.start(host="127.0.0.2")
    yield fake
    await fake.stop()


@pytest.fixture
async def two_hosts(client: TestClient, backend: Backend, second_ollama: FakeOllama) -> TestClient:
    """The app with a second Ollama host registered with the router."""
    # FakeOllama.url names 127.0.0.1 whatever address it listens on.
    await backend.router.add_host("second", f"http://127.0.0.2:{second_ollama.port}")
    return client


def show_calls(*fakes: FakeOllama) -> int:
    return sum(1 for fake in fakes for _, path, _ in fake.requests if path == "/api/show")


async def get_json(client: TestClient, path: str, status: int = 200, **kwargs: Any) -> Any:
    resp = await client.get(path, **kwargs)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def post_json(client: TestClient, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    resp = await client.post(path, json=body, **kwargs)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def eventually(check: Callable[[], Any], deadline: float = 5.0) -> Any:
    """Poll ``check`` (async) until it returns something truthy; fail after ``deadline`` seconds."""
    end = asyncio.get_running_loop().time() + deadline
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"condition not met after {deadline}s")
        await asyncio.sleep(0.02)


def call(model: str, *, purpose: str = "chat", ok: bool = True, duration: float = 1.0, **fields: Any) -> Any:
    """A finished call as the router publishes it."""
    return ModelCallFinished(
        model=model,
        host_id=fields.pop("host_id", "default"),
        kind=fields.pop("kind", "chat"),
        purpose=purpose,
        ok=ok,
        error=None if ok else "Ollama broke off the connection",
        duration_s=duration,
        **fields,
    )


# -- listing --


async def test_available_is_the_union_of_the_hosts_with_capabilities(
    two_hosts: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama, second_ollama: FakeOllama
) -> None:
    second_ollama.loaded["llava:7b"] = "2099-01-01T00:00:00Z"
    body = await get_json(two_hosts, "/api/v1/models/available", headers=auth_headers)

    # The client reads `data.models` as a list (spec: "setAvailableModels(data.models)").
    assert isinstance(body["models"], list)
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == {
        "llama3.2:latest",
        "qwen2.5:7b",
        "nomic-embed-text:latest",
        "llava:7b",
        "library/x:latest",
    }
    assert body["total"] == 5
    assert {h["id"] for h in models["llama3.2:latest"]["hosts"]} == {"default", "second"}
    assert [h["id"] for h in models["llava:7b"]["hosts"]] == ["second"]
    assert models["llava:7b"]["hosts"][0]["loaded"] is True
    assert models["llava:7b"]["loaded"] is True
    assert models["qwen2.5:7b"]["loaded"] is False

    assert sorted(models["llava:7b"]["capabilities"]) == ["text", "vision"]
    assert sorted(models["llama3.2:latest"]["capabilities"]) == ["text", "tools"]
    assert models["nomic-embed-text:latest"]["capabilities"] == ["embedding"]
    assert models["llama3.2:latest"]["context_length"] == 8192
    assert models["nomic-embed-text:latest"]["quantization_level"] == "F16"
    assert models["qwen2.5:7b"]["parameter_size"] == "7.6B"
    assert models["qwen2.5:7b"]["size"] == 4_683_087_332
    assert models["qwen2.5:7b"]["family"] == "qwen2"

    # Never called: zero counts, no figures.
    perf = models["qwen2.5:7b"]["performance"]
    assert perf["total_requests"] == 0
    assert perf["success_rate"] is None
    assert perf["average_response_time_ms"] is None

    assert {h["id"]: h["ok"] for h in body["hosts"]} == {"default": True, "second": True}


async def test_show_is_asked_once_per_model_and_digest(
    two_hosts: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama, second_ollama: FakeOllama
) -> None:
    first = await post_json(two_hosts, "/api/v1/models/refresh", headers=auth_headers)
    assert first["status"] == "refreshed"
    assert first["show_calls"] == 6  # 3 models on each host
    shown = show_calls(fake_ollama, second_ollama)

    await get_json(two_hosts, "/api/v1/models/available", headers=auth_headers)
    again = await post_json(two_hosts, "/api/v1/models/refresh", headers=auth_headers)
    assert again["show_calls"] == 0
    assert again["added"] == again["removed"] == again["changed"] == []
    assert show_calls(fake_ollama, second_ollama) == shown

    # A new model on one host: only that one is shown.
    second_ollama.models.append(FakeModel("mistral:7b", parameter_size="7.2B"))
    third = await post_json(two_hosts, "/api/v1/models/refresh", headers=auth_headers)
    assert third["added"] == ["mistral:7b"]
    assert third["show_calls"] == 1


async def test_refresh_with_a_host_down_reports_it_and_lists_none_of_its_models(
    two_hosts: TestClient, auth_headers: dict[str, str], second_ollama: FakeOllama
) -> None:
    await post_json(two_hosts, "/api/v1/models/refresh", headers=auth_headers)
    await second_ollama.stop()

    report = await post_json(two_hosts, "/api/v1/models/refresh", headers=auth_headers)
    assert report["status"] == "partial"
    assert [h["id"] for h in report["failed_hosts"]] == ["second"]
    failed = report["failed_hosts"][0]
    assert failed["state"] == "down"
    assert failed["ok"] is False
    assert "127.0.0.2" in failed["reason"]
    assert sorted(report["removed"]) == ["library/x:latest", "llava:7b"]

    body = await get_json(two_hosts, "/api/v1/models/available", headers=auth_headers)
    names = {m["name"] for m in body["models"]}
    assert "llava:7b" not in names
    assert "library/x:latest" not in names
    llama = next(m for m in body["models"] if m["name"] == "llama3.2:latest")
    assert [h["id"] for h in llama["hosts"]] == ["default"]
    assert {h["id"]: h["ok"] for h in body["hosts"]} == {"default": True, "second": False}

    # Vision was only on the host that is down: nothing invented, a 422 naming it.
    resp = await two_hosts.post(
        "/api/v1/models/select", json={"task_type": "caption", "content_type": "image"}, headers=auth_headers
    )
    assert resp.status == 422
    assert "vision" in str(await resp.json())


async def test_refresh_with_every_host_down_says_so(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    report = await post_json(client, "/api/v1/models/refresh", headers=auth_headers)
    assert report["status"] == "failed"
    assert report["total"] == 0
    resp = await client.post("/api/v1/models/select", json={}, headers=auth_headers)
    assert resp.status == 503
    assert "reachable" in (await resp.json())["detail"]


async def test_the_models_routes_need_credentials(client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/v1/models/available"),
        ("POST", "/api/v1/models/refresh"),
        ("POST", "/api/v1/models/select"),
        ("GET", "/api/v1/models/performance"),
        ("GET", "/api/v1/models/llama3.2:latest/stats"),
    ):
        resp = await client.request(method, path)
        assert resp.status == 401, path


# -- selection --


async def test_select_needing_vision_picks_only_vision_models(
    two_hosts: TestClient, auth_headers: dict[str, str]
) -> None:
    body = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"task_type": "image_captioning", "content_type": "image", "priority": "quality"},
        headers=auth_headers,
    )
    assert body["selected_model"] == "llava:7b"
    assert body["fallback_models"] == []
    assert "vision" in body["required_capabilities"]
    assert "vision" in body["model_info"]["capabilities"]
    assert body["selection_reason"]
    assert [s["model"] for s in body["scores"]] == ["llava:7b"]

    flagged = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"requirements": {"vision_capable": True}},
        headers=auth_headers,
    )
    assert flagged["selected_model"] == "llava:7b"


async def test_speed_and_quality_pick_differently(
    two_hosts: TestClient, auth_headers: dict[str, str]
) -> None:
    speed = await post_json(two_hosts, "/api/v1/models/select", {"priority": "speed"}, headers=auth_headers)
    quality = await post_json(
        two_hosts, "/api/v1/models/select", {"priority": "quality"}, headers=auth_headers
    )
    assert speed["selected_model"] == "llama3.2:latest"  # the smallest text model
    assert quality["selected_model"] in {"qwen2.5:7b", "llava:7b"}  # the largest ones
    assert speed["selected_model"] != quality["selected_model"]
    # Embedding-only models are never chosen for a text task; fallbacks are ordered by score.
    assert "nomic-embed-text:latest" not in [speed["selected_model"], *speed["fallback_models"]]
    scores = [s["score"] for s in speed["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert all(s["basis"] == "prior" for s in speed["scores"])
    assert [s["model"] for s in speed["scores"]] == [speed["selected_model"], *speed["fallback_models"]]
    assert speed["candidates"] == 4  # the text models: llama3.2, qwen2.5, llava, library/x
    assert speed["selection_time_ms"] < 50

    embedding = await post_json(
        two_hosts, "/api/v1/models/select", {"task_type": "embedding"}, headers=auth_headers
    )
    assert embedding["selected_model"] == "nomic-embed-text:latest"


async def test_preferences_and_requirements_narrow_the_choice(
    two_hosts: TestClient, auth_headers: dict[str, str]
) -> None:
    tools = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"priority": "quality", "requirements": {"capabilities": ["tools"], "min_context_length": 8000}},
        headers=auth_headers,
    )
    assert tools["selected_model"] == "llama3.2:latest"

    small = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"priority": "quality", "requirements": {"max_size_gb": 3}},
        headers=auth_headers,
    )
    assert small["selected_model"] in {"llama3.2:latest", "library/x:latest"}
    assert all(name in {"llama3.2:latest", "library/x:latest"} for name in small["fallback_models"])

    preferred = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"priority": "speed", "preferred_models": ["qwen2.5:7b"]},
        headers=auth_headers,
    )
    assert preferred["selected_model"] == "qwen2.5:7b"
    assert "preferred" in preferred["selection_reason"]


@pytest.mark.parametrize(
    ("requirements", "field", "words"),
    [
        ({"min_context_length": 1_000_000}, "min_context_length", "context length of at least 1000000"),
        ({"capabilities": ["thinking"]}, "capabilities", "thinking"),
        ({"capabilities": ["vision", "tools"]}, "capabilities", "together with"),
        ({"max_size_bytes": 1000}, "max_size_bytes", "at most 1000 bytes"),
        ({"min_performance_score": 0.5}, "min_performance_score", "performance score"),
    ],
)
async def test_requirements_nothing_meets_are_a_422_naming_them(
    two_hosts: TestClient, auth_headers: dict[str, str], requirements: dict[str, Any], field: str, words: str
) -> None:
    resp = await two_hosts.post(
        "/api/v1/models/select", json={"requirements": requirements}, headers=auth_headers
    )
    assert resp.status == 422
    (issue,) = (await resp.json())["detail"]
    assert issue["loc"] == ["body", "requirements", field]
    assert words in issue["msg"]


async def test_malformed_selections_are_422(client: TestClient, auth_headers: dict[str, str]) -> None:
    for body in (
        {"priority": "fastest"},
        {"requirements": {"min_context": 10}},  # a typo is refused, not ignored
        {"requirements": {"min_context_length": -1}},
        {"task_type": ""},
    ):
        resp = await client.post("/api/v1/models/select", json=body, headers=auth_headers)
        assert resp.status == 422, body


async def test_recorded_performance_steers_the_selection(
    two_hosts: TestClient, backend: Backend, auth_headers: dict[str, str]
) -> None:
    before = await post_json(two_hosts, "/api/v1/models/select", {"priority": "speed"}, headers=auth_headers)
    assert before["selected_model"] == "llama3.2:latest"
    # llama3.2 keeps failing for summaries; qwen2.5 answers fast.
    for _ in range(10):
        backend.bus.publish(call("llama3.2:latest", purpose="summarize", ok=False))
        backend.bus.publish(call("qwen2.5:7b", purpose="summarize", duration=0.2, tokens_per_second=90.0))
    await eventually(lambda: _recorded(backend, 20))
    after = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"priority": "speed", "task_type": "summarize"},
        headers=auth_headers,
    )
    assert after["selected_model"] == "qwen2.5:7b"
    qwen = next(s for s in after["scores"] if s["model"] == "qwen2.5:7b")
    assert qwen["basis"] == "task_type"
    assert "10 recorded 'summarize' calls" in after["selection_reason"]
    assert after["model_info"]["performance_score"] is not None

    # Another task type has no records: the overall figures count instead.
    other = await post_json(
        two_hosts,
        "/api/v1/models/select",
        {"priority": "speed", "task_type": "translate"},
        headers=auth_headers,
    )
    assert next(s for s in other["scores"] if s["model"] == "qwen2.5:7b")["basis"] == "overall"


async def _recorded(backend: Backend, count: int) -> bool:
    return backend.model_performance.recorded >= count


# -- performance --


async def test_performance_is_recorded_from_real_chat_calls(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/chat/sessions",
        json={"session_type": "general", "model_name": "llama3.2:latest", "title": "perf"},
        headers=auth_headers,
    )
    assert resp.status == 200, await resp.text()
    session_id = (await resp.json())["id"]
    for text in ("hello there", "tell me more"):
        resp = await client.post(
            f"/api/v1/chat/sessions/{session_id}/messages", json={"message": text}, headers=auth_headers
        )
        assert resp.status == 200, await resp.text()

    async def recorded() -> Any:
        stats = await get_json(client, "/api/v1/models/llama3.2:latest/stats", headers=auth_headers)
        return stats if stats["overall"]["total_requests"] >= 2 else None

    stats = await eventually(recorded)
    overall = stats["overall"]
    assert stats["installed"] is True
    assert overall["successful_requests"] == 2
    assert overall["failed_requests"] == 0
    assert overall["success_rate"] == 1.0
    assert overall["average_response_time_ms"] > 0
    assert overall["average_first_token_ms"] is not None
    assert overall["average_tokens_per_second"] > 0
    assert overall["completion_tokens"] > 0
    assert [t["task_type"] for t in stats["by_task_type"]] == ["chat"]

    listing = await get_json(client, "/api/v1/models/performance", headers=auth_headers)
    assert isinstance(listing["metrics"], list)
    (row,) = listing["metrics"]
    assert row["model_name"] == "llama3.2:latest"
    assert row["task_type"] == "chat"
    assert row["total_requests"] == 2
    assert 0 < row["performance_score"] <= 1


async def test_performance_aggregates_failures_and_percentiles(
    client: TestClient, backend: Backend, auth_headers: dict[str, str]
) -> None:
    for seconds in (0.1, 0.2, 0.3, 0.4, 1.0):
        backend.bus.publish(call("qwen2.5:7b", purpose="task", duration=seconds, first_token_s=0.05))
    backend.bus.publish(call("qwen2.5:7b", purpose="task", ok=False, duration=30.0))
    backend.bus.publish(call("qwen2.5:7b", purpose="wizard", duration=0.5))
    await eventually(lambda: _recorded(backend, 7))

    body = await get_json(
        client, "/api/v1/models/performance", params={"task_type": "task"}, headers=auth_headers
    )
    (task,) = body["metrics"]
    assert task["total_requests"] == 6
    assert task["failed_requests"] == 1
    assert task["success_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert task["average_response_time_ms"] == pytest.approx(400.0)  # failures do not count
    assert task["p50_response_time_ms"] == pytest.approx(300.0)
    assert 400.0 < task["p95_response_time_ms"] <= 1000.0
    assert task["average_first_token_ms"] == pytest.approx(50.0)
    assert task["average_tokens_per_second"] is None  # none was reported
    assert task["last_error"] == "Ollama broke off the connection"

    limited = await get_json(
        client, "/api/v1/models/performance", params={"limit": "1"}, headers=auth_headers
    )
    assert len(limited["metrics"]) == 1
    assert limited["total"] == 2

    stats = await get_json(client, "/api/v1/models/qwen2.5:7b/stats", headers=auth_headers)
    assert stats["overall"]["total_requests"] == 7
    assert {t["task_type"] for t in stats["by_task_type"]} == {"task", "wizard"}


@pytest.mark.parametrize("name", ["llama3.2:3b", "library/x:latest", "hf.co/org/model:Q4_K_M"])
async def test_stats_of_names_with_colons_and_slashes(
    client: TestClient, backend: Backend, auth_headers: dict[str, str], name: str
) -> None:
    await get_json(client, f"/api/v1/models/{name}/stats", status=404, headers=auth_headers)
    backend.bus.publish(call(name, duration=0.25))
    await eventually(lambda: _recorded(backend, 1))
    stats = await get_json(client, f"/api/v1/models/{name}/stats", headers=auth_headers)
    assert stats["model_name"] == name
    assert stats["installed"] is False
    assert stats["overall"]["total_requests"] == 1
    assert stats["overall"]["average_response_time_ms"] == pytest.approx(250.0)


async def test_an_installed_model_never_called_has_zero_counts(
    two_hosts: TestClient, auth_headers: dict[str, str]
) -> None:
    stats = await get_json(two_hosts, "/api/v1/models/library/x:latest/stats", headers=auth_headers)
    assert stats["installed"] is True
    assert [h["id"] for h in stats["hosts"]] == ["second"]
    overall = stats["overall"]
    assert overall["total_requests"] == overall["successful_requests"] == overall["failed_requests"] == 0
    assert overall["success_rate"] is None
    assert overall["p95_response_time_ms"] is None
    assert overall["performance_score"] is None
    assert stats["by_task_type"] == []


async def test_stats_survive_a_backend_restart(settings: Settings, aiohttp_client: Any) -> None:
    first = Backend(settings)
    await first.start()
    try:
        for seconds in (0.5, 1.5):
            first.bus.publish(
                call("llama3.2:latest", purpose="task", duration=seconds, tokens_per_second=40.0)
            )
        first.bus.publish(call("library/x:latest", purpose="openai", ok=False))
        await eventually(lambda: _recorded(first, 3))
    finally:
        await first.stop()  # writes what is pending

    second = Backend(settings)
    await second.start()
    try:
        client = await aiohttp_client(create_app(second))
        stats = await get_json(
            client, "/api/v1/models/llama3.2:latest/stats", headers=bearer(settings_key(settings))
        )
        assert stats["overall"]["total_requests"] == 2
        assert stats["overall"]["average_response_time_ms"] == pytest.approx(1000.0)
        assert stats["overall"]["p50_response_time_ms"] == pytest.approx(1000.0)
        assert stats["overall"]["average_tokens_per_second"] == pytest.approx(40.0)
        other = await get_json(
            client, "/api/v1/models/library/x:latest/stats", headers=bearer(settings_key(settings))
        )
        assert other["overall"]["failed_requests"] == 1
        # And recording goes on from the loaded totals.
        second.bus.publish(call("llama3.2:latest", purpose="task", duration=1.0))
        await eventually(lambda: _recorded(second, 1))
        assert second.model_performance.stats("llama3.2:latest").requests == 3
    finally:
        await second.stop()


def settings_key(settings: Settings) -> str:
    assert settings.api_key is not None
    return settings.api_key.get_secret_value()


async def test_performance_is_written_in_batches_not_per_call(settings: Settings) -> None:
    """Calls are folded in memory; the database sees one write per flush, whatever the number of calls."""
    backend = Backend(settings)
    await backend.start()
    try:
        store = PerformanceStore(backend.sessions, EventBus(), flush_interval=3600)
        for _ in range(50):
            store.record(call("qwen2.5:7b", duration=0.1))
        fresh = PerformanceStore(backend.sessions, EventBus())
        await fresh.load()
        assert fresh.stats("qwen2.5:7b").requests == 0  # nothing written yet
        await store.flush()
        await fresh.load()
        assert fresh.stats("qwen2.5:7b").requests == 50
    finally:
        await backend.stop()


# -- the one-host directory --


async def test_single_host_directory_over_one_gateway(fake_ollama: FakeOllama, settings: Settings) -> None:
    fake_ollama.loaded["qwen2.5:7b"] = "2099-01-01T00:00:00Z"
    bus = EventBus()
    gateway = OllamaGateway(fake_ollama.url, bus, timeout=2.0)
    backend = Backend(settings)
    await backend.start()
    try:
        directory = SingleHostDirectory(gateway, host_id="box")
        assert directory.views()[0].reason == "not checked yet"
        view = await directory.probe()
        assert view.state == "healthy"
        assert view.id == "box"
        assert set(view.models) == {"llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest"}
        assert view.loaded == ("qwen2.5:7b",)
        with pytest.raises(KeyError):
            directory.gateway("elsewhere")

        registry = ModelRegistry(directory, PerformanceStore(backend.sessions, bus))
        models, _, _ = await registry.available()
        assert {m.name for m in models} == set(view.models)
        assert next(m for m in models if m.name == "qwen2.5:7b").loaded

        await fake_ollama.stop()
        report = await registry.refresh()
        assert [h.id for h in report.failed_hosts] == ["box"]
        assert directory.views()[0].state == "down"
        assert (await registry.available())[0] == []
    finally:
        await gateway.close()
        await backend.stop()


@pytest.mark.parametrize(
    ("parameter_size", "size", "billions"),
    [("3.2B", 0, 3.2), ("137M", 0, 0.137), ("1.5T", 0, 1500.0), (None, 600_000_000, 1.0), ("", 0, 0.0)],
)
def test_parameter_counts_are_read_from_ollamas_words(
    parameter_size: str | None, size: int, billions: float
) -> None:
    assert parameters_billions(parameter_size, size) == pytest.approx(billions)

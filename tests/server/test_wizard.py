"""The agent creation wizard: questions, a draft through Ollama's structured output, recovery from
invalid drafts (limits, blocked tools, malformed JSON), and finalizing into a registered agent."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest

from server.services.wizard_schema import AgentBlueprint, check_limits, json_depth
from tests.server.test_chat_api import chat_requests, say, sse_events

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama

INSTALLED = ["llama3.2:latest", "qwen2.5:7b"]
READY = "- reads Gmail\n- scores importance\n- stores a summary\n[[DRAFT]]"


def email_agent(**changes: Any) -> dict[str, Any]:
    """A valid draft as the model would write it."""
    draft: dict[str, Any] = {
        "name": "Email Triage",
        "description": "Sorts Gmail by importance and summarises each mail.",
        "agent_type": "email_processor",
        "model_name": "llama3.2:latest",
        "system_prompt": "You triage email.",
        "config": {"temperature": 0.3, "max_tokens": 800},
        "data_models": [
            {
                "name": "processed_emails",
                "description": "One row per email",
                "fields": [
                    {"name": "email_id", "type": "string", "required": True},
                    {"name": "importance_score", "type": "number"},
                    {"name": "category", "type": "string"},
                    {"name": "summary", "type": "text"},
                ],
            }
        ],
        "processing_pipeline": [
            {"name": "fetch", "tool": "gmail", "description": "Fetch unread mail"},
            {"name": "classify", "tool": "llm", "description": "Score and categorise"},
        ],
        "tools": [
            {"name": "gmail", "type": "email_api", "description": "Gmail API", "config": {"folder": "INBOX"}},
            {"name": "llm", "type": "llm", "description": "The agent's model"},
        ],
        "required_secrets": [{"key": "gmail_api_key", "description": "Gmail API key"}],
    }
    draft.update(changes)
    return draft


async def wizard_session(client: TestClient, headers: dict[str, str], **config: Any) -> dict[str, Any]:
    body = {"session_type": "agent_creation", "model_name": "llama3.2:latest", "config": config}
    resp = await client.post("/api/v1/chat/sessions", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_the_wizard_asks_then_drafts_then_creates_the_agent(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers, template="email_processor_template")
    assert session["draft"] == {"agent": None, "problems": [], "valid": False, "attempts": 0}
    fake_ollama.replies.append("Which mailbox, and how do you judge importance?")
    first = await say(client, auth_headers, session["id"], "An agent that sorts my email.")
    assert first["response"] == "Which mailbox, and how do you judge importance?"
    assert first["draft"]["agent"] is None
    assert len(chat_requests(fake_ollama)) == 1
    system = chat_requests(fake_ollama)[0]["messages"][0]
    assert system["role"] == "system"
    assert "agent creation wizard" in system["content"]
    assert "email processing agent" in system["content"]  # the template's guidance

    fake_ollama.replies.extend([f"Here is the plan:\n{READY}", json.dumps(email_agent())])
    second = await say(client, auth_headers, session["id"], "Gmail; urgent mail from my boss matters.")
    assert "[[DRAFT]]" not in second["response"]
    assert "**Draft ready:** Email Triage" in second["response"]
    assert "gmail_api_key" in second["response"]
    assert second["draft"]["valid"] is True
    assert second["draft"]["agent"]["agent_type"] == "email_processor"
    draft_request = chat_requests(fake_ollama)[-1]
    assert draft_request["format"]["type"] == "object"
    assert draft_request["format"]["properties"]["model_name"]["enum"] == INSTALLED
    assert "Gmail; urgent mail" in json.dumps(draft_request["messages"])
    fetched = await (await client.get(f"/api/v1/chat/sessions/{session['id']}")).json()
    assert fetched["draft"] == second["draft"]

    resp = await client.post(f"/api/v1/chat/sessions/{session['id']}/finalize", headers=auth_headers)
    assert resp.status == 200, await resp.text()
    done = await resp.json()
    agent = done["agent"]
    assert (agent["name"], agent["agent_type"], agent["model_name"]) == (
        "Email Triage",
        "email_processor",
        "llama3.2:latest",
    )
    assert agent["config"]["system_prompt"] == "You triage email."
    assert agent["config"]["temperature"] == 0.3
    assert agent["config"]["data_models"][0]["name"] == "processed_emails"
    assert agent["config"]["tools"][0]["type"] == "email_api"
    assert agent["config"]["required_secrets"] == [{"key": "gmail_api_key", "description": "Gmail API key"}]
    assert done["required_secrets"] == ["gmail_api_key"]
    assert (done["session"]["agent_id"], done["session"]["status"]) == (agent["id"], "completed")
    registered = await (await client.get(f"/api/v1/agents/{agent['id']}")).json()
    assert registered["agent_type"] == "email_processor"
    secrets = await (await client.get(f"/api/v1/agents/{agent['id']}/secrets")).json()
    assert secrets["total_count"] == 0  # named, never invented

    again = await client.post(f"/api/v1/chat/sessions/{session['id']}/finalize", headers=auth_headers)
    assert again.status == 409


BAD_DRAFTS = [
    pytest.param(
        json.dumps(
            email_agent(
                data_models=[
                    {"name": f"table_{n}", "fields": [{"name": "id", "type": "string"}]} for n in range(6)
                ]
            )
        ),
        "6 data models; at most 5",
        id="too-many-data-models",
    ),
    pytest.param(
        json.dumps(
            email_agent(
                tools=[
                    {"name": "gmail", "type": "email_api"},
                    {"name": "llm", "type": "llm"},
                    {"name": "shell", "type": "system_command"},
                ]
            )
        ),
        "blocked type 'system_command'",
        id="blocked-tool",
    ),
    pytest.param('{"name": "Email Triage", "agent_type": ', "not valid JSON", id="malformed-json"),
]


@pytest.mark.parametrize(("bad", "complaint"), BAD_DRAFTS)
async def test_an_invalid_draft_goes_back_to_the_model_until_it_is_fixed(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama, bad: str, complaint: str
) -> None:
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend([READY, bad, json.dumps(email_agent())])
    body = await say(client, auth_headers, session["id"], "Sort my Gmail.")
    assert body["draft"]["valid"] is True
    assert body["draft"]["attempts"] == 2
    retry = chat_requests(fake_ollama)[-1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": bad}
    assert retry[-1]["role"] == "user"
    assert complaint in retry[-1]["content"]
    assert body["message"]["metadata"]["wizard"] == {"drafted": True, "valid": True, "attempts": 2}


async def test_a_draft_that_stays_invalid_is_explained_to_the_operator(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers)
    too_many_tools = json.dumps(
        email_agent(tools=[{"name": f"tool_{n}", "type": "http"} for n in range(9)], processing_pipeline=[])
    )
    fake_ollama.replies.extend([READY, too_many_tools, too_many_tools, too_many_tools])
    body = await say(client, auth_headers, session["id"], "Sort my Gmail.")
    assert len(chat_requests(fake_ollama)) == 4  # the reply, then three drafting attempts
    draft = body["draft"]
    assert (draft["valid"], draft["attempts"]) == (False, 3)
    assert draft["problems"] == ["The draft has 9 tools; at most 8."]
    assert len(draft["agent"]["tools"]) == 9  # kept, so the operator sees what was tried
    assert "I could not produce a valid agent" in body["response"]
    assert "The draft has 9 tools; at most 8." in body["response"]

    resp = await client.post(f"/api/v1/chat/sessions/{session['id']}/finalize", headers=auth_headers)
    assert resp.status == 400
    assert "at most 8" in (await resp.json())["detail"]
    assert await (await client.get("/api/v1/agents")).json() == []


async def test_the_operator_can_ask_for_a_draft_at_once(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend(["Drafting now.", json.dumps(email_agent())])
    body = await say(client, auth_headers, session["id"], "Just draft it.", metadata={"wizard": "draft"})
    assert body["draft"]["valid"] is True


async def test_a_later_turn_revises_the_current_draft(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend([READY, json.dumps(email_agent())])
    await say(client, auth_headers, session["id"], "Sort my Gmail.")
    fake_ollama.replies.extend([f"Renamed.\n{READY}", json.dumps(email_agent(name="Mail Sorter"))])
    body = await say(client, auth_headers, session["id"], "Call it Mail Sorter.")
    assert body["draft"]["agent"]["name"] == "Mail Sorter"
    request = chat_requests(fake_ollama)[-1]["messages"][-1]["content"]
    assert "The current draft is" in request
    assert "Email Triage" in request


async def test_streaming_a_wizard_turn_reports_the_drafting(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend([READY, "not json", json.dumps(email_agent())])
    resp = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": "Sort my Gmail.", "stream": True},
        headers=auth_headers,
    )
    events = await sse_events(resp)
    stages = [data["stage"] for kind, data in events if kind == "wizard"]
    assert stages == ["drafting", "retrying", "validated"]
    streamed = "".join(data["content"] for kind, data in events if kind == "token")
    assert events[-1][0] == "message"
    assert streamed == events[-1][1]["response"]
    assert "[[" not in streamed


async def test_finalize_needs_an_agent_creation_session_with_a_draft(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    general = await (await client.post("/api/v1/chat/sessions", json={}, headers=auth_headers)).json()
    resp = await client.post(f"/api/v1/chat/sessions/{general['id']}/finalize", headers=auth_headers)
    assert resp.status == 400
    wizard = await wizard_session(client, auth_headers)
    resp = await client.post(f"/api/v1/chat/sessions/{wizard['id']}/finalize", headers=auth_headers)
    assert resp.status == 400
    assert "no draft yet" in (await resp.json())["detail"]


async def test_a_name_that_is_taken_is_a_409_at_finalize(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    from tests.conftest import create_agent

    await create_agent(client, name="Email Triage")
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend([READY, json.dumps(email_agent())])
    await say(client, auth_headers, session["id"], "Sort my Gmail.")
    resp = await client.post(f"/api/v1/chat/sessions/{session['id']}/finalize", headers=auth_headers)
    assert resp.status == 409
    fetched = await (await client.get(f"/api/v1/chat/sessions/{session['id']}")).json()
    assert (fetched["agent_id"], fetched["status"]) == (None, "active")


# -- the limits, one by one --


def problems_of(**changes: Any) -> list[str]:
    return check_limits(AgentBlueprint.model_validate(email_agent(**changes)), INSTALLED)


def with_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": "emails", "fields": fields}]


def nested(depth: int) -> dict[str, Any]:
    field: dict[str, Any] = {"name": "leaf", "type": "string"}
    for level in range(depth - 1):
        field = {"name": f"level_{level}", "type": "object", "fields": [field]}
    return field


LIMIT_CASES = [
    pytest.param({}, [], id="valid"),
    pytest.param(
        {"data_models": with_fields([{"name": f"f{n}", "type": "string"} for n in range(21)])},
        ["Data model 'emails' has 21 fields; at most 20."],
        id="fields-per-model",
    ),
    pytest.param(
        {"processing_pipeline": [{"name": f"s{n}"} for n in range(11)]},
        ["The pipeline has 11 steps; at most 10."],
        id="pipeline-steps",
    ),
    pytest.param(
        {"data_models": with_fields([{"name": "x" * 64, "type": "string"}])},
        ["Field name in data model 'emails' '" + "x" * 40 + "…' is 64 characters long; at most 63."],
        id="field-name-length",
    ),
    pytest.param(
        {"data_models": with_fields([{"name": "2nd-field", "type": "string"}])},
        [
            "Field name in data model 'emails' '2nd-field' is not a valid identifier: use letters, "
            "digits and underscores, not starting with a digit."
        ],
        id="field-name-identifier",
    ),
    pytest.param({"data_models": with_fields([nested(3)])}, [], id="nesting-3-ok"),
    pytest.param(
        {"data_models": with_fields([nested(4)])},
        ["Field 'emails.level_2' nests sub-fields deeper than 3 levels."],
        id="nesting-4",
    ),
    pytest.param(
        {"config": {"a": {"b": {"c": {"d": 1}}}}},
        ["The agent's config is nested deeper than 3 levels."],
        id="config-depth",
    ),
    pytest.param(
        {"tools": [{"name": "fs", "type": "file_system"}, {"name": "scan", "type": "Network_Scanner"}]},
        [
            "Tool 'fs' is of the blocked type 'file_system' (file_system, network_scanner, "
            "system_command are not allowed).",
            "Tool 'scan' is of the blocked type 'Network_Scanner' (file_system, network_scanner, "
            "system_command are not allowed).",
            "Pipeline step 'fetch' uses the tool 'gmail', which is not among the tools.",
            "Pipeline step 'classify' uses the tool 'llm', which is not among the tools.",
        ],
        id="blocked-tools",
    ),
    pytest.param(
        {"model_name": "gpt-9"},
        ["The model 'gpt-9' is not installed; use one of: llama3.2:latest, qwen2.5:7b."],
        id="model",
    ),
    pytest.param(
        {"required_secrets": [{"key": "has space"}]},
        ["The secret key 'has space' is not a valid name (e.g. imap_password)."],
        id="secret-key",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), LIMIT_CASES)
def test_each_limit_is_checked_in_plain_words(changes: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(**copy.deepcopy(changes)) == expected


def test_json_depth_counts_containers() -> None:
    assert [json_depth(1), json_depth({"a": 1}), json_depth({"a": [1]}), json_depth([])] == [0, 1, 2, 1]


async def test_deleting_the_created_agent_clears_it_from_the_session(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await wizard_session(client, auth_headers)
    fake_ollama.replies.extend([READY, json.dumps(email_agent())])
    await say(client, auth_headers, session["id"], "Sort my Gmail.")
    done = await (
        await client.post(f"/api/v1/chat/sessions/{session['id']}/finalize", headers=auth_headers)
    ).json()
    resp = await client.delete(f"/api/v1/agents/{done['agent']['id']}", headers=auth_headers)
    assert resp.status == 200
    fetched = await (await client.get(f"/api/v1/chat/sessions/{session['id']}")).json()
    assert fetched["agent_id"] is None

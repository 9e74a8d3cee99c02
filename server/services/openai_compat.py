"""The OpenAI-compatible face of the models: which names exist (installed models and
``agent:<name>``), what a model name stands for (model, system prompt, Ollama options), and
chat completions and embeddings through the gateway. Transport-free: the ``/v1`` routes turn
what this yields into OpenAI's JSON and server-sent events."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from server.services.errors import DependencyDown, NotFound

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from server.services.agents import Agent, AgentService
    from server.services.llm import Chunk, Embeddings, Router

AGENT_PREFIX = "agent:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ModelNotFound(NotFound):
    """A model name that is neither installed nor an active agent (404 naming what exists)."""


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One name a client may ask for."""

    id: str
    created: int
    owned_by: str


@dataclass(frozen=True, slots=True)
class Target:
    """What a requested model name stands for."""

    requested: str
    model: str
    system_prompt: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _epoch(moment: datetime | None) -> int:
    if moment is None:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int((moment - EPOCH).total_seconds())


def _is_installed(name: str, installed: Sequence[str]) -> str | None:
    """The installed name ``name`` refers to (a missing tag means ``:latest``)."""
    if name in installed:
        return name
    if ":" not in name and f"{name}:latest" in installed:
        return f"{name}:latest"
    return None


def with_system(target: Target, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The messages to send: the agent's system prompt first when the request brought none."""
    sent = [dict(message) for message in messages]
    if target.system_prompt and not any(message["role"] == "system" for message in sent):
        sent.insert(0, {"role": "system", "content": target.system_prompt})
    return sent


class OpenAICompatService:
    """Installed models and active agents, addressed by OpenAI-style model names."""

    def __init__(self, llm: Router, agents: AgentService) -> None:
        self._llm = llm
        self._agents = agents

    async def _agents_by_name(self) -> dict[str, Agent]:
        active = await self._agents.list(active_only=True, limit=10_000)
        return {agent.name: agent for agent in active if agent.model_name}

    async def models(self) -> list[ModelEntry]:
        """Every installed model, then every active agent that has a model as ``agent:<name>``."""
        installed = await self._llm.list_models()
        agents = await self._agents_by_name()
        return [
            *(ModelEntry(model.name, _epoch(model.modified_at), "ollama") for model in installed),
            *(
                ModelEntry(f"{AGENT_PREFIX}{name}", _epoch(agent.created_at), "agentic-desktop")
                for name, agent in sorted(agents.items())
            ),
        ]

    async def resolve(self, name: str) -> Target:
        """The model, system prompt and options ``name`` stands for, or ``ModelNotFound``."""
        installed = await self._llm.model_names()
        if name.startswith(AGENT_PREFIX):
            agents = await self._agents_by_name()
            agent = agents.get(name.removeprefix(AGENT_PREFIX))
            if agent is not None and agent.model_name is not None:
                model = _is_installed(agent.model_name, installed) or agent.model_name
                return Target(name, model, agent.system_prompt, agent.ollama_options())
            names = ", ".join(AGENT_PREFIX + known for known in sorted(agents)) or "none"
            raise ModelNotFound(
                f"The model '{name}' does not exist: no active agent has that name. Agents: {names}"
            )
        model = _is_installed(name, installed)
        if model is not None:
            return Target(name, model)
        raise ModelNotFound(
            f"The model '{name}' does not exist. Installed models: {', '.join(installed) or 'none'}; "
            f"agents are addressed as '{AGENT_PREFIX}<name>' (GET /v1/models lists them)"
        )

    async def chat(
        self, target: Target, messages: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any]
    ) -> AsyncIterator[Chunk]:
        """Stream the reply: text chunks, then the final chunk with Ollama's counts and timings.

        ``overrides`` are Ollama options from the request; they win over the agent's. Closing the
        iterator early closes the request to Ollama, which stops the generation.
        """
        options = {**target.options, **{key: value for key, value in overrides.items() if value is not None}}
        chunks = self._llm.chat_stream(
            target.model, with_system(target, messages), options=options, purpose="openai"
        )
        final: Chunk | None = None
        async with contextlib.aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                if chunk.done:
                    final = chunk
                yield chunk
        if final is None:
            raise DependencyDown("Ollama ended the reply without its final message: is it still running?")

    async def embeddings(self, name: str, inputs: Sequence[str]) -> Embeddings:
        """One vector per input from the model ``name`` stands for (an agent: its model)."""
        target = await self.resolve(name)
        return await self._llm.embeddings(target.model, inputs, purpose="openai")

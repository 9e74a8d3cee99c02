"""Create, change and retire agents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db.base import new_id
from server.db.models import AgentRow
from server.events import AgentChanged
from server.services.errors import Conflict, DependencyDown, FieldError, NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.llm import OllamaGateway

# Ollama options an agent's config may set, beside temperature and max_tokens.
PASSTHROUGH_OPTIONS = ("top_p", "top_k", "num_ctx", "seed", "repeat_penalty", "stop", "min_p")


class AgentConfig(BaseModel):
    """A static agent's parameters; other keys are kept as they are."""

    model_config = ConfigDict(extra="allow")

    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1024, ge=1, le=1_000_000, description="Most tokens one reply may have")
    system_prompt: str = Field("", max_length=100_000)


class Agent(BaseModel):
    """An agent as the API and the window show it."""

    id: str
    name: str
    description: str
    model_name: str | None
    agent_type: str | None
    config: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_dynamic(self) -> bool:
        return self.agent_type is not None

    def ollama_options(self) -> dict[str, Any]:
        """The Ollama ``options`` this agent's config asks for."""
        options: dict[str, Any] = {key: self.config[key] for key in PASSTHROUGH_OPTIONS if key in self.config}
        if "temperature" in self.config:
            options["temperature"] = self.config["temperature"]
        if "max_tokens" in self.config:
            options["num_predict"] = self.config["max_tokens"]
        return options

    @property
    def system_prompt(self) -> str | None:
        prompt = self.config.get("system_prompt")
        return str(prompt) if prompt else None


class AgentDraft(BaseModel):
    """What is needed to create an agent (static: model and config; dynamic: agent type and config)."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=10_000)
    model_name: str | None = Field(None, min_length=1, max_length=200)
    agent_type: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    config: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True


class AgentPatch(BaseModel):
    """Changes to an agent; fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=10_000)
    model_name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    is_active: bool | None = None


def _agent(row: AgentRow) -> Agent:
    return Agent.model_validate(row, from_attributes=True)


BeforeDelete = Callable[[str], Awaitable[None]]
BeforeCreate = Callable[["AgentDraft"], Awaitable[None]]
WithinCreate = Callable[["AsyncSession", str], Awaitable[None]]


class AgentService:
    """Agents in the database; models are checked against what Ollama has installed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus, llm: OllamaGateway) -> None:
        self._sessions = sessions
        self._bus = bus
        self._llm = llm
        self._before_delete: list[BeforeDelete] = []
        self._before_create: list[BeforeCreate] = []

    def on_before_create(self, hook: BeforeCreate) -> None:
        """Run ``hook(draft)`` before an agent is created; it may refuse by raising (the security
        policy's schema limits)."""
        self._before_create.append(hook)

    def on_before_delete(self, hook: BeforeDelete) -> None:
        """Run ``hook(agent_id)`` before an agent is deleted (the task runner stops its tasks)."""
        self._before_delete.append(hook)

    async def check_model(self, model_name: str, field: tuple[str | int, ...] = ("model_name",)) -> None:
        """Refuse a model Ollama does not have, naming the ones it has."""
        try:
            installed = await self._llm.model_names()
        except DependencyDown as exc:
            raise DependencyDown(f"Cannot check model '{model_name}': {exc}") from exc
        if model_name in installed or f"{model_name}:latest" in installed:
            return
        available = ", ".join(installed) if installed else "none (pull one first)"
        raise FieldError(field, f"Model '{model_name}' is not installed in Ollama. Available: {available}")

    @staticmethod
    def _normalise_config(draft_config: dict[str, Any], dynamic: bool) -> dict[str, Any]:
        if dynamic:
            return dict(draft_config)
        from pydantic import ValidationError

        try:
            return AgentConfig.model_validate(draft_config).model_dump()
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise FieldError(("config", *first["loc"]), first["msg"]) from None

    async def create(self, draft: AgentDraft, *, within: WithinCreate | None = None) -> Agent:
        """Create an agent; a static one needs an installed model.

        ``within(session, agent_id)`` runs inside the same transaction (the vault stores the agent's
        secrets there): if it raises, no agent is created either."""
        dynamic = draft.agent_type is not None
        if not dynamic and draft.model_name is None:
            raise FieldError(("model_name",), "A static agent needs a model_name (or give an agent_type)")
        if draft.model_name is not None:
            await self.check_model(draft.model_name)
        for hook in self._before_create:
            await hook(draft)
        row = AgentRow(
            id=new_id(),
            name=draft.name.strip(),
            description=draft.description,
            model_name=draft.model_name,
            agent_type=draft.agent_type,
            config=self._normalise_config(draft.config, dynamic),
            is_active=draft.is_active,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
                await session.flush()
                if within is not None:
                    await within(session, row.id)
        except IntegrityError:
            raise Conflict(f"An agent named '{row.name}' already exists: choose another name") from None
        agent = _agent(row)
        self._bus.publish(AgentChanged(agent=agent))
        return agent

    async def get(self, agent_id: str) -> Agent:
        """One agent."""
        async with self._sessions() as session:
            row = await session.get(AgentRow, agent_id)
        if row is None:
            raise NotFound(f"No agent with id {agent_id}")
        return _agent(row)

    async def list(
        self,
        *,
        active_only: bool = False,
        agent_type: str | None = None,
        include_dynamic: bool = True,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Agent]:
        """Agents, newest first."""
        query = select(AgentRow)
        if active_only:
            query = query.where(AgentRow.is_active.is_(True))
        if agent_type is not None:
            query = query.where(AgentRow.agent_type == agent_type)
        elif not include_dynamic:
            query = query.where(AgentRow.agent_type.is_(None))
        if search:
            pattern = search.strip()
            query = query.where(
                AgentRow.name.icontains(pattern, autoescape=True)
                | AgentRow.description.icontains(pattern, autoescape=True)
            )
        query = query.order_by(AgentRow.created_at.desc(), AgentRow.id).limit(limit).offset(offset)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_agent(row) for row in rows]

    async def count(self) -> int:
        """How many agents exist."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(AgentRow)) or 0)

    async def update(self, agent_id: str, patch: AgentPatch) -> Agent:
        """Change the fields given in ``patch``."""
        changes = patch.model_dump(exclude_unset=True)
        if changes.get("model_name") is not None:
            await self.check_model(changes["model_name"])
        try:
            async with self._sessions.begin() as session:
                row = await session.get(AgentRow, agent_id)
                if row is None:
                    raise NotFound(f"No agent with id {agent_id}")
                if "config" in changes and changes["config"] is not None:
                    merged = {**row.config, **changes.pop("config")}
                    row.config = self._normalise_config(merged, row.agent_type is not None)
                for key, value in changes.items():
                    if value is not None:  # null means "leave as it is"
                        setattr(row, key, value.strip() if key == "name" else value)
        except IntegrityError:
            raise Conflict(
                f"An agent named '{changes.get('name')}' already exists: choose another name"
            ) from None
        agent = _agent(row)
        self._bus.publish(AgentChanged(agent=agent))
        return agent

    async def delete(self, agent_id: str) -> Agent:
        """Delete an agent with its tasks and their logs (running tasks are cancelled first)."""
        agent = await self.get(agent_id)
        for hook in self._before_delete:
            await hook(agent_id)
        async with self._sessions.begin() as session:
            row = await session.get(AgentRow, agent_id)
            if row is not None:
                await session.delete(row)
        self._bus.publish(AgentChanged(agent=agent, deleted=True))
        return agent

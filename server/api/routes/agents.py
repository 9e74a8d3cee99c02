"""Agent management."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.auth import actor_of
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.agents import Agent, AgentCreateIn, AgentDeleted, AgentListQuery, AgentUpdateIn

if TYPE_CHECKING:
    from aiohttp import web
    from sqlalchemy.ext.asyncio import AsyncSession

routes = RouteRegistry(tags=("agents",))


@routes.post(
    "/api/v1/agents/create",
    summary="Create an agent (static or dynamic)",
    auth=True,
    body=AgentCreateIn,
    response=Agent,
    errors=(409, 503),
)
async def create_agent(request: web.Request, body: AgentCreateIn) -> Agent:
    """A static agent needs an installed ``model_name``; the answer names the installed models when
    it is not. ``temperature``, ``max_tokens`` and ``system_prompt`` may sit in ``config`` or at the
    top level. ``secrets`` are encrypted and stored in the same transaction: if any is refused, no
    agent is created."""
    backend = request.app[BACKEND]
    drafts = [secret.draft() for secret in body.secrets or []]
    if not drafts:
        return await backend.agents.create(body)
    actor = actor_of(request)

    async def store_secrets(session: AsyncSession, agent_id: str) -> None:
        await backend.secrets.add_in(session, agent_id, drafts, actor)

    agent = await backend.agents.create(body, within=store_secrets)
    backend.secrets.announce(agent.id, drafts, actor)
    return agent


@routes.get("/api/v1/agents", summary="List agents", query=AgentListQuery, response=list[Agent])
async def list_agents(request: web.Request, query: AgentListQuery) -> list[Agent]:
    """Newest first. ``include_dynamic=false`` lists static agents only."""
    return await request.app[BACKEND].agents.list(**query.model_dump())


@routes.get("/api/v1/agents/{agent_id}", summary="Get an agent", response=Agent, errors=(404,))
async def get_agent(request: web.Request) -> Agent:
    return await request.app[BACKEND].agents.get(request.match_info["agent_id"])


@routes.put(
    "/api/v1/agents/{agent_id}",
    summary="Update an agent",
    auth=True,
    body=AgentUpdateIn,
    response=Agent,
    errors=(404, 409, 503),
)
async def update_agent(request: web.Request, body: AgentUpdateIn) -> Agent:
    """Partial: fields left out (or null) keep their value; ``config`` keys are merged."""
    return await request.app[BACKEND].agents.update(request.match_info["agent_id"], body)


@routes.delete(
    "/api/v1/agents/{agent_id}", summary="Delete an agent", auth=True, response=AgentDeleted, errors=(404,)
)
async def delete_agent(request: web.Request) -> AgentDeleted:
    """Cancels the agent's running tasks, then deletes it with its tasks and their logs."""
    agent = await request.app[BACKEND].agents.delete(request.match_info["agent_id"])
    return AgentDeleted(message=f"Agent '{agent.name}' deleted", agent_id=agent.id)

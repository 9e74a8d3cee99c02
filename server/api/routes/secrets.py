"""Agents' secrets: encrypted at rest, values only when asked for, every change and reveal audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from server.api.auth import actor_of
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.services.secrets import AuditEntry, Secret, SecretDetail, SecretDraft, SecretPatch

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("secrets",))
BASE = "/api/v1/agents/{agent_id}/secrets"


class SecretList(BaseModel):
    """An agent's secrets without their values."""

    secrets: list[Secret]
    total_count: int


class SecretListQuery(BaseModel):
    include_inactive: bool = Field(False, description="Also list soft-deleted secrets")


class SecretQuery(BaseModel):
    decrypt: bool = Field(False, description="Add decrypted_value (recorded in the audit trail)")


class SecretValue(BaseModel):
    secret_key: str
    value: str


class SecretDeleted(BaseModel):
    message: str
    secret_id: str


class AuditQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


@routes.post(
    BASE,
    summary="Create a secret for an agent",
    auth=True,
    body=SecretDraft,
    response=Secret,
    status=201,
    errors=(404, 409),
)
async def create_secret(request: web.Request, body: SecretDraft) -> Secret:
    """Encrypts ``secret_value`` with the vault's master key. A key the agent already has is a 409;
    a key deleted before is brought back with the new value."""
    agent_id = request.match_info["agent_id"]
    return await request.app[BACKEND].secrets.create(agent_id, body, actor_of(request))


@routes.get(
    BASE, summary="List an agent's secrets", query=SecretListQuery, response=SecretList, errors=(404,)
)
async def list_secrets(request: web.Request, query: SecretListQuery) -> SecretList:
    """Keys, descriptions and dates, ordered by key; never values."""
    agent_id = request.match_info["agent_id"]
    secrets = await request.app[BACKEND].secrets.list(agent_id, include_inactive=query.include_inactive)
    return SecretList(secrets=secrets, total_count=len(secrets))


@routes.get(
    f"{BASE}/audit",
    summary="The audit trail of an agent's secrets",
    auth=True,
    query=AuditQuery,
    response=list[AuditEntry],
)
async def secret_audit(request: web.Request, query: AuditQuery) -> list[AuditEntry]:
    """Every create, update, delete and decrypt, newest first: who, which key, when and through
    which door (api, window, task, cli). Kept after the agent is deleted."""
    agent_id = request.match_info["agent_id"]
    return await request.app[BACKEND].secrets.audit(agent_id, limit=query.limit, offset=query.offset)


@routes.get(
    f"{BASE}/{{secret_id}}",
    summary="Get a secret",
    auth=True,
    query=SecretQuery,
    response=SecretDetail,
    errors=(404,),
)
async def get_secret(request: web.Request, query: SecretQuery) -> SecretDetail:
    """With ``?decrypt=true`` the answer carries ``decrypted_value``, and the reveal is audited."""
    info = request.match_info
    return await request.app[BACKEND].secrets.get(
        info["agent_id"], info["secret_id"], decrypt=query.decrypt, actor=actor_of(request)
    )


@routes.put(
    f"{BASE}/{{secret_id}}",
    summary="Update a secret",
    auth=True,
    body=SecretPatch,
    response=Secret,
    errors=(404,),
)
async def update_secret(request: web.Request, body: SecretPatch) -> Secret:
    """Change the value, the description or ``is_active``; fields left out stay as they are."""
    info = request.match_info
    return await request.app[BACKEND].secrets.update(
        info["agent_id"], info["secret_id"], body, actor_of(request)
    )


@routes.delete(
    f"{BASE}/{{secret_id}}",
    summary="Delete a secret (soft delete)",
    auth=True,
    response=SecretDeleted,
    errors=(404,),
)
async def delete_secret(request: web.Request) -> SecretDeleted:
    """The secret is kept, inactive: no longer listed or usable, and its key can be created again."""
    info = request.match_info
    secret = await request.app[BACKEND].secrets.delete(info["agent_id"], info["secret_id"], actor_of(request))
    return SecretDeleted(message=f"Secret '{secret.secret_key}' deleted", secret_id=secret.id)


@routes.get(
    f"{BASE}/{{secret_key}}/value",
    summary="Get a secret's value by key",
    auth=True,
    response=SecretValue,
    errors=(404,),
)
async def secret_value(request: web.Request) -> SecretValue:
    """For scripts that run an agent's work themselves. Audited as a decrypt."""
    info = request.match_info
    value = await request.app[BACKEND].secrets.value(info["agent_id"], info["secret_key"], actor_of(request))
    return SecretValue(secret_key=info["secret_key"], value=value)

"""Who is calling: bearer tokens for routes declared with ``auth=True``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND, PRINCIPAL
from server.services.errors import Forbidden, Unauthorized
from server.services.secrets import Actor

if TYPE_CHECKING:
    from aiohttp import web

    from server.services.auth import Principal


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request) -> Principal:
    """Resolve the request's bearer token to the caller, or raise ``Unauthorized``."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <API key or login token>'")
    principal = request[PRINCIPAL] = await request.app[BACKEND].auth.authenticate(token)
    return principal


def principal(request: web.Request) -> Principal:
    """The caller of an authenticated route."""
    return request[PRINCIPAL]


def actor_of(request: web.Request) -> Actor:
    """The caller of an authenticated route, as the secrets audit trail records it."""
    caller = request[PRINCIPAL]
    return Actor("api key" if caller.kind == "api_key" else caller.username, "api")


def require_superuser(request: web.Request) -> Principal:
    """The caller of an authenticated route, who must be a superuser (else 403, not 401: the web
    client logs out on any 401)."""
    caller = request[PRINCIPAL]
    if not caller.is_superuser:
        raise Forbidden(f"'{caller.username}' is not an administrator: this needs a superuser account")
    return caller

"""Login (OAuth2 form or JSON), logout, password change, who-am-I and user management."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.auth import principal, require_superuser
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.auth import ChangePasswordIn, LoginForm, LoginJson, Me, TokenOut, UserListQuery
from server.api.schemas.common import Message
from server.services.errors import InvalidCredentials
from server.services.users import User, UserCreate, UserPatch

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("auth",))


async def _login(request: web.Request, username: str, password: str) -> TokenOut:
    """Check the credentials, counting failures per username and address (10 per 15 minutes)."""
    backend = request.app[BACKEND]
    address = request.remote or "unknown"
    await backend.security.before_login(username, address)
    try:
        issued = await backend.auth.login(username, password)
    except InvalidCredentials:
        await backend.security.login_failed(username, address)
        raise
    return TokenOut(access_token=issued.access_token, user_id=issued.user_id, expires_at=issued.expires_at)


@routes.post(
    "/api/v1/auth/login",
    summary="Log in with a username and password (form fields)",
    body=LoginForm,
    form=True,
    response=TokenOut,
    errors=(400, 429),
)
async def login(request: web.Request, body: LoginForm) -> TokenOut:
    """A wrong username or password is a 400 with a string ``detail``, as OAuth2 token endpoints do;
    after 10 failures for one username from one address within 15 minutes, a 429."""
    return await _login(request, body.username, body.password.get_secret_value())


@routes.post(
    "/api/v1/auth/login-json",
    summary="Log in with a username and password (JSON)",
    body=LoginJson,
    response=TokenOut,
    errors=(400, 429),
)
async def login_json(request: web.Request, body: LoginJson) -> TokenOut:
    """The same as the form login, for clients that send JSON (the web client)."""
    return await _login(request, body.username, body.password.get_secret_value())


@routes.get("/api/v1/auth/me", summary="Who am I", auth=True, response=Me)
async def me(request: web.Request) -> Me:
    caller = principal(request)
    if caller.user_id is None:
        return Me(
            id=None, username=caller.username, email=None, is_active=True, is_superuser=True, auth="api_key"
        )
    user = await request.app[BACKEND].users.get(caller.user_id)
    return Me(
        **user.model_dump(include={"id", "username", "email", "is_active", "is_superuser"}), auth="token"
    )


@routes.get(
    "/api/v1/auth/users",
    summary="List users",
    auth=True,
    query=UserListQuery,
    response=list[User],
    errors=(403,),
)
async def list_users(request: web.Request, query: UserListQuery) -> list[User]:
    """Superusers only, oldest first."""
    require_superuser(request)
    return await request.app[BACKEND].users.list(limit=query.limit, offset=query.offset)


@routes.post(
    "/api/v1/auth/users",
    summary="Create a user",
    auth=True,
    body=UserCreate,
    response=User,
    status=201,
    errors=(403, 409),
)
async def create_user(request: web.Request, body: UserCreate) -> User:
    """Superusers only; a taken username is a 409."""
    require_superuser(request)
    return await request.app[BACKEND].users.create(body)


@routes.get("/api/v1/auth/users/{user_id}", summary="Get a user", auth=True, response=User, errors=(403, 404))
async def get_user(request: web.Request) -> User:
    require_superuser(request)
    return await request.app[BACKEND].users.get(request.match_info["user_id"])


@routes.put(
    "/api/v1/auth/users/{user_id}",
    summary="Change a user",
    auth=True,
    body=UserPatch,
    response=User,
    errors=(403, 404, 409),
)
async def update_user(request: web.Request, body: UserPatch) -> User:
    """Superusers only. Deactivating or a new password ends the user's sessions; the last active
    superuser cannot be deactivated or demoted (409)."""
    require_superuser(request)
    return await request.app[BACKEND].users.update(request.match_info["user_id"], body)


@routes.delete(
    "/api/v1/auth/users/{user_id}",
    summary="Delete a user",
    auth=True,
    response=Message,
    errors=(403, 404, 409),
)
async def delete_user(request: web.Request) -> Message:
    """Superusers only; the user's tokens stop working. The last active superuser cannot be deleted."""
    require_superuser(request)
    user = await request.app[BACKEND].users.delete(request.match_info["user_id"])
    return Message(message=f"User '{user.username}' deleted")


@routes.post("/api/v1/auth/logout", summary="Log out", auth=True, response=Message)
async def logout(request: web.Request) -> Message:
    """Revokes the login token the request carries; with the API key there is nothing to revoke."""
    await request.app[BACKEND].auth.logout(principal(request))
    return Message(message="Logged out")


@routes.post(
    "/api/v1/auth/change-password",
    summary="Change the caller's password",
    auth=True,
    body=ChangePasswordIn,
    response=Message,
    errors=(400,),
)
async def change_password(request: web.Request, body: ChangePasswordIn) -> Message:
    """Every login token issued before the change stops working."""
    await request.app[BACKEND].auth.change_password(
        principal(request),
        body.current_password.get_secret_value(),
        body.new_password.get_secret_value(),
    )
    return Message(message="Password changed; log in again with the new password")

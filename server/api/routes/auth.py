"""Login (OAuth2 password form), logout and password change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.auth import principal
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.auth import ChangePasswordIn, LoginForm, TokenOut
from server.api.schemas.common import Message

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("auth",))


@routes.post(
    "/api/v1/auth/login",
    summary="Log in with a username and password (form fields)",
    body=LoginForm,
    form=True,
    response=TokenOut,
    errors=(400,),
)
async def login(request: web.Request, body: LoginForm) -> TokenOut:
    """A wrong username or password is a 400 with a string ``detail``, as OAuth2 token endpoints do."""
    issued = await request.app[BACKEND].auth.login(body.username, body.password.get_secret_value())
    return TokenOut(access_token=issued.access_token, user_id=issued.user_id, expires_at=issued.expires_at)


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

"""Login, logout and password change."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LoginForm(BaseModel):
    """OAuth2 password-flow form fields (other OAuth2 fields such as ``grant_type`` are ignored).

    Empty fields are a failed login (400 with a text ``detail``), not a 422: the web client shows
    ``detail`` as text."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field("", max_length=150)
    password: SecretStr = Field(SecretStr(""), max_length=1024)


class TokenOut(BaseModel):
    """A login token for ``Authorization: Bearer`` (and ``?token=`` on WebSockets)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    user_id: str
    expires_at: datetime


class ChangePasswordIn(BaseModel):
    """The current password, and the new one (at least 8 characters; a shorter one is a 400 with a
    text ``detail``, which the web client can show)."""

    current_password: SecretStr = Field(max_length=1024)
    new_password: SecretStr = Field(max_length=1024)


class LoginJson(BaseModel):
    """The web client's login body (empty fields are a failed login, as with the form)."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field("", max_length=150)
    password: SecretStr = Field(SecretStr(""), max_length=1024)


class Me(BaseModel):
    """Who the caller is."""

    id: str | None = Field(description="None for the API key")
    username: str
    email: str | None
    is_active: bool
    is_superuser: bool
    auth: Literal["api_key", "token"]


class UserListQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)

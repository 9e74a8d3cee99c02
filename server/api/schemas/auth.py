"""Login, logout and password change."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class LoginForm(BaseModel):
    """OAuth2 password-flow form fields (other OAuth2 fields such as ``grant_type`` are ignored)."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=150)
    password: SecretStr = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    """A login token for ``Authorization: Bearer`` (and ``?token=`` on WebSockets)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    user_id: str
    expires_at: datetime


class ChangePasswordIn(BaseModel):
    """The current password, and the new one (at least 8 characters)."""

    current_password: SecretStr = Field(min_length=1, max_length=1024)
    new_password: SecretStr = Field(min_length=8, max_length=1024)

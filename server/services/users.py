"""User accounts: list, create, change and delete, keeping at least one active superuser."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db.models import UserRow
from server.services.errors import Conflict, NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.services.auth import AuthService

USERNAME = r"^[A-Za-z0-9_.@-]{1,150}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # a plausible address; nothing is sent to it


class User(BaseModel):
    """An account as the API shows it (never the password hash)."""

    id: str
    username: str
    email: str | None
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME)
    password: SecretStr = Field(min_length=8, max_length=1024)
    email: str | None = Field(None, pattern=EMAIL, max_length=320)
    is_active: bool = True
    is_superuser: bool = False


class UserPatch(BaseModel):
    """Fields to change; left out (or null) stays as it is. A new password logs the user out everywhere."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(None, pattern=USERNAME)
    password: SecretStr | None = Field(None, min_length=8, max_length=1024)
    email: str | None = Field(None, pattern=EMAIL, max_length=320)
    is_active: bool | None = None
    is_superuser: bool | None = None


def _user(row: UserRow) -> User:
    return User.model_validate(row, from_attributes=True)


class UserService:
    """Accounts in the database; passwords hashed by the auth service."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], auth: AuthService) -> None:
        self._sessions = sessions
        self._auth = auth

    async def list(self, *, limit: int = 100, offset: int = 0) -> list[User]:
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(UserRow).order_by(UserRow.created_at, UserRow.id).limit(limit).offset(offset)
                )
            ).all()
        return [_user(row) for row in rows]

    async def get(self, user_id: str) -> User:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
        if row is None:
            raise NotFound(f"No user with id {user_id}")
        return _user(row)

    async def create(self, draft: UserCreate) -> User:
        password_hash = await self._auth.hash_password(draft.password.get_secret_value())
        row = UserRow(
            username=draft.username,
            email=draft.email,
            password_hash=password_hash,
            is_active=draft.is_active,
            is_superuser=draft.is_superuser,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"The username '{draft.username}' is taken: choose another") from None
        return _user(row)

    async def update(self, user_id: str, patch: UserPatch) -> User:
        changes = patch.model_dump(exclude_unset=True, exclude={"password"})
        password_hash = (
            await self._auth.hash_password(patch.password.get_secret_value())
            if patch.password is not None
            else None
        )
        try:
            async with self._sessions.begin() as session:
                row = await session.get(UserRow, user_id, with_for_update=True)
                if row is None:
                    raise NotFound(f"No user with id {user_id}")
                losing_rights = (
                    changes.get("is_active") is False or changes.get("is_superuser") is False
                ) and (row.is_active and row.is_superuser)
                if losing_rights:
                    await self._keep_a_superuser(session, row, "deactivated or demoted")
                for key, value in changes.items():
                    if value is not None:
                        setattr(row, key, value)
                if password_hash is not None:
                    row.password_hash = password_hash
                if password_hash is not None or changes.get("is_active") is False:
                    row.token_version += 1  # every token issued before stops working
        except IntegrityError:
            raise Conflict(f"The username '{changes.get('username')}' is taken: choose another") from None
        return _user(row)

    async def delete(self, user_id: str) -> User:
        async with self._sessions.begin() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"No user with id {user_id}")
            if row.is_active and row.is_superuser:
                await self._keep_a_superuser(session, row, "deleted")
            user = _user(row)
            await session.delete(row)
        return user

    @staticmethod
    async def _keep_a_superuser(session: AsyncSession, row: UserRow, change: str) -> None:
        others = await session.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.is_active.is_(True), UserRow.is_superuser.is_(True), UserRow.id != row.id)
        )
        if not others:
            raise Conflict(
                f"'{row.username}' is the last active superuser and cannot be {change}: "
                "make another user a superuser first"
            )

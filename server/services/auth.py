"""Who is calling: the operator account, login tokens (JWT), the API key, logout and passwords."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from server.db.base import new_id, utcnow
from server.db.models import RevokedTokenRow, UserRow
from server.services.errors import InvalidCredentials, InvalidInput, Unauthorized
from server.services.keyfiles import write_private

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
MIN_PASSWORD = 8

JWT_ALGORITHM = "HS256"
INITIAL_PASSWORD_FILE = "initial-admin-password"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    kind: Literal["api_key", "user"]
    username: str
    is_superuser: bool
    user_id: str | None = None
    token_id: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A login token and when it stops working."""

    access_token: str
    expires_at: datetime
    user_id: str


class AuthService:
    """Accounts, login tokens and the API key; every check is constant-time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        api_key: str,
        jwt_secret: str,
        token_ttl: timedelta,
        data_dir: Path,
    ) -> None:
        self._sessions = sessions
        self._api_key = api_key.encode()
        self._jwt_secret = jwt_secret
        self._token_ttl = token_ttl
        self._initial_password_file = data_dir / INITIAL_PASSWORD_FILE
        self._hasher = PasswordHasher()
        self._operator: str | None = None

    @property
    def initial_password_file(self) -> Path:
        """Where a generated first password is written until the operator changes it."""
        return self._initial_password_file

    # -- passwords (argon2 is deliberately slow: it runs in a thread, never on the loop) --

    async def hash_password(self, password: str) -> str:
        """Hash ``password`` with argon2id."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    # -- the operator account --

    async def ensure_operator(self, username: str, password: str | None) -> None:
        """Create the operator superuser, or bring its password in line with the configured one.

        With no password configured and no such account yet, a random password is generated and
        written to the ``initial-admin-password`` file in the data dir (mode 0600).
        """
        self._operator = username
        async with self._sessions() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
        if row is not None:
            if password is not None and not await self._verify(row.password_hash, password):
                await self._set_password(row.id, password)
                log.info("Password of %r updated from the configuration", username)
            return
        generated = password is None
        if password is None:
            password = secrets.token_urlsafe(12)
        password_hash = await self.hash_password(password)
        async with self._sessions.begin() as session:
            session.add(UserRow(username=username, password_hash=password_hash, is_superuser=True))
        if generated:
            await asyncio.to_thread(write_private, self._initial_password_file, password)
            log.warning(
                "Created operator account %r with a generated password, saved in %s; "
                "change it after the first login or set AGENTIC_ADMIN_PASSWORD",
                username,
                self._initial_password_file,
            )

    async def _set_password(self, user_id: str, password: str) -> None:
        password_hash = await self.hash_password(password)
        async with self._sessions.begin() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise Unauthorized("The account no longer exists")
            row.password_hash = password_hash
            row.token_version += 1

    # -- login tokens --

    async def login(self, username: str, password: str) -> IssuedToken:
        """Check the credentials and issue a login token."""
        if not username or not password:
            raise InvalidCredentials("Enter a username and a password")
        async with self._sessions() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
        if row is None:
            # Hash anyway so a wrong username takes as long as a wrong password.
            await self.hash_password(password)
            raise InvalidCredentials("Incorrect username or password")
        if not await self._verify(row.password_hash, password):
            raise InvalidCredentials("Incorrect username or password")
        if not row.is_active:
            raise InvalidCredentials("This account is disabled")
        now = utcnow()
        expires = now + self._token_ttl
        claims = {
            "sub": row.id,
            "name": row.username,
            "su": row.is_superuser,
            "ver": row.token_version,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
        }
        token = jwt.encode(claims, self._jwt_secret, algorithm=JWT_ALGORITHM)
        return IssuedToken(access_token=token, expires_at=expires, user_id=row.id)

    async def authenticate(self, token: str) -> Principal:
        """Resolve a bearer token (the API key or a login token) to the caller."""
        if hmac.compare_digest(token.encode(), self._api_key):
            return Principal(kind="api_key", username="api-key", is_superuser=True)
        try:
            claims = jwt.decode(
                token,
                self._jwt_secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": ["sub", "exp", "iat", "jti", "ver"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The login token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid API key or login token") from None
        async with self._sessions() as session:
            row = await session.get(UserRow, claims["sub"])
            revoked = await session.get(RevokedTokenRow, claims["jti"])
        if revoked is not None:
            raise Unauthorized("This login token was logged out; log in again")
        if row is None or not row.is_active:
            raise Unauthorized("The account behind this token is disabled or gone")
        if row.token_version != claims["ver"]:
            raise Unauthorized("The password changed since this token was issued; log in again")
        return Principal(
            kind="user",
            username=row.username,
            is_superuser=row.is_superuser,
            user_id=row.id,
            token_id=claims["jti"],
            expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
        )

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's login token (an API key has nothing to revoke)."""
        if principal.token_id is None or principal.expires_at is None:
            return
        async with self._sessions.begin() as session:
            await session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < utcnow()))
            if await session.get(RevokedTokenRow, principal.token_id) is None:
                session.add(RevokedTokenRow(jti=principal.token_id, expires_at=principal.expires_at))

    async def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Change the caller's password; every token issued before stops working."""
        if principal.user_id is None:
            raise InvalidInput("The API key has no password: log in with a username to change one")
        async with self._sessions() as session:
            row = await session.get(UserRow, principal.user_id)
        if row is None:
            raise Unauthorized("The account no longer exists")
        if not await self._verify(row.password_hash, current):
            raise InvalidInput("The current password is not correct")
        if current == new:
            raise InvalidInput("The new password must differ from the current one")
        if len(new) < MIN_PASSWORD:
            raise InvalidInput(f"The new password must be at least {MIN_PASSWORD} characters long")
        await self._set_password(row.id, new)
        if row.username == self._operator:
            await asyncio.to_thread(self._initial_password_file.unlink, missing_ok=True)

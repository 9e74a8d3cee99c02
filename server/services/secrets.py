"""The secrets vault: agents' secrets encrypted with Fernet under a master key kept outside the database.

Values are encrypted before they reach the database and decrypted only when asked (a reveal, or
a task resolving ``{{secret:KEY}}`` in memory). Every create, update, delete and decrypt is
written to the audit trail and published on the bus. No value is ever logged or put in an error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from server.db.base import new_id, utcnow
from server.db.models import AgentRow, SecretAuditRow, SecretRow, VaultMetaRow
from server.events import SecretChanged
from server.services.errors import Conflict, DependencyDown, InvalidInput, NotFound
from server.services.vault_keys import KeyStoreError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.vault_keys import KeyStore

log = logging.getLogger(__name__)

CANARY = "canary"
CANARY_TEXT = b"agentic-desktop vault canary"
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$"
MAX_VALUE_CHARS = 65_536
REFERENCE = re.compile(r"\{\{\s*secret:([A-Za-z_][A-Za-z0-9_.\-]{0,99})\s*\}\}")

Action = Literal["create", "update", "delete", "decrypt", "rotate"]
Via = Literal["api", "window", "task", "cli"]


class VaultError(DependencyDown):
    """The vault cannot open or decrypt: its master key is missing, wrong or unreadable. Nothing was
    changed."""


class UnknownSecret(InvalidInput):
    """A ``{{secret:KEY}}`` reference names no active secret of the agent."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who touches a secret, and through which door."""

    who: str
    via: Via


class SecretDraft(BaseModel):
    """A new secret."""

    model_config = ConfigDict(extra="forbid")

    secret_key: str = Field(pattern=KEY_PATTERN, description="Name used in {{secret:NAME}} references")
    secret_value: str = Field(min_length=1, max_length=MAX_VALUE_CHARS, json_schema_extra={"writeOnly": True})
    description: str = Field("", max_length=1000)


class SecretPatch(BaseModel):
    """Changes to a secret; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    secret_value: str | None = Field(
        None, min_length=1, max_length=MAX_VALUE_CHARS, json_schema_extra={"writeOnly": True}
    )
    description: str | None = Field(None, max_length=1000)
    is_active: bool | None = None


class Secret(BaseModel):
    """A secret as lists show it: never its value."""

    id: str
    secret_id: str = Field(description="The same as id (the web client reads secret_id)")
    agent_id: str
    secret_key: str
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SecretDetail(Secret):
    """One secret: its ciphertext, and its value only when decryption was asked for."""

    encrypted_value: str
    decrypted_value: str | None = None


class AuditEntry(BaseModel):
    """One line of the audit trail."""

    id: int
    agent_id: str | None
    secret_id: str | None
    secret_key: str | None
    action: str
    actor: str
    via: str
    at: datetime


def _secret(row: SecretRow) -> Secret:
    return Secret(
        id=row.id,
        secret_id=row.id,
        agent_id=row.agent_id,
        secret_key=row.secret_key,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def references(value: Any) -> set[str]:
    """The secret keys ``value`` (a string, or lists and dicts of them) refers to."""
    if isinstance(value, str):
        return set(REFERENCE.findall(value))
    if isinstance(value, dict):
        return set().union(*(references(item) for item in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(references(item) for item in value))
    return set()


def substitute(value: Any, values: dict[str, str]) -> Any:
    """``value`` with every ``{{secret:KEY}}`` replaced from ``values`` (a new object; the input is kept)."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda match: values[match[1]], value)
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, values) for item in value]
    return value


class SecretsService:
    """Agents' secrets in the database, encrypted with the master keys from ``store``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus, store: KeyStore) -> None:
        self._sessions = sessions
        self._bus = bus
        self.store = store
        self._fernet: MultiFernet | None = None

    @property
    def backend(self) -> str:
        """``keyring`` or ``file``."""
        return self.store.kind

    # -- opening and rotating --

    async def open(self) -> None:
        """Load the master key (creating it on first use) and prove it opens what is stored.

        A missing or wrong key raises VaultError and changes nothing: the secrets stay encrypted."""
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        try:
            keys = await asyncio.to_thread(self.store.load)
        except KeyStoreError as exc:
            raise VaultError(str(exc)) from exc
        async with self._sessions() as session:
            canary = await session.get(VaultMetaRow, CANARY)
            stored = await session.scalar(select(func.count()).select_from(SecretRow))
        if keys is None:
            if canary is not None:
                raise VaultError(
                    f"The vault's master key is missing from {self.store.location}, but the database holds "
                    f"{stored} encrypted secret(s) made with it. Nothing was changed: restore the key "
                    "(from a backup of that file or keyring entry), or point AGENTIC_VAULT_BACKEND at "
                    "where it is."
                )
            keys = [Fernet.generate_key().decode()]
            try:
                await asyncio.to_thread(self.store.save, keys)
            except KeyStoreError as exc:
                raise VaultError(str(exc)) from exc
            log.info("Created the vault's master key in %s", self.store.location)
        try:
            fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise VaultError(f"The vault master key in {self.store.location} is not a Fernet key") from exc
        if canary is None:
            async with self._sessions.begin() as session:
                session.add(VaultMetaRow(name=CANARY, value=fernet.encrypt(CANARY_TEXT).decode()))
        else:
            try:
                fernet.decrypt(canary.value.encode())
            except InvalidToken:
                raise VaultError(
                    f"The vault master key in {self.store.location} does not match this database: it cannot "
                    f"decrypt what was stored with the old key ({stored} secret(s)). Nothing was changed. "
                    "Restore the right key, or use the data dir that belongs to this key."
                ) from None
        self._fernet = fernet

    @property
    def fernet(self) -> MultiFernet:
        assert self._fernet is not None, "vault not opened"
        return self._fernet

    async def rotate_key(self, actor: Actor) -> int:
        """Re-encrypt every secret under a new master key; returns how many were re-encrypted.

        The new key is stored beside the old one first, then every value is rotated in one
        transaction, then the old key is dropped: a crash at any point leaves everything readable."""
        from cryptography.fernet import Fernet, MultiFernet

        old_keys = await asyncio.to_thread(self.store.load) or []
        new_key = Fernet.generate_key().decode()
        both = MultiFernet([Fernet(key.encode()) for key in [new_key, *old_keys]])
        await asyncio.to_thread(self.store.save, [new_key, *old_keys])
        async with self._sessions.begin() as session:
            rows = (await session.scalars(select(SecretRow))).all()
            for row in rows:
                row.encrypted_value = both.rotate(row.encrypted_value.encode()).decode()
            canary = await session.get(VaultMetaRow, CANARY)
            if canary is not None:
                canary.value = both.rotate(canary.value.encode()).decode()
            session.add(SecretAuditRow(action="rotate", actor=actor.who, via=actor.via))
        await asyncio.to_thread(self.store.save, [new_key])
        self._fernet = MultiFernet([Fernet(new_key.encode())])
        log.info("Rotated the vault master key; re-encrypted %d secret(s)", len(rows))
        return len(rows)

    # -- writing --

    def _encrypt(self, value: str) -> str:
        return self.fernet.encrypt(value.encode()).decode()

    def _decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            log.error("A secret could not be decrypted with the vault's master key")
            raise VaultError("This secret cannot be decrypted with the vault's master key") from None

    async def add_in(
        self, session: AsyncSession, agent_id: str, drafts: list[SecretDraft], actor: Actor
    ) -> None:
        """Store ``drafts`` for a new agent inside the caller's transaction (all or nothing)."""
        keys = [draft.secret_key for draft in drafts]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise Conflict(f"Secret key(s) given twice: {', '.join(duplicates)}")
        for draft in drafts:
            row = SecretRow(
                id=new_id(),
                agent_id=agent_id,
                secret_key=draft.secret_key,
                encrypted_value=self._encrypt(draft.secret_value),
                description=draft.description,
            )
            session.add(row)
            session.add(self._audit(row, "create", actor))

    def announce(self, agent_id: str, drafts: list[SecretDraft], actor: Actor) -> None:
        """Publish what ``add_in`` stored, once its transaction has committed."""
        for draft in drafts:
            self._bus.publish(
                SecretChanged(
                    agent_id=agent_id, secret_key=draft.secret_key, action="create", actor=actor.who
                )
            )

    @staticmethod
    def _audit(row: SecretRow, action: Action, actor: Actor) -> SecretAuditRow:
        return SecretAuditRow(
            agent_id=row.agent_id,
            secret_id=row.id,
            secret_key=row.secret_key,
            action=action,
            actor=actor.who,
            via=actor.via,
        )

    def _publish(self, row: SecretRow, action: Action, actor: Actor) -> None:
        self._bus.publish(
            SecretChanged(agent_id=row.agent_id, secret_key=row.secret_key, action=action, actor=actor.who)
        )

    async def _agent(self, session: AsyncSession, agent_id: str) -> AgentRow:
        agent = await session.get(AgentRow, agent_id)
        if agent is None:
            raise NotFound(f"No agent with id {agent_id}")
        return agent

    async def _row(self, session: AsyncSession, agent_id: str, secret_id: str) -> SecretRow:
        await self._agent(session, agent_id)
        row = await session.get(SecretRow, secret_id)
        if row is None or row.agent_id != agent_id:
            raise NotFound(f"Agent {agent_id} has no secret with id {secret_id}")
        return row

    async def create(self, agent_id: str, draft: SecretDraft, actor: Actor) -> Secret:
        """Store a new secret; 409 when the agent already has an active one with that key. A key that
        was deleted before is brought back with the new value."""
        async with self._sessions.begin() as session:
            await self._agent(session, agent_id)
            row = await session.scalar(
                select(SecretRow).where(
                    SecretRow.agent_id == agent_id, SecretRow.secret_key == draft.secret_key
                )
            )
            if row is not None and row.is_active:
                raise Conflict(
                    f"Agent {agent_id} already has a secret '{draft.secret_key}': update it instead "
                    f"(PUT /api/v1/agents/{agent_id}/secrets/{row.id})"
                )
            if row is None:
                row = SecretRow(id=new_id(), agent_id=agent_id, secret_key=draft.secret_key)
                session.add(row)
            else:
                row.created_at = utcnow()
            row.encrypted_value = self._encrypt(draft.secret_value)
            row.description = draft.description
            row.is_active = True
            session.add(self._audit(row, "create", actor))
            await session.flush()
            secret = _secret(row)
        self._publish(row, "create", actor)
        return secret

    async def update(self, agent_id: str, secret_id: str, patch: SecretPatch, actor: Actor) -> Secret:
        """Change the value, the description or whether it is active."""
        async with self._sessions.begin() as session:
            row = await self._row(session, agent_id, secret_id)
            if patch.secret_value is not None:
                row.encrypted_value = self._encrypt(patch.secret_value)
            if patch.description is not None:
                row.description = patch.description
            if patch.is_active is not None:
                row.is_active = patch.is_active
            row.updated_at = utcnow()
            session.add(self._audit(row, "update", actor))
            await session.flush()
            secret = _secret(row)
        self._publish(row, "update", actor)
        return secret

    async def delete(self, agent_id: str, secret_id: str, actor: Actor) -> Secret:
        """Soft delete: the secret stops being listed and used, and can be created again."""
        async with self._sessions.begin() as session:
            row = await self._row(session, agent_id, secret_id)
            if not row.is_active:
                raise NotFound(f"Secret {secret_id} of agent {agent_id} is already deleted")
            row.is_active = False
            row.updated_at = utcnow()
            session.add(self._audit(row, "delete", actor))
            await session.flush()
            secret = _secret(row)
        self._publish(row, "delete", actor)
        return secret

    # -- reading --

    async def list(self, agent_id: str, *, include_inactive: bool = False) -> list[Secret]:
        """An agent's secrets by key, without values."""
        async with self._sessions() as session:
            await self._agent(session, agent_id)
            query = select(SecretRow).where(SecretRow.agent_id == agent_id).order_by(SecretRow.secret_key)
            if not include_inactive:
                query = query.where(SecretRow.is_active.is_(True))
            return [_secret(row) for row in (await session.scalars(query)).all()]

    async def get(
        self, agent_id: str, secret_id: str, *, decrypt: bool = False, actor: Actor | None = None
    ) -> SecretDetail:
        """One secret; with ``decrypt`` its value too (audited)."""
        async with self._sessions.begin() as session:
            row = await self._row(session, agent_id, secret_id)
            detail = SecretDetail(**_secret(row).model_dump(), encrypted_value=row.encrypted_value)
            if decrypt:
                if actor is None:
                    raise ValueError("decrypting needs an actor for the audit trail")
                detail.decrypted_value = self._decrypt(row.encrypted_value)
                session.add(self._audit(row, "decrypt", actor))
        if decrypt and actor is not None:
            self._publish(row, "decrypt", actor)
        return detail

    async def value(self, agent_id: str, secret_key: str, actor: Actor) -> str:
        """The value of an active secret by key (audited)."""
        async with self._sessions.begin() as session:
            await self._agent(session, agent_id)
            row = await session.scalar(
                select(SecretRow).where(
                    SecretRow.agent_id == agent_id,
                    SecretRow.secret_key == secret_key,
                    SecretRow.is_active.is_(True),
                )
            )
            if row is None:
                raise NotFound(f"Agent {agent_id} has no secret '{secret_key}'")
            value = self._decrypt(row.encrypted_value)
            session.add(self._audit(row, "decrypt", actor))
        self._publish(row, "decrypt", actor)
        return value

    async def audit(self, agent_id: str, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        """An agent's audit trail, newest first (kept even after the agent is deleted)."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(SecretAuditRow)
                    .where(SecretAuditRow.agent_id == agent_id)
                    .order_by(SecretAuditRow.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return [AuditEntry.model_validate(row, from_attributes=True) for row in rows]

    # -- use in tasks --

    async def resolve(self, agent_id: str, *values: Any, task_id: str) -> tuple[Any, ...]:
        """``values`` with each ``{{secret:KEY}}`` replaced by the agent's secret, in memory only.

        Every secret used is audited as a decrypt by the task. An unknown key is an UnknownSecret
        naming it (never a value)."""
        wanted = set().union(*(references(value) for value in values))
        if not wanted:
            return values
        actor = Actor(f"task {task_id}", "task")
        async with self._sessions.begin() as session:
            rows = (
                await session.scalars(
                    select(SecretRow).where(
                        SecretRow.agent_id == agent_id,
                        SecretRow.secret_key.in_(wanted),
                        SecretRow.is_active.is_(True),
                    )
                )
            ).all()
            missing = sorted(wanted - {row.secret_key for row in rows})
            if missing:
                names = ", ".join(f"'{key}'" for key in missing)
                raise UnknownSecret(
                    f"The agent has no secret {names} (referenced as {{{{secret:{missing[0]}}}}}): add it "
                    f"in the Secrets panel or with POST /api/v1/agents/{agent_id}/secrets"
                )
            plain = {row.secret_key: self._decrypt(row.encrypted_value) for row in rows}
            for row in rows:
                session.add(self._audit(row, "decrypt", actor))
        for row in rows:
            self._publish(row, "decrypt", actor)
        return tuple(substitute(value, plain) for value in values)

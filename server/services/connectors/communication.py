"""The communication connector: an IMAP mailbox (stdlib ``imaplib``/``email``, in a thread), and Slack.

IMAP: the password is never in the config, only the name of a vault secret (``password_secret``) and
the agent whose vault holds it (``agent_id``), resolved by the callable the app passes in, in memory,
for each run. The mailbox is opened read-only
(EXAMINE) and messages are fetched with ``BODY.PEEK[]``, so reading never marks mail as seen.
``state`` keeps ``uidvalidity`` and ``last_uid``: the next run asks only for UIDs above it; when the
server's UIDVALIDITY changed, the old UIDs mean nothing and the mailbox is read afresh.

Slack (and Discord, Teams) need an app token and network access this app does not have: they raise
``ConnectorUnavailable`` naming what is missing, never invented messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, model_validator

from server.services.connectors._common import ConfigModel, SourceRefused, check_config, iso, now
from server.services.connectors.base import ConnectorError, ConnectorUnavailable, FetchedItem, FetchResult

if TYPE_CHECKING:
    import imaplib
    from collections.abc import Mapping
    from email.message import EmailMessage

    from server.services.connectors._common import ResolveSecret

UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
FETCH_UID = re.compile(rb"UID (\d+)")
FETCH_BATCH = 50  # messages per UID FETCH command

UNAVAILABLE = {
    "slack": "Slack needs a Slack app with a bot token (xoxb-...) installed in the workspace and network "
    "access to slack.com; this app has neither configured. Export the channel and point a filesystem "
    "source at it, or forward it to a mailbox the email connector reads.",
    "discord": "Discord needs a bot token for a Discord application added to the server and network access "
    "to discord.com; this app has neither configured.",
    "teams": "Microsoft Teams needs an Azure AD app registration with Graph API permissions and network "
    "access to graph.microsoft.com; this app has neither configured.",
}


class CommunicationConfig(ConfigModel):
    """A mailbox (``platform`` email) or a chat platform (not available offline)."""

    platform: Literal["email", "imap", "slack", "discord", "teams"] = "email"
    host: str | None = Field(
        None, validation_alias=AliasChoices("host", "imap_server"), max_length=253, description="IMAP server"
    )
    port: int | None = Field(None, ge=1, le=65535, description="Default 993 with ssl, else 143")
    security: Literal["ssl", "starttls", "plain"] = Field(
        "ssl", description="ssl (IMAPS), starttls (upgrade a plain connection) or plain (loopback/testing)"
    )
    username: str | None = Field(None, max_length=320)
    password_secret: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$",
        description="Name of the vault secret holding the password (never the password itself)",
    )
    agent_id: str | None = Field(
        None, max_length=64, description="The agent whose vault holds password_secret"
    )
    mailbox: str = Field(
        "INBOX", validation_alias=AliasChoices("mailbox", "folder"), min_length=1, max_length=200
    )
    search: str = Field(
        "ALL", min_length=1, max_length=500, description="IMAP SEARCH criteria, e.g. 'UNSEEN' or 'FROM \"x\"'"
    )
    max_messages: int = Field(50, ge=1, le=5000, description="At most this many new messages a run")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds before the server counts as unreachable")
    # Slack and friends: accepted so a config can name them; they are not available.
    workspace: str | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _email_needs(self) -> CommunicationConfig:
        if self.platform in ("email", "imap"):
            for name in ("host", "username", "password_secret", "agent_id"):
                if not getattr(self, name):
                    raise ValueError(f"an email source needs '{name}'")
            if any(char in self.search for char in "\r\n") or any(char in self.mailbox for char in "\r\n"):
                raise ValueError("search and mailbox must be on one line")
        return self


class CommunicationConnector:
    """IMAP mailboxes; Slack/Discord/Teams say what they would need."""

    kind = "communication"

    def __init__(self, resolve_secret: ResolveSecret | None = None) -> None:
        self._resolve_secret = resolve_secret

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return check_config(CommunicationConfig, config)

    async def test(self, config: Mapping[str, Any]) -> str:
        cfg, password = await self._prepare(config)
        count = await asyncio.to_thread(_probe, cfg, password)
        return f"{cfg.username}@{cfg.host}/{cfg.mailbox}: {count} message(s)"

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        cfg, password = await self._prepare(config)
        return await asyncio.to_thread(_fetch, cfg, password, state)

    async def _prepare(self, config: Mapping[str, Any]) -> tuple[CommunicationConfig, str]:
        cfg = CommunicationConfig.model_validate(self.validate(config))
        if cfg.platform not in ("email", "imap"):
            raise ConnectorUnavailable(UNAVAILABLE[cfg.platform])
        if self._resolve_secret is None:
            raise ConnectorUnavailable("email sources need the secrets vault, and none is connected")
        assert cfg.password_secret is not None
        assert cfg.agent_id is not None
        password = await self._resolve_secret(cfg.password_secret, cfg.agent_id)
        return cfg, password


# -- IMAP, in a thread --


def _server(cfg: CommunicationConfig) -> str:
    return f"{cfg.host}:{_port(cfg)}"


def _port(cfg: CommunicationConfig) -> int:
    return cfg.port or (993 if cfg.security == "ssl" else 143)


def _connect(cfg: CommunicationConfig, password: str) -> imaplib.IMAP4:
    """A logged-in connection; ``ConnectorError`` (unreachable) or ``SourceRefused`` (login refused)."""
    import imaplib

    assert cfg.host is not None
    assert cfg.username is not None
    try:
        if cfg.security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                cfg.host, _port(cfg), ssl_context=ssl.create_default_context(), timeout=cfg.timeout
            )
        else:
            conn = imaplib.IMAP4(cfg.host, _port(cfg), timeout=cfg.timeout)
            if cfg.security == "starttls":
                conn.starttls(ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as exc:
        reason = (
            "timed out" if isinstance(exc, socket.timeout | TimeoutError) else str(exc) or type(exc).__name__
        )
        raise ConnectorError(f"IMAP server {_server(cfg)} cannot be reached: {reason}") from None
    try:
        conn.login(cfg.username, password)
    except imaplib.IMAP4.error as exc:
        _close(conn)
        raise SourceRefused(f"IMAP login as {cfg.username} at {_server(cfg)} refused: {_text(exc)}") from None
    except OSError as exc:
        _close(conn)
        raise ConnectorError(f"IMAP server {_server(cfg)} dropped the connection: {exc}") from None
    return conn


def _close(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except Exception:  # noqa: BLE001  (already broken: nothing more to say)
        with contextlib.suppress(OSError):
            conn.shutdown()


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def _examine(conn: imaplib.IMAP4, cfg: CommunicationConfig) -> tuple[int, int]:
    """Open the mailbox read-only: (message count, UIDVALIDITY)."""
    typ, data = conn.select(_quote_mailbox(cfg.mailbox), readonly=True)
    if typ != "OK":
        why = data[0].decode(errors="replace") if data and data[0] else "no reason given"
        raise SourceRefused(f"mailbox '{cfg.mailbox}' at {_server(cfg)} cannot be opened: {why}")
    count = int(data[0]) if data and data[0] else 0
    _, codes = conn.response("UIDVALIDITY")
    validity = int(codes[0]) if codes and codes[0] else 0
    return count, validity


def _quote_mailbox(name: str) -> str:
    return (
        name
        if re.fullmatch(r"[A-Za-z0-9_./\-]+", name)
        else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    )


def _probe(cfg: CommunicationConfig, password: str) -> int:
    conn = _connect(cfg, password)
    try:
        count, _ = _examine(conn, cfg)
        return count
    finally:
        _close(conn)


def _fetch(cfg: CommunicationConfig, password: str, state: dict[str, Any]) -> FetchResult:
    import imaplib

    result = FetchResult()
    conn = _connect(cfg, password)
    try:
        _, validity = _examine(conn, cfg)
        if state.get("uidvalidity") != validity:
            state["uidvalidity"] = validity
            state["last_uid"] = 0
        last = int(state.get("last_uid") or 0)
        criteria = cfg.search if last == 0 else f"UID {last + 1}:* {cfg.search}"
        typ, data = conn.uid("SEARCH", criteria)
        if typ != "OK":
            raise SourceRefused(f"IMAP search '{cfg.search}' refused: {_text(Exception(data[0]))}")
        # "n:*" always includes the highest UID, even below n: keep only the new ones.
        uids = sorted(uid for uid in (int(raw) for raw in b" ".join(data).split()) if uid > last)
        for start in range(0, min(len(uids), cfg.max_messages), FETCH_BATCH):
            batch = uids[start : min(start + FETCH_BATCH, cfg.max_messages)]
            typ, data = conn.uid("FETCH", ",".join(map(str, batch)), "(UID BODY.PEEK[])")
            if typ != "OK":
                for uid in batch:
                    result.failures.append((_url(cfg, validity, uid), f"FETCH refused: {data!r}"))
                continue
            got = _messages(data)
            for uid in batch:
                raw = got.get(uid)
                if raw is None:
                    result.failures.append((_url(cfg, validity, uid), "the server returned no body"))
                else:
                    result.items.append(_item(cfg, validity, uid, raw))
            state["last_uid"] = batch[-1]
    except imaplib.IMAP4.error as exc:
        raise ConnectorError(f"IMAP server {_server(cfg)}: {_text(exc)}") from None
    except OSError as exc:
        raise ConnectorError(f"IMAP server {_server(cfg)} dropped the connection: {exc}") from None
    finally:
        _close(conn)
    return result


def _messages(data: list[Any]) -> dict[int, bytes]:
    """UID -> raw message from a UID FETCH answer (``(b'1 (UID 7 BODY[] {n}', b'...')`` pairs)."""
    found: dict[int, bytes] = {}
    for part in data:
        if isinstance(part, tuple) and len(part) >= 2:
            match = FETCH_UID.search(part[0])
            if match:
                found[int(match.group(1))] = part[1]
    return found


def _url(cfg: CommunicationConfig, validity: int, uid: int) -> str:
    """RFC 5092 IMAP URL of one message."""
    user = quote(cfg.username or "", safe="")
    return f"imap://{user}@{cfg.host}:{_port(cfg)}/{quote(cfg.mailbox)};UIDVALIDITY={validity}/;UID={uid}"


def _item(cfg: CommunicationConfig, validity: int, uid: int, raw: bytes) -> FetchedItem:
    from email import policy
    from email.parser import BytesParser
    from email.utils import parsedate_to_datetime

    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    part = message.get_body(preferencelist=("plain", "html"))
    if part is not None:
        try:
            text = part.get_content()
        except (LookupError, ValueError):  # unknown charset, broken encoding: keep what decodes
            text = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
        body, mime = str(text).encode(), part.get_content_type()
    else:
        body, mime = b"", "text/plain"
    url = _url(cfg, validity, uid)
    date = None
    if message["Date"]:
        try:
            date = iso(parsedate_to_datetime(str(message["Date"])))
        except (TypeError, ValueError):
            date = str(message["Date"])
    attachments = [name for name in (p.get_filename() for p in message.iter_attachments()) if name]
    return FetchedItem(
        ref=str(message["Message-ID"] or url).strip(),
        body=body,
        fetched_at=now(),
        title=str(message["Subject"]) if message["Subject"] is not None else None,
        url=url,
        mime_type=mime,
        metadata={
            "from": str(message["From"] or "") or None,
            "to": str(message["To"] or "") or None,
            "cc": str(message["Cc"] or "") or None,
            "date": date,
            "mailbox": cfg.mailbox,
            "uid": uid,
            "uidvalidity": validity,
            "attachments": attachments,
        },
    )

"""A fake IMAP4rev1 server on loopback (asyncio), faithful to RFC 3501 for what a reader needs.

Commands: CAPABILITY, NOOP, LOGIN, LOGOUT, SELECT, EXAMINE, SEARCH / UID SEARCH (ALL, UID <set>,
<set>, SUBJECT/FROM/TO/BODY/TEXT <string>, SEEN/UNSEEN, SINCE/BEFORE/ON <date>, NOT, combined
by AND), FETCH / UID FETCH (UID, FLAGS, RFC822.SIZE, INTERNALDATE, RFC822, BODY[], BODY.PEEK[]).
Arguments may be atoms, quoted strings or literals (``{n}`` with a ``+`` continuation). Replies are
tagged OK/NO/BAD with the response codes real servers send ([CAPABILITY], [UIDVALIDITY],
[UIDNEXT], [READ-ONLY], [AUTHENTICATIONFAILED]); fetched messages go out as literals.

Tests add messages with ``add_message`` (UIDs ascend from 1), change ``uidvalidity`` to simulate a
rebuilt mailbox, and read ``commands`` to see what the client sent (passwords are masked).
Run it alone with ``python -m tests.fakes.imap --port 1143``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

CRLF = b"\r\n"
LITERAL = re.compile(rb"\{(\d+)(\+?)\}$")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    internal_date: datetime
    flags: set[str] = field(default_factory=set)


@dataclass
class Mailbox:
    name: str
    uidvalidity: int = 1
    messages: list[StoredMessage] = field(default_factory=list)
    next_uid: int = 1


class ImapProtocolError(Exception):
    """A command the fake refuses as BAD (the message is the reason)."""


def _tokens(line: bytes, literals: list[bytes]) -> list[object]:
    """Split arguments: atoms, "quoted" strings, literals (already read, in order), (lists)."""
    out: list[object] = []
    stack: list[list[object]] = [out]
    i = 0
    literal_index = 0
    while i < len(line):
        char = line[i : i + 1]
        if char == b" ":
            i += 1
        elif char == b"(":
            inner: list[object] = []
            stack[-1].append(inner)
            stack.append(inner)
            i += 1
        elif char == b")":
            if len(stack) == 1:
                raise ImapProtocolError("unbalanced parenthesis")
            stack.pop()
            i += 1
        elif char == b'"':
            i += 1
            buf = bytearray()
            while i < len(line) and line[i : i + 1] != b'"':
                if line[i : i + 1] == b"\\":
                    i += 1
                buf += line[i : i + 1]
                i += 1
            if i >= len(line):
                raise ImapProtocolError("unterminated quoted string")
            i += 1
            stack[-1].append(buf.decode())
        elif char == b"{":
            end = line.index(b"}", i)
            stack[-1].append(literals[literal_index].decode())
            literal_index += 1
            i = end + 1
        else:
            start = i
            while i < len(line) and line[i : i + 1] not in (b" ", b"(", b")"):
                if line[i : i + 1] == b"[":  # BODY[...] keeps its brackets
                    i = line.index(b"]", i)
                i += 1
            stack[-1].append(line[start:i].decode())
    if len(stack) != 1:
        raise ImapProtocolError("unbalanced parenthesis")
    return out


def _imap_date(value: str) -> date:
    day, month, year = value.split("-")
    return date(int(year), MONTHS.index(month.capitalize()) + 1, int(day))


def _internal(moment: datetime) -> str:
    return f"{moment.day:02d}-{MONTHS[moment.month - 1]}-{moment.year} {moment:%H:%M:%S} +0000"


def _in_set(number: int, sequence_set: str, highest: int) -> bool:
    for part in sequence_set.split(","):
        low, _, high = part.partition(":")
        a = highest if low == "*" else int(low)
        b = a if not high else (highest if high == "*" else int(high))
        if min(a, b) <= number <= max(a, b):
            return True
    return False


class FakeImapServer:
    """One account, any number of mailboxes (INBOX exists from the start)."""

    def __init__(self, username: str = "reader@example.test", password: str = "imap-pass-1") -> None:
        self.username = username
        self.password = password
        self.mailboxes: dict[str, Mailbox] = {"INBOX": Mailbox("INBOX", uidvalidity=1_700_000_000)}
        self.commands: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- content --

    def add_message(
        self,
        subject: str,
        body: str,
        *,
        sender: str = "Alice <alice@example.test>",
        to: str = "reader@example.test",
        html: str | None = None,
        mailbox: str = "INBOX",
        when: datetime | None = None,
        seen: bool = False,
    ) -> str:
        """Deliver a message; its Message-ID."""
        when = when or datetime.now(UTC).replace(microsecond=0)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(when)
        message_id = make_msgid(domain="fake.example.test")
        message["Message-ID"] = message_id
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
        box = self.mailboxes.setdefault(mailbox, Mailbox(mailbox))
        box.messages.append(
            StoredMessage(box.next_uid, message.as_bytes(), when, {"\\Seen"} if seen else set())
        )
        box.next_uid += 1
        return message_id

    # -- server --

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> int:
        self._server = await asyncio.start_server(self._session, host, self.port if port is None else port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        session = _Session(self, reader, writer)
        try:
            await session.run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _Session:
    """One client connection: states not authenticated -> authenticated -> selected -> logout."""

    CAPABILITIES = "IMAP4rev1 LITERAL+ AUTH=PLAIN"

    def __init__(
        self, server: FakeImapServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.user: str | None = None
        self.box: Mailbox | None = None
        self.read_only = False

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self, text: str) -> None:
        await self.send(text.encode() + CRLF)

    async def read_command(self) -> tuple[bytes, list[bytes]]:
        """One command line, with any literals it carries read in full."""
        line = (await self.reader.readuntil(CRLF))[:-2]
        parts = [line]
        literals: list[bytes] = []
        while (match := LITERAL.search(parts[-1])) is not None:
            size, non_sync = int(match.group(1)), match.group(2)
            if not non_sync:
                await self.line("+ Ready for literal data")
            literals.append(await self.reader.readexactly(size))
            parts.append((await self.reader.readuntil(CRLF))[:-2])
        return b"".join(parts), literals

    async def run(self) -> None:
        await self.line(f"* OK [CAPABILITY {self.CAPABILITIES}] Fake IMAP4rev1 server ready")
        while True:
            line, literals = await self.read_command()
            if not line:
                continue
            tag, _, rest = line.partition(b" ")
            tag_text = tag.decode(errors="replace")
            command, _, args = rest.partition(b" ")
            name = command.decode(errors="replace").upper()
            self.server.commands.append(
                f"{name} ***" if name == "LOGIN" else f"{name} {args.decode(errors='replace')}".strip()
            )
            try:
                arguments = _tokens(args, literals)
                if name == "UID":
                    sub = str(arguments[0]).upper() if arguments else ""
                    done = await self.dispatch(tag_text, sub, arguments[1:], uid=True)
                else:
                    done = await self.dispatch(tag_text, name, arguments, uid=False)
            except (ImapProtocolError, ValueError, IndexError) as exc:
                await self.line(f"{tag_text} BAD {exc or 'invalid arguments'}")
                continue
            if done:
                return

    async def dispatch(self, tag: str, name: str, args: list[object], *, uid: bool) -> bool:
        if name == "CAPABILITY":
            await self.line(f"* CAPABILITY {self.CAPABILITIES}")
            await self.line(f"{tag} OK CAPABILITY completed")
        elif name == "NOOP":
            if self.box is not None:
                await self.line(f"* {len(self.box.messages)} EXISTS")
            await self.line(f"{tag} OK NOOP completed")
        elif name == "LOGOUT":
            await self.line("* BYE Fake IMAP server logging out")
            await self.line(f"{tag} OK LOGOUT completed")
            return True
        elif name == "LOGIN":
            if len(args) != 2:
                raise ImapProtocolError("LOGIN needs a user name and a password")
            if args[0] == self.server.username and args[1] == self.server.password:
                self.user = str(args[0])
                await self.line(f"{tag} OK [CAPABILITY {self.CAPABILITIES}] LOGIN completed")
            else:
                await self.line(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
        elif self.user is None:
            await self.line(f"{tag} BAD {name} needs an authenticated session; LOGIN first")
        elif name in ("SELECT", "EXAMINE"):
            await self.select(tag, name, args)
        elif self.box is None:
            await self.line(f"{tag} BAD {name} needs a selected mailbox; SELECT first")
        elif name == "SEARCH":
            await self.search(tag, args, uid=uid)
        elif name == "FETCH":
            await self.fetch(tag, args, uid=uid)
        elif name == "CLOSE":
            self.box = None
            await self.line(f"{tag} OK CLOSE completed")
        else:
            await self.line(f"{tag} BAD unknown command {name}")
        return False

    async def select(self, tag: str, name: str, args: list[object]) -> None:
        mailbox = str(args[0]) if args else ""
        box = self.server.mailboxes.get("INBOX" if mailbox.upper() == "INBOX" else mailbox)
        if box is None:
            self.box = None
            await self.line(f"{tag} NO [NONEXISTENT] Mailbox does not exist")
            return
        self.box = box
        self.read_only = name == "EXAMINE"
        await self.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        await self.line(f"* {len(box.messages)} EXISTS")
        await self.line("* 0 RECENT")
        await self.line(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid")
        await self.line(f"* OK [UIDNEXT {box.next_uid}] Predicted next UID")
        mode = "READ-ONLY" if self.read_only else "READ-WRITE"
        await self.line(f"{tag} OK [{mode}] {name} completed")

    def _matches(self, keys: list[object], seq: int, message: StoredMessage) -> bool:
        assert self.box is not None
        highest_seq = len(self.box.messages)
        highest_uid = self.box.messages[-1].uid if self.box.messages else 0
        headers_text = message.raw.decode(errors="replace")
        head, _, body = headers_text.partition("\n\n")
        i = 0

        def header(name: str) -> str:
            match = re.search(rf"^{name}:(.*)$", head, re.IGNORECASE | re.MULTILINE)
            return match.group(1).strip().lower() if match else ""

        def one() -> bool:
            nonlocal i
            key = keys[i]
            i += 1
            if isinstance(key, list):
                return self._matches(key, seq, message)
            word = str(key).upper()
            if word == "ALL":
                return True
            if word == "NOT":
                return not one()
            if word == "UID":
                value = str(keys[i])
                i += 1
                return _in_set(message.uid, value, highest_uid)
            if word in ("SEEN", "UNSEEN"):
                return ("\\Seen" in message.flags) == (word == "SEEN")
            if word in ("SUBJECT", "FROM", "TO", "BODY", "TEXT"):
                value = str(keys[i]).lower()
                i += 1
                where = {"BODY": body, "TEXT": headers_text}.get(word) or header(word.capitalize())
                return value in where.lower()
            if word in ("SINCE", "BEFORE", "ON"):
                value = _imap_date(str(keys[i]))
                i += 1
                day = message.internal_date.date()
                return {"SINCE": day >= value, "BEFORE": day < value, "ON": day == value}[word]
            if re.fullmatch(r"[0-9*:,]+", word):
                return _in_set(seq, word, highest_seq)
            raise ImapProtocolError(f"unsupported search key {word}")

        result = True
        while i < len(keys):
            result = one() and result
        return result

    async def search(self, tag: str, args: list[object], *, uid: bool) -> None:
        assert self.box is not None
        if args and str(args[0]).upper() == "CHARSET":
            args = args[2:]
        if not args:
            raise ImapProtocolError("SEARCH needs criteria")
        found = [
            str(message.uid if uid else seq)
            for seq, message in enumerate(self.box.messages, start=1)
            if self._matches(args, seq, message)
        ]
        await self.line("* SEARCH" + "".join(f" {n}" for n in found))
        await self.line(f"{tag} OK {'UID ' if uid else ''}SEARCH completed")

    async def fetch(self, tag: str, args: list[object], *, uid: bool) -> None:
        assert self.box is not None
        if len(args) != 2:
            raise ImapProtocolError("FETCH needs a sequence set and data items")
        sequence_set = str(args[0])
        items = args[1] if isinstance(args[1], list) else [args[1]]
        wanted = [str(item).upper() for item in items]
        macros = {
            "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
            "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
        }
        wanted = [part for item in wanted for part in macros.get(item, [item])]
        if uid and "UID" not in wanted:
            wanted.insert(0, "UID")
        messages = self.box.messages
        highest = (messages[-1].uid if uid else len(messages)) if messages else 0
        for seq, message in enumerate(messages, start=1):
            if not _in_set(message.uid if uid else seq, sequence_set, highest):
                continue
            parts: list[bytes] = []
            for item in wanted:
                if item == "UID":
                    parts.append(f"UID {message.uid}".encode())
                elif item == "FLAGS":
                    parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
                elif item == "RFC822.SIZE":
                    parts.append(f"RFC822.SIZE {len(message.raw)}".encode())
                elif item == "INTERNALDATE":
                    parts.append(f'INTERNALDATE "{_internal(message.internal_date)}"'.encode())
                elif item in ("RFC822", "BODY[]", "BODY.PEEK[]"):
                    label = "RFC822" if item == "RFC822" else "BODY[]"
                    parts.append(f"{label} {{{len(message.raw)}}}".encode() + CRLF + message.raw)
                    if item != "BODY.PEEK[]" and not self.read_only:
                        message.flags.add("\\Seen")
                else:
                    raise ImapProtocolError(f"unsupported fetch item {item}")
            await self.send(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")" + CRLF)
        await self.line(f"{tag} OK {'UID ' if uid else ''}FETCH completed")


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake IMAP4rev1 server with a few messages.")
    parser.add_argument("--port", type=int, default=1143)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeImapServer()
        for n in range(3):
            server.add_message(f"Message {n}", f"Body of message {n}")
        await server.start(port=args.port)
        banner = f"IMAP on 127.0.0.1:{server.port}, user {server.username}, password {server.password}"
        print(banner, flush=True)  # noqa: T201
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

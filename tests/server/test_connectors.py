"""Content connectors against loopback fakes: a web host (feeds, pages, robots.txt, 304s, a slow and a
failing host), a folder, an IMAP server; and the preview/discover routes through the real app."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import pathlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from server.services.agents import AgentDraft
from server.services.connectors._common import BadConfig, SourceRefused
from server.services.connectors.base import ConnectorError, ConnectorUnavailable
from server.services.connectors.communication import CommunicationConnector
from server.services.connectors.filesystem import FilesystemConnector
from server.services.connectors.registry import ConnectorRegistry, vault_resolver
from server.services.connectors.social import SocialConnector
from server.services.connectors.web import WebConnector
from server.services.errors import InvalidInput
from server.services.secrets import Actor, SecretDraft
from tests.conftest import API_KEY, bearer
from tests.fakes.feeds import FakeWebHost, FeedEntry
from tests.fakes.imap import FakeImapServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from server.config import Settings

AUTH = bearer(API_KEY)
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def entries(n: int, base: str) -> list[FeedEntry]:
    return [
        FeedEntry(
            id=f"urn:test:{i}",
            title=f"Entry {i}",
            link=f"{base}/pages/e{i}",
            summary=f"<p>Summary of entry {i}</p>",
            published=T0 + timedelta(hours=i),
            author=f"Author {i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """127.0.0.2 is denied to outside calls: the web connector must honour it too."""
    return settings.model_copy(update={"http_deny": ["127.0.0.2"]})


@pytest.fixture
async def site() -> AsyncIterator[FakeWebHost]:
    host = FakeWebHost()
    await host.start()
    yield host
    await host.stop()


@pytest.fixture
async def web() -> AsyncIterator[WebConnector]:
    connector = WebConnector(rate_per_second=50)
    yield connector
    await connector.aclose()


# -- web --


async def test_an_rss_feed_gives_its_entries_with_titles_links_dates(
    site: FakeWebHost, web: WebConnector
) -> None:
    url = site.add_feed("news", entries(3, site.url), kind="rss", title="Test News")
    result = await web.fetch_new({"url": url}, state := {})
    assert not result.failures
    assert [item.title for item in result.items] == ["Entry 0", "Entry 1", "Entry 2"]
    first = result.items[0]
    assert first.ref == "urn:test:0"
    assert first.url == f"{site.url}/pages/e0"
    assert first.mime_type == "text/html"
    assert b"Summary of entry 0" in first.body
    assert first.metadata["feed_title"] == "Test News"
    assert first.metadata["published"] == "2026-11-02T09:30:00Z"
    assert first.metadata["author"]  # feedparser keeps RSS <author>
    assert state["http"][url]["etag"]


async def test_an_atom_feed_gives_its_entries_with_titles_links_dates(
    site: FakeWebHost, web: WebConnector
) -> None:
    items = entries(2, site.url)
    items[1].content_html = "<p>Full <b>content</b> of entry 1</p>"
    url = site.add_feed("atom", items, kind="atom", title="Atom Test")
    result = await web.fetch_new({"feed_url": url}, {})
    assert [item.title for item in result.items] == ["Entry 0", "Entry 1"]
    assert [item.url for item in result.items] == [f"{site.url}/pages/e0", f"{site.url}/pages/e1"]
    assert result.items[1].metadata["published"] == "2026-11-02T10:30:00Z"
    assert result.items[1].metadata["author"] == "Author 1"
    assert b"Full <b>content</b>" in result.items[1].body  # content wins over summary
    assert result.items[0].metadata["feed_title"] == "Atom Test"


async def test_a_second_run_sends_the_etag_and_a_304_is_unchanged(
    site: FakeWebHost, web: WebConnector
) -> None:
    url = site.add_feed("news", entries(3, site.url))
    state: dict[str, Any] = {}
    assert len((await web.fetch_new({"url": url}, state)).items) == 3
    again = await web.fetch_new({"url": url}, state)
    assert again.items == []
    assert again.unchanged == 1
    assert not again.failures
    _, _, headers = [r for r in site.requests if r[1] == "/feeds/news"][-1]
    assert headers["If-None-Match"] == state["http"][url]["etag"]
    assert json.loads(json.dumps(state)) == state  # the caller persists it as JSON
    assert "If-Modified-Since" in headers


async def test_a_changed_feed_without_validators_yields_only_new_entries(
    site: FakeWebHost, web: WebConnector
) -> None:
    site.conditional = False  # a server that never answers 304
    url = site.add_feed("news", entries(3, site.url))
    state: dict[str, Any] = {}
    await web.fetch_new({"url": url}, state)
    site.add_feed("news", entries(4, site.url))
    again = await web.fetch_new({"url": url}, state)
    assert [item.ref for item in again.items] == ["urn:test:3"]
    assert again.unchanged == 3


async def test_robots_txt_disallow_is_refused_with_the_reason(site: FakeWebHost, web: WebConnector) -> None:
    site.robots = "User-agent: AgenticDesktop\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"
    site.add_page("ok", "Open", "fine")
    site.documents["/private/secret"] = site.documents["/pages/ok"]
    result = await web.fetch_new({"url": f"{site.url}/private/secret"}, {})
    assert result.items == []
    [(ref, why)] = result.failures
    assert ref == f"{site.url}/private/secret"
    assert "robots.txt" in why
    assert "AgenticDesktop/" in why
    assert "/private/secret" not in site.paths_requested()  # never fetched
    allowed = await web.fetch_new({"url": f"{site.url}/pages/ok"}, {})
    assert [item.title for item in allowed.items] == ["Open"]
    assert site.paths_requested().count("/robots.txt") == 1  # cached per host


async def test_a_page_comes_back_as_html_with_its_title(site: FakeWebHost, web: WebConnector) -> None:
    url = site.add_page("article", "An  Article\n Title", "Body text here")
    state: dict[str, Any] = {}
    [item] = (await web.fetch_new({"url": url}, state)).items
    assert item.title == "An Article Title"
    assert item.mime_type == "text/html"
    assert b"Body text here" in item.body
    assert item.url == url
    assert (await web.fetch_new({"url": url}, state)).unchanged == 1


async def test_a_slow_host_times_out_with_the_reason(site: FakeWebHost, web: WebConnector) -> None:
    url = site.add_feed("news", entries(1, site.url))
    site.stall = True
    result = await web.fetch_new({"url": url, "timeout": 0.3}, {})
    assert result.items == []
    [(_, why)] = result.failures
    assert "timed out after 0.3 s" in why


async def test_a_failing_host_is_a_failure(site: FakeWebHost, web: WebConnector) -> None:
    url = site.add_page("p", "P", "text")
    site.fail_paths = {"/pages/p"}
    [(ref, why)] = (await web.fetch_new({"url": url}, {})).failures
    assert ref == url
    assert "HTTP 500" in why
    other = FakeWebHost()  # a host where everything fails, robots.txt too
    await other.start()
    try:
        other.fail_status = 503
        [(_, why)] = (await web.fetch_new({"url": f"{other.url}/x"}, {})).failures
        assert "503" in why
    finally:
        await other.stop()


async def test_requests_to_one_host_are_rate_limited(site: FakeWebHost) -> None:
    first = site.add_page("one", "One", "1")
    second = site.add_page("two", "Two", "2")
    connector = WebConnector(rate_per_second=2)  # a burst of 2, then one every 0.5 s
    try:
        clock = asyncio.get_running_loop().time
        start = clock()
        await connector.fetch_new({"url": first}, {})  # robots.txt + page: the burst
        await connector.fetch_new({"url": second}, {})  # the third request waits its turn
        assert clock() - start >= 0.4
    finally:
        await connector.aclose()
    assert site.paths_requested() == ["/robots.txt", "/pages/one", "/pages/two"]


async def test_follow_links_fetches_each_entry_page(site: FakeWebHost, web: WebConnector) -> None:
    base = site.url
    site.add_page("e0", "Page zero", "The whole article zero")
    site.fail_paths = {"/pages/e1"}
    url = site.add_feed("news", entries(2, base))
    result = await web.fetch_new({"url": url, "follow_links": True}, {})
    by_ref = {item.ref: item for item in result.items}
    assert b"The whole article zero" in by_ref["urn:test:0"].body
    assert by_ref["urn:test:0"].metadata["full_page"] is True
    assert b"Summary of entry 1" in by_ref["urn:test:1"].body  # page failed: the summary stays
    assert [ref for ref, _ in result.failures] == [f"{base}/pages/e1"]


async def test_a_feed_of_a_thousand_items_is_read(site: FakeWebHost, web: WebConnector) -> None:
    url = site.add_generated_feed("big", 1000)
    result = await web.fetch_new({"url": url, "max_items": 10_000}, {})
    assert len(result.items) == 1000
    assert len({item.ref for item in result.items}) == 1000


async def test_feeds_can_be_parsed_in_another_process(site: FakeWebHost) -> None:
    """Everything the parse step takes and gives pickles, so a process pool keeps feedparser's
    GIL-holding work off the loop's process."""
    url = site.add_generated_feed("big", 50)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        connector = WebConnector(rate_per_second=50, parse_executor=pool)
        try:
            state: dict[str, Any] = {}
            first = await connector.fetch_new({"url": url}, state)
            site.conditional = False
            second = await connector.fetch_new({"url": url}, state)
        finally:
            await connector.aclose()
    assert len(first.items) == 50
    assert first.items[0].metadata["feed_title"] == "Generated big"
    assert (second.items, second.unchanged) == ([], 50)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"url": "ftp://example.test/feed"}, "unsupported URL scheme 'ftp'"),
        ({"url": "file:///etc/passwd"}, "unsupported URL scheme 'file'"),
        ({"url": "http://"}, "names no host"),
        ({"url": "http://example.test:99999/"}, "not a valid URL"),
        ({}, "url"),
        ({"url": "http://example.test/", "bogus": 1}, "bogus"),
    ],
)
async def test_a_bad_web_config_is_invalid_input_naming_the_field(
    web: WebConnector, config: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        web.validate(config)
    assert isinstance(caught.value, BadConfig)
    assert words in str(caught.value)


# -- filesystem --


async def test_filesystem_globs_recursive_and_changed_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.md").write_text("# A")
    (tmp_path / "b.txt").write_text("B")
    (tmp_path / "c.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "sub" / "d.md").write_text("# D")
    (tmp_path / ".hidden" / "e.md").write_text("# E")
    connector = FilesystemConnector()
    flat = await connector.fetch_new({"directory": str(tmp_path), "file_patterns": ["*.md", "*.txt"]}, {})
    assert sorted(item.title for item in flat.items) == ["a.md", "b.txt"]
    config = {"directory": str(tmp_path), "file_patterns": ["*.md"], "recursive": True}
    state: dict[str, Any] = {}
    first = await connector.fetch_new(config, state)
    assert sorted(item.metadata["relative_path"] for item in first.items) == ["a.md", "sub/d.md"]
    item = next(item for item in first.items if item.title == "a.md")
    assert item.ref == str(tmp_path / "a.md")
    assert item.url == (tmp_path / "a.md").as_uri()
    assert item.body == b"# A"
    assert item.mime_type == "text/markdown"

    (tmp_path / "sub" / "d.md").write_text("# D changed")
    (tmp_path / "new.md").write_text("# New")
    os.utime(tmp_path / "a.md", ns=(1, 1))  # touched, same bytes: not changed
    second = await connector.fetch_new(config, state)
    assert sorted(item.metadata["relative_path"] for item in second.items) == ["new.md", "sub/d.md"]
    assert second.unchanged == 1
    third = await connector.fetch_new(json.loads(json.dumps(config)), json.loads(json.dumps(state)))
    assert third.items == []
    assert third.unchanged == 3


async def test_an_unreadable_file_is_a_failure_entry_not_the_end_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ok.txt").write_text("fine")
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads files whatever their mode: refuse it the way the kernel would
        read_bytes = pathlib.Path.read_bytes

        def refuse(path: pathlib.Path) -> bytes:
            if path == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return read_bytes(path)

        monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    try:
        result = await FilesystemConnector().fetch_new({"directory": str(tmp_path)}, {})
    finally:
        locked.chmod(0o600)
    assert [item.title for item in result.items] == ["ok.txt"]
    [(ref, why)] = result.failures
    assert ref == str(locked)
    assert "Permission denied" in why


async def test_a_broken_link_is_a_failure_entry_and_fifos_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    (tmp_path / "link.txt").symlink_to(tmp_path / "ok.txt")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block the run forever
    result = await FilesystemConnector().fetch_new({"directory": str(tmp_path), "file_patterns": "*.txt"}, {})
    assert sorted(item.title for item in result.items) == ["link.txt", "ok.txt"]
    assert result.failures == [
        (str(tmp_path / "gone.txt"), f"cannot be read: broken symbolic link to {tmp_path / 'missing.txt'}")
    ]


async def test_a_file_over_the_size_limit_is_a_failure_entry(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * 5000)
    (tmp_path / "small.txt").write_text("fine")
    result = await FilesystemConnector().fetch_new({"directory": str(tmp_path), "max_file_size": 1000}, {})
    assert [item.title for item in result.items] == ["small.txt"]
    assert result.failures == [(str(tmp_path / "big.txt"), "5000 bytes is over the limit of 1000")]


async def test_a_missing_or_non_directory_path_is_refused(tmp_path: Path) -> None:
    connector = FilesystemConnector()
    with pytest.raises(SourceRefused, match="does not exist"):
        await connector.fetch_new({"directory": str(tmp_path / "nope")}, {})
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceRefused, match="is not a directory"):
        await connector.fetch_new({"directory": str(tmp_path / "file")}, {})
    with pytest.raises(BadConfig, match="absolute path"):
        connector.validate({"directory": "relative/dir"})


# -- IMAP --


@pytest.fixture
async def imap() -> AsyncIterator[FakeImapServer]:
    server = FakeImapServer(password="imap-pass-1")
    await server.start()
    yield server
    await server.stop()


@dataclass
class Mail:
    """A connector reading the fake IMAP server with a password from a real vault."""

    connector: CommunicationConnector
    server: FakeImapServer
    agent_id: str

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.server.port,
            "security": "plain",
            "username": self.server.username,
            "password_secret": "IMAP_PASSWORD",
            "agent_id": self.agent_id,
            "timeout": 5,
            **extra,
        }


@pytest.fixture
async def mail(backend: Backend, imap: FakeImapServer) -> Mail:
    """The app's own resolver over a real vault, with one agent's secrets."""
    agent = await backend.agents.create(AgentDraft(name="Mail reader", agent_type="mail"))
    actor = Actor("connector test", "api")
    await backend.secrets.create(
        agent.id, SecretDraft(secret_key="IMAP_PASSWORD", secret_value="imap-pass-1"), actor
    )
    await backend.secrets.create(
        agent.id, SecretDraft(secret_key="WRONG_PASSWORD", secret_value="nope"), actor
    )
    return Mail(CommunicationConnector(vault_resolver(backend.secrets)), imap, agent.id)


async def test_imap_fetches_messages_then_only_new_ones(imap: FakeImapServer, mail: Mail) -> None:
    first_id = imap.add_message("Hello", "First body", sender="Alice <alice@example.test>")
    imap.add_message("Report", "Plain part", html="<p>HTML part</p>")
    connector = mail.connector
    state: dict[str, Any] = {}
    result = await connector.fetch_new(mail.config(), state)
    assert [item.title for item in result.items] == ["Hello", "Report"]
    hello = result.items[0]
    assert hello.ref == first_id
    assert hello.body.strip() == b"First body"
    assert hello.mime_type == "text/plain"
    assert hello.metadata["from"] == "Alice <alice@example.test>"
    assert hello.metadata["to"] == "reader@example.test"
    assert hello.metadata["date"].endswith("Z")
    assert state["last_uid"] == 2
    assert state["uidvalidity"] == 1_700_000_000
    assert any(command.startswith("EXAMINE") for command in imap.commands)  # read-only
    assert all("\\Seen" not in message.flags for message in imap.mailboxes["INBOX"].messages)  # PEEK

    again = await connector.fetch_new(mail.config(), state)
    assert again.items == []
    third_id = imap.add_message("Later", "Third body")
    newer = await connector.fetch_new(mail.config(), state)
    assert [item.ref for item in newer.items] == [third_id]
    assert state["last_uid"] == 3


async def test_imap_reads_again_when_uidvalidity_changes(imap: FakeImapServer, mail: Mail) -> None:
    imap.add_message("One", "1")
    connector = mail.connector
    state: dict[str, Any] = {}
    await connector.fetch_new(mail.config(), state)
    imap.mailboxes["INBOX"].uidvalidity += 1
    result = await connector.fetch_new(mail.config(), state)
    assert [item.title for item in result.items] == ["One"]


async def test_imap_search_criteria_and_max_messages(imap: FakeImapServer, mail: Mail) -> None:
    for n in range(5):
        imap.add_message(f"Invoice {n}" if n % 2 else f"News {n}", "x")
    connector = mail.connector
    only = await connector.fetch_new(mail.config(search='SUBJECT "Invoice"'), {})
    assert [item.title for item in only.items] == ["Invoice 1", "Invoice 3"]
    state: dict[str, Any] = {}
    capped = await connector.fetch_new(mail.config(max_messages=2), state)
    assert [item.title for item in capped.items] == ["News 0", "Invoice 1"]
    rest = await connector.fetch_new(mail.config(max_messages=10), state)
    assert [item.title for item in rest.items] == ["News 2", "Invoice 3", "News 4"]


async def test_imap_wrong_password_is_a_connector_error_with_the_reason(
    imap: FakeImapServer, mail: Mail
) -> None:
    connector = mail.connector
    with pytest.raises(
        ConnectorError, match=r"login as reader@example.test .* refused: .*AUTHENTICATIONFAILED"
    ):
        await connector.fetch_new(mail.config(password_secret="WRONG_PASSWORD"), {})
    assert "imap-pass-1" not in " ".join(imap.commands)


async def test_imap_unreachable_server_and_missing_mailbox(imap: FakeImapServer, mail: Mail) -> None:
    connector = mail.connector
    with pytest.raises(SourceRefused, match="mailbox 'Archive'"):
        await connector.fetch_new(mail.config(mailbox="Archive"), {})
    port = imap.port
    await imap.stop()
    with pytest.raises(ConnectorError, match=f"127.0.0.1:{port} cannot be reached"):
        await connector.test(mail.config())


async def test_slack_and_social_are_unavailable_naming_what_is_missing() -> None:
    with pytest.raises(ConnectorUnavailable, match="Slack app with a bot token"):
        await CommunicationConnector(None).fetch_new({"platform": "slack", "channel": "#general"}, {})
    with pytest.raises(ConnectorUnavailable, match="X API developer account"):
        await SocialConnector().fetch_new({"platform": "twitter", "query": "#AI"}, {})
    with pytest.raises(BadConfig, match="platform"):
        SocialConnector().validate({"platform": "myspace"})


# -- routes --


async def test_route_web_previews_a_feed_without_whole_bodies(client: TestClient, site: FakeWebHost) -> None:
    items = entries(2, site.url)
    items[0].summary = "word " * 400
    url = site.add_feed("news", items)
    resp = await client.post(
        "/api/v1/content/connectors/web", json={"config": {"feed_url": url}}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["type"] == "web"
    assert body["total_items"] == 2
    first = body["items"][0]
    assert first["ref"] == "urn:test:0"
    assert first["title"] == "Entry 0"
    assert first["mime_type"] == "text/html"
    assert first["size"] == len(("word " * 400).strip().encode())  # feedparser trims the summary
    assert len(first["preview"]) == 500
    assert first["metadata"]["feed_title"] == "Fake Feed"
    assert body["failures"] == []
    # A preview stores nothing: the same request finds the same items again.
    again = await client.post("/api/v1/content/connectors/web", json={"feed_url": url}, headers=AUTH)
    assert (await again.json())["total_items"] == 2


async def test_route_web_reports_host_failures(client: TestClient, site: FakeWebHost) -> None:
    site.fail_status = 500
    resp = await client.post("/api/v1/content/connectors/web", json={"url": f"{site.url}/x"}, headers=AUTH)
    assert resp.status == 200
    [failure] = (await resp.json())["failures"]
    assert "HTTP 500" in failure["reason"]


async def test_route_web_goes_through_the_outbound_policy(client: TestClient) -> None:
    denied = FakeWebHost()
    await denied.start(host="127.0.0.2")
    try:
        url = denied.add_feed("news", entries(2, denied.url))
        resp = await client.post("/api/v1/content/connectors/web", json={"feed_url": url}, headers=AUTH)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["total_items"] == 0
        [failure] = body["failures"]
        assert "127.0.0.2" in failure["reason"]
        assert denied.requests == [], "a denied host must never be contacted"
    finally:
        await denied.stop()


async def test_route_bad_url_is_422_naming_the_field(client: TestClient) -> None:
    resp = await client.post(
        "/api/v1/content/connectors/web", json={"config": {"url": "gopher://x/"}}, headers=AUTH
    )
    assert resp.status == 422
    [issue] = (await resp.json())["detail"]
    assert issue["loc"] == ["body", "config", "url"]
    assert "unsupported URL scheme 'gopher'" in issue["msg"]


async def test_route_filesystem_preview_and_missing_folder(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text("# Note")
    resp = await client.post(
        "/api/v1/content/connectors/filesystem", json={"config": {"directory": str(tmp_path)}}, headers=AUTH
    )
    assert resp.status == 200
    [item] = (await resp.json())["items"]
    assert item["preview"] == "# Note"
    assert item["url"] == (tmp_path / "note.md").as_uri()
    missing = await client.post(
        "/api/v1/content/connectors/filesystem", json={"directory": str(tmp_path / "gone")}, headers=AUTH
    )
    assert missing.status == 400
    assert "does not exist" in (await missing.json())["detail"]


@pytest.mark.parametrize(
    ("path", "config", "words"),
    [
        ("social", {"platform": "twitter", "query": "#AI"}, "X API developer account"),
        ("social", {"platform": "reddit", "subreddit": "technology"}, "Reddit API application"),
        ("communication", {"platform": "slack", "channel": "#general"}, "Slack app with a bot token"),
    ],
)
async def test_route_social_and_slack_are_501_naming_what_is_missing(
    client: TestClient, path: str, config: dict[str, Any], words: str
) -> None:
    resp = await client.post(f"/api/v1/content/connectors/{path}", json={"config": config}, headers=AUTH)
    assert resp.status == 501
    body = await resp.json()
    assert words in body["detail"]
    assert body["status_code"] == 501


async def test_route_communication_reads_a_mailbox_with_a_vault_secret(
    client: TestClient, mail: Mail
) -> None:
    mail.server.add_message("Status", "All systems nominal")
    resp = await client.post("/api/v1/content/connectors/communication", json=mail.config(), headers=AUTH)
    assert resp.status == 200, await resp.text()
    [item] = (await resp.json())["items"]
    assert item["title"] == "Status"
    assert item["preview"].strip() == "All systems nominal"
    assert item["url"].startswith(f"imap://reader%40example.test@127.0.0.1:{mail.server.port}/INBOX;")
    wrong = await client.post(
        "/api/v1/content/connectors/communication",
        json=mail.config(password_secret="WRONG_PASSWORD"),
        headers=AUTH,
    )
    assert wrong.status == 400
    assert "AUTHENTICATIONFAILED" in (await wrong.json())["detail"]
    missing = await client.post(
        "/api/v1/content/connectors/communication", json=mail.config(password_secret="NOPE"), headers=AUTH
    )
    assert missing.status == 400
    detail = (await missing.json())["detail"]
    assert "'NOPE'" in detail
    assert f"POST /api/v1/agents/{mail.agent_id}/secrets" in detail
    no_agent = await client.post(
        "/api/v1/content/connectors/communication", json=mail.config(agent_id=None), headers=AUTH
    )
    assert no_agent.status == 422
    assert "agent_id" in (await no_agent.json())["detail"][0]["msg"]
    await mail.server.stop()
    down = await client.post("/api/v1/content/connectors/communication", json=mail.config(), headers=AUTH)
    assert down.status == 503
    assert f"127.0.0.1:{mail.server.port} cannot be reached" in (await down.json())["detail"]


async def test_routes_need_credentials(client: TestClient) -> None:
    resp = await client.post("/api/v1/content/discover", json={"sources": []})
    assert resp.status == 401


async def test_discover_runs_sources_concurrently_and_one_failure_sinks_none(
    client: TestClient, site: FakeWebHost, tmp_path: Path
) -> None:
    url = site.add_feed("news", entries(2, site.url))
    (tmp_path / "a.txt").write_text("A")
    slow = FakeWebHost()
    await slow.start()
    slow.stall = True
    try:
        resp = await client.post(
            "/api/v1/content/discover",
            json={
                "sources": [
                    {"type": "web", "config": {"feed_url": url}},
                    {"type": "social", "config": {"platform": "twitter", "query": "#AI"}},
                    {"type": "filesystem", "config": {"directory": str(tmp_path)}},
                    {"type": "filesystem", "config": {"directory": str(tmp_path / "gone")}},
                    {"type": "web", "config": {"url": f"{slow.url}/feed", "timeout": 0.3}},
                ]
            },
            headers=AUTH,
        )
    finally:
        await slow.stop()
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    web_ok, social, files, gone, timed_out = body["sources"]
    assert (web_ok["status"], web_ok["total_items"]) == ("ok", 2)
    assert social["status"] == "unavailable"
    assert "X API" in social["error"]
    assert [item["title"] for item in files["items"]] == ["a.txt"]
    assert gone["status"] == "failed"
    assert "does not exist" in gone["error"]
    assert timed_out["status"] == "ok"
    assert "timed out" in timed_out["failures"][0]["reason"]
    assert body["total_items"] == 3
    assert body["failed_sources"] == 2
    assert [source["index"] for source in body["sources"]] == [0, 1, 2, 3, 4]


async def test_discover_unknown_kind_is_422_with_the_valid_kinds(client: TestClient) -> None:
    resp = await client.post(
        "/api/v1/content/discover",
        json={
            "sources": [
                {"type": "web", "config": {"url": "http://127.0.0.1:9/"}},
                {"type": "ftp", "config": {}},
            ]
        },
        headers=AUTH,
    )
    assert resp.status == 422
    [issue] = (await resp.json())["detail"]
    assert issue["loc"] == ["body", "sources", 1, "type"]
    assert "valid types: web, filesystem, communication, social" in issue["msg"]


async def test_discover_bad_config_refuses_the_whole_request(client: TestClient, site: FakeWebHost) -> None:
    url = site.add_feed("news", entries(1, site.url))
    resp = await client.post(
        "/api/v1/content/discover",
        json={
            "sources": [{"type": "web", "config": {"url": url}}, {"type": "web", "config": {"url": "nope"}}]
        },
        headers=AUTH,
    )
    assert resp.status == 422
    [issue] = (await resp.json())["detail"]
    assert issue["loc"] == ["body", "sources", 1, "config", "url"]
    assert "/feeds/news" not in site.paths_requested()  # nothing ran


async def test_registry_plugs_in_a_new_kind() -> None:
    registry = ConnectorRegistry()
    registry.register("social", FilesystemConnector)
    assert registry.kinds == ("web", "filesystem", "communication", "social")
    assert isinstance(registry.get("social"), FilesystemConnector)
    await registry.close()


async def test_the_default_client_sends_our_user_agent(site: FakeWebHost) -> None:
    async with httpx.AsyncClient() as client:
        connector = WebConnector(client)
        url = site.add_page("p", "P", "x")
        await connector.fetch_new({"url": url}, {})
    agents = {headers.get("User-Agent", "") for _, _, headers in site.requests}
    assert agents
    assert all(agent.startswith("AgenticDesktop/") for agent in agents)

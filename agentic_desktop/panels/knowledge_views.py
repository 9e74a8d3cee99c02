"""What the Knowledge panel shows below its sources: ranked search results with the query's words
highlighted, and one item (summary, entities, similar items, its text)."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from server.services.content import ContentItem
    from server.services.semantic import SearchHit

HIGHLIGHT = "background:#fff1b8; color:#7a4b00; font-weight:600"
MUTED = "color:#8a93a6"
OPENABLE = ("http", "https", "file")
TEXT_PREVIEW_CHARS = 3000


def query_words(query: str) -> list[str]:
    """The words of ``query`` worth marking (two letters or more), longest first."""
    words = {word.lower() for word in re.findall(r"\w{2,}", query)}
    return sorted(words, key=lambda word: (-len(word), word))


def highlight(text: str, query: str) -> str:
    """``text`` as HTML (escaped) with each word of ``query`` marked."""
    words = query_words(query)
    if not words:
        return escape(text)
    pattern = re.compile("|".join(re.escape(word) for word in words), re.IGNORECASE)
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        parts.append(escape(text[last : match.start()]))
        parts.append(f"<span style='{HIGHLIGHT}'>{escape(match.group())}</span>")
        last = match.end()
    parts.append(escape(text[last:]))
    return "".join(parts)


def openable(url: str | None) -> bool:
    """Whether Open may hand ``url`` to the desktop (web pages and local files only)."""
    return bool(url) and QUrl(url or "").scheme().lower() in OPENABLE


def hit_url(hit: SearchHit) -> str | None:
    """Where the hit's item can be opened: its URL, else its file path as a file:// URL."""
    url = hit.metadata.get("url")
    if isinstance(url, str) and url:
        return url
    ref = hit.metadata.get("ref")
    if isinstance(ref, str) and ref.startswith("/"):
        return QUrl.fromLocalFile(ref).toString()
    return None


class _Browser(QTextBrowser):
    """A read-only rich-text pane whose links the panel handles (nothing is fetched by Qt)."""

    def __init__(self) -> None:
        super().__init__()
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)


class ResultsView(_Browser):
    """Ranked results: title (shows the item), score, source, snippet, Open."""

    item_chosen = Signal(str)
    open_requested = Signal(QUrl)

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[SearchHit] = []
        self.query = ""
        self.anchorClicked.connect(self._on_anchor)

    def show_hits(self, query: str, hits: Sequence[SearchHit], source_names: Mapping[str, str]) -> None:
        """Show ``hits`` best first; an empty list says so."""
        self.query, self.hits = query, list(hits)
        if not hits:
            self.show_note(
                f"Nothing found for “{escape(query)}”. Try other words, or add and run a source that "
                "holds what you look for."
            )
            return
        blocks = []
        for rank, hit in enumerate(hits, start=1):
            title = str(hit.metadata.get("title") or hit.metadata.get("ref") or hit.item_id)
            source = source_names.get(str(hit.metadata.get("source_id", "")), "")
            facts = [f"score {hit.score:.2f}"]
            if source:
                facts.append(escape(source))
            url = hit_url(hit)
            open_link = (
                f" · <a href='open:{escape(url, quote=True)}'>Open</a>" if url and openable(url) else ""
            )
            blocks.append(
                f"<p style='margin-bottom:10px'>"
                f"<span style='{MUTED}'>{rank}.</span> "
                f"<a href='item:{escape(hit.item_id, quote=True)}'><b>{escape(title)}</b></a>"
                f"<br><span style='{MUTED}'>{' · '.join(facts)}</span>{open_link}"
                f"<br>{highlight(hit.text, query)}</p>"
            )
        self.setHtml("".join(blocks))

    def show_note(self, html: str) -> None:
        """A line in place of results (empty results, a failure, the first visit)."""
        self.hits = []
        self.setHtml(f"<p style='{MUTED}'>{html}</p>")

    @Slot(QUrl)
    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("item:"):
            self.item_chosen.emit(text.removeprefix("item:"))
        elif text.startswith("open:"):
            self.open_requested.emit(QUrl(text.removeprefix("open:")))


class ItemView(QWidget):
    """One item: title, where it came from, summary and entities (or a button to make them),
    similar items, and the start of its text."""

    item_chosen = Signal(str)
    open_requested = Signal(QUrl)

    def __init__(self) -> None:
        super().__init__()
        self.item: ContentItem | None = None
        self.title = QLabel("No item selected")
        self.title.setObjectName("cardValue")
        self.title.setWordWrap(True)
        self.facts = QLabel("Click a result's title to see the item here.")
        self.facts.setObjectName("cardDetail")
        self.facts.setWordWrap(True)
        self.analyse_button = QPushButton("Summarize && find entities")
        self.analyse_button.setToolTip("Ask the default model for a summary and the named entities")
        self.similar_button = QPushButton("Similar items")
        self.open_button = QPushButton("Open")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.analyse_button)
        buttons.addWidget(self.similar_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        self.body = _Browser()
        self.body.anchorClicked.connect(self._on_anchor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.facts)
        layout.addLayout(buttons)
        layout.addWidget(self.body, 1)
        self.open_button.clicked.connect(self._on_open)
        self._similar_html = ""
        self._note = ""
        self.show_item(None)

    def show_item(self, item: ContentItem | None, source_name: str = "") -> None:
        """Show ``item`` (its stored results included); ``None`` clears the view."""
        self.item = item
        self._similar_html, self._note = "", ""
        for button in (self.analyse_button, self.similar_button):
            button.setEnabled(item is not None)
        self.open_button.setEnabled(item is not None and openable(self.url()))
        if item is None:
            self.title.setText("No item selected")
            self.facts.setText("Click a result's title to see the item here.")
            self.body.clear()
            return
        self.title.setText(item.title or item.ref or item.id)
        facts = [item.mime_type, f"{item.size_bytes:,} bytes", f"quality {item.quality_score:.2f}"]
        if source_name:
            facts.insert(0, source_name)
        facts.append(f"updated {item.updated_at.astimezone():%Y-%m-%d %H:%M}")
        self.facts.setText(" · ".join(facts))
        self._render()

    def url(self) -> str | None:
        if self.item is None:
            return None
        if self.item.url:
            return self.item.url
        if self.item.ref and self.item.ref.startswith("/"):
            return QUrl.fromLocalFile(self.item.ref).toString()
        return None

    def set_note(self, text: str) -> None:
        """A line above the item's content (work in progress, a failure)."""
        self._note = text
        self._render()

    def show_similar(self, hits: Sequence[SearchHit]) -> None:
        """List items like this one (titles link to them)."""
        if not hits:
            self._similar_html = f"<p style='{MUTED}'>No similar items stored.</p>"
        else:
            rows = "".join(
                f"<li><a href='item:{escape(hit.item_id, quote=True)}'>"
                f"{escape(str(hit.metadata.get('title') or hit.item_id))}</a>"
                f" <span style='{MUTED}'>({hit.score:.2f})</span></li>"
                for hit in hits
            )
            self._similar_html = f"<ul>{rows}</ul>"
        self._render()

    def _render(self) -> None:
        item = self.item
        if item is None:
            return
        results: dict[str, Any] = item.results or {}
        html: list[str] = []
        if self._note:
            html.append(f"<p style='{MUTED}'><i>{escape(self._note)}</i></p>")
        summary = (results.get("summarize") or {}).get("summary")
        html.append("<h4>Summary</h4>")
        html.append(
            f"<p>{escape(summary)}</p>"
            if summary
            else f"<p style='{MUTED}'>Not summarized yet: click “Summarize & find entities”.</p>"
        )
        entities = (results.get("extract_entities") or {}).get("entities")
        html.append("<h4>Entities</h4>")
        if entities:
            html.append(
                "<p>"
                + ", ".join(
                    f"{escape(str(entity.get('text')))} <span style='{MUTED}'>"
                    f"({escape(str(entity.get('type')))})</span>"
                    for entity in entities
                )
                + "</p>"
            )
        elif "extract_entities" in results:
            html.append(f"<p style='{MUTED}'>The model found no named entities.</p>")
        else:
            html.append(f"<p style='{MUTED}'>Not extracted yet.</p>")
        if self._similar_html:
            html.append("<h4>Similar items</h4>" + self._similar_html)
        text = item.text[:TEXT_PREVIEW_CHARS]
        more = "…" if len(item.text) > TEXT_PREVIEW_CHARS else ""
        html.append(f"<h4>Text</h4><p style='white-space:pre-wrap'>{escape(text)}{more}</p>")
        self.body.setHtml("".join(html))

    @Slot(QUrl)
    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("item:"):
            self.item_chosen.emit(text.removeprefix("item:"))

    @Slot()
    def _on_open(self) -> None:
        url = self.url()
        if url and openable(url):
            self.open_requested.emit(QUrl(url))

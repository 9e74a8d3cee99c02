"""Knowledge: the sources the app ingests (feeds, pages, folders, mailboxes), their runs and schedules,
semantic search over what they brought in, one item's summary and entities, and "Ask": the top
results handed to a chat session as context (retrieval-augmented chat)."""

from __future__ import annotations

import contextlib
from html import escape
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.knowledge_dialogs import KINDS, SourceDialog, kind_of
from agentic_desktop.panels.knowledge_table import (
    SOURCE_ROLE,
    SourcesTableModel,
    kind_label,
    run_result,
    where,
)
from agentic_desktop.panels.knowledge_views import ItemView, ResultsView, _Browser, hit_url
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.services.errors import AgenticError, DependencyDown

if TYPE_CHECKING:
    import asyncio

    from PySide6.QtGui import QShowEvent

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import IngestFinished, IngestProgressed, OllamaStatusChanged
    from server.services.ingest import IngestRun, Source
    from server.services.semantic import SearchHit

TOP_K = 10
ASK_RESULTS = 5  # results handed to the chat as context
ASK_CHARS = 1500  # of each result's text
SIMILAR = 5
MUTED = "color:#8a93a6"


def ask_message(question: str, hits: list[SearchHit], texts: dict[str, str]) -> str:
    """The first chat message of an Ask: the question, then the numbered context it may use."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        title = str(hit.metadata.get("title") or hit.item_id)
        url = hit_url(hit)
        text = texts.get(hit.item_id, hit.text)[:ASK_CHARS]
        blocks.append(f"[{number}] {title}" + (f" ({url})" if url else "") + f"\n{text}")
    context = "\n\n".join(blocks)
    return (
        "Answer the question using only the context below, taken from my knowledge base. Cite the "
        "sources you use as [1], [2], ... If the context does not hold the answer, say so.\n\n"
        f"Question: {question}\n\nContext:\n\n{context}"
    )


class KnowledgePanel(QWidget):
    """Sources and their runs above; search, results and the chosen item below."""

    ask_requested = Signal(str, str, dict)  # chat title, first message (question + context), metadata

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._bars: dict[str, QProgressBar] = {}
        self._loading: asyncio.Task[None] | None = None
        self._details: asyncio.Task[None] | None = None
        self._searching: asyncio.Task[None] | None = None
        self._item_loading: asyncio.Task[None] | None = None
        self._dialog: SourceDialog | None = None
        self.last_runs: dict[str, IngestRun] = {}
        self.search_error = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 16)
        layout.setSpacing(10)
        layout.addWidget(
            PanelHeader(
                "Knowledge",
                "Feeds, pages, folders and mailboxes the app ingests; search them by meaning, and ask "
                "a model about what they hold.",
            )
        )
        self.banner = QLabel()
        self.banner.setObjectName("modelsBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        layout.addWidget(self.banner)
        layout.addLayout(self._build_search_row())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_sources())
        splitter.addWidget(self._build_lower())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 440])
        layout.addWidget(splitter, 1)
        self.message = QLabel()
        self.message.setObjectName("cardDetail")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)

        self.search_edit.returnPressed.connect(self.on_search)
        self.search_edit.textChanged.connect(self._update_buttons)
        self.search_button.clicked.connect(self.on_search)
        self.ask_button.clicked.connect(self.on_ask_clicked)
        self.run_button.clicked.connect(self.on_run_clicked)
        self.edit_button.clicked.connect(self.on_edit_clicked)
        self.enable_button.clicked.connect(self.on_enable_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.on_edit_clicked())
        self.model.modelReset.connect(self._update_buttons)
        self.results.item_chosen.connect(self.show_item)
        self.results.open_requested.connect(self.open_url)
        self.item_view.item_chosen.connect(self.show_item)
        self.item_view.open_requested.connect(self.open_url)
        self.item_view.analyse_button.clicked.connect(self.on_analyse_clicked)
        self.item_view.similar_button.clicked.connect(self.on_similar_clicked)
        self.source_items.anchorClicked.connect(self._on_source_anchor)
        QShortcut(
            QKeySequence("Ctrl+K"),
            self,
            self.focus_search,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence(Qt.Key.Key_F5),
            self,
            self.reload,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        bridge.ingest_progressed.connect(self.on_ingest_progressed)
        bridge.ingest_finished.connect(self.on_ingest_finished)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)
        status = backend.llm.status
        self._show_ollama(status.reachable, status.detail)
        self.results.show_note("Type what you are looking for and press Enter (Ctrl+K jumps here).")
        self._update_buttons()
        self.reload()

    # -- building --

    def _build_search_row(self) -> QHBoxLayout:
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search your knowledge by meaning…   (Ctrl+K, Enter)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_button = QPushButton("Search")
        self.ask_button = QPushButton("Ask")
        self.ask_button.setObjectName("primary")
        self.ask_button.setToolTip(
            f"Send the question with the top {ASK_RESULTS} results as context to a new chat session"
        )
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.search_edit, 1)
        row.addWidget(self.search_button)
        row.addWidget(self.ask_button)
        return row

    def _build_sources(self) -> QWidget:
        self.add_button = QPushButton("Add source")
        self.add_button.setObjectName("primary")
        menu = QMenu(self.add_button)
        self.add_actions = {}
        for kind, (_, label) in KINDS.items():
            action = menu.addAction(f"{label}…")
            action.triggered.connect(lambda _checked=False, kind=kind: self.open_add_dialog(kind))
            self.add_actions[kind] = action
        self.add_button.setMenu(menu)
        self.run_button = QPushButton("Run now")
        self.run_button.setToolTip("Ingest the selected source now")
        self.edit_button = QPushButton("Edit…")
        self.enable_button = QPushButton("Disable")
        self.delete_button = QPushButton("Delete…")
        tools = QHBoxLayout()
        tools.setSpacing(8)
        title = QLabel("SOURCES")
        title.setObjectName("cardTitle")
        tools.addWidget(title)
        tools.addStretch(1)
        for button in (self.run_button, self.edit_button, self.enable_button, self.delete_button):
            tools.addWidget(button)
        tools.addWidget(self.add_button)

        self.model = SourcesTableModel()
        self.table = row_table(self.model, "sourcesTable")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel(
            "<b>No sources yet.</b><br>Add a feed, a web page, a folder or a mailbox with "
            "<i>Add source</i>: the app ingests it now or on a schedule, and you can search it here."
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#5b6478; padding:18px;")
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.empty)
        self.table_stack.addWidget(self.table)

        self.progress_box = QVBoxLayout()
        self.progress_box.setContentsMargins(0, 0, 0, 0)
        self.progress_box.setSpacing(4)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 4)
        column.setSpacing(6)
        column.addLayout(tools)
        column.addWidget(self.table_stack, 1)
        column.addLayout(self.progress_box)
        return box

    def _build_lower(self) -> QWidget:
        self.results = ResultsView()
        self.run_view = _Browser()
        self.source_items = _Browser()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.results, "Search results")
        self.tabs.addTab(self.run_view, "Last run")
        self.tabs.addTab(self.source_items, "Items of source")
        self.item_view = ItemView()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(self.tabs)
        split.addWidget(self.item_view)
        split.setSizes([560, 440])
        return split

    def showEvent(self, event: QShowEvent) -> None:
        """Fresh sources and details each time the panel comes on screen (runs may have happened)."""
        super().showEvent(event)
        self.reload()

    # -- what tests and the window use --

    def selected_source(self) -> Source | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(SOURCE_ROLE) if rows else None

    def select_source(self, source_id: str) -> None:
        row = self.model.row_of(source_id)
        if row is not None:
            self.table.selectRow(row)

    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setStyleSheet("color:#d64545;" if error else "")
        self.message.setText(text)

    async def confirm(self, title: str, text: str) -> bool:
        """Ask before deleting (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, yes_text="Delete")

    @Slot()
    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    @Slot(QUrl)
    def open_url(self, url: QUrl) -> None:
        """Open a web page or a local file with the desktop's own application."""
        if url.scheme().lower() in ("http", "https", "file"):
            QDesktopServices.openUrl(url)

    # -- Ollama --

    def _show_ollama(self, reachable: bool, detail: str) -> None:
        if reachable:
            self.banner.hide()
            return
        self.banner.setText(
            f"Ollama is not reachable ({detail}). Sources can still be added and ingested, but search "
            f"and Ask need embeddings from Ollama ({self._backend.settings.embedding_model}): start "
            "Ollama or change its URL in Settings."
        )
        self.banner.show()

    @Slot(object)
    def on_ollama_status_changed(self, event: OllamaStatusChanged) -> None:
        self._show_ollama(event.reachable, event.detail)

    # -- sources --

    def reload(self) -> None:
        """Load the sources again (a load already running is replaced)."""
        self._loading = background.restart(self._loading, self.refresh(), name="knowledge-sources")

    async def refresh(self) -> None:
        try:
            sources = await self._backend.ingest.list_sources()
        except AgenticError as exc:
            self.say(f"Could not load the sources: {exc}", error=True)
            return
        selected = self.selected_source()
        self.model.reset(sources)
        self.table_stack.setCurrentIndex(1 if sources else 0)
        if selected is not None:
            self.select_source(selected.id)
        elif sources:
            self.table.selectRow(0)
        self.on_selection_changed()

    @Slot()
    def _update_buttons(self, *_args: Any) -> None:
        source = self.selected_source()
        for button in (self.run_button, self.edit_button, self.enable_button, self.delete_button):
            button.setEnabled(source is not None)
        if source is not None:
            self.run_button.setEnabled(source.id not in self._bars)
            self.enable_button.setText("Disable" if source.enabled else "Enable")
            self.enable_button.setToolTip(
                "Stop running it on its schedule" if source.enabled else "Run it on its schedule again"
            )
        has_hits = bool(self.results.hits)
        self.ask_button.setEnabled(has_hits or bool(self.search_edit.text().strip()))

    @Slot()
    def on_selection_changed(self, *_args: Any) -> None:
        self._update_buttons()
        source = self.selected_source()
        if source is not None and self.isVisible():
            self._details = background.restart(
                self._details, self.load_details(source), name="knowledge-details"
            )

    async def load_details(self, source: Source) -> None:
        """The source's last run (counts, failures with reasons) and its newest items."""
        try:
            runs = await self._backend.ingest.runs(source.id, limit=1)
            page = await self._backend.content.list(source_id=source.id, limit=100)
        except AgenticError as exc:
            self.run_view.setHtml(f"<p style='color:#d64545'>Could not load the runs: {exc}</p>")
            return
        if not shiboken6.isValid(self.run_view):  # the window closed while the runs were read
            return
        if runs:
            self.last_runs[source.id] = runs[0]
        self._show_run(source, runs[0] if runs else None)
        if page.items:
            rows = "".join(
                f"<li><a href='item:{escape(item.id, quote=True)}'>{escape(item.title or item.id)}"
                f"</a>&nbsp; <span style='{MUTED}'>{escape(item.mime_type)}</span></li>"
                for item in page.items
            )
            more = f"<p style='{MUTED}'>{page.total - len(page.items)} more.</p>" if page.total > 100 else ""
            self.source_items.setHtml(f"<p><b>{page.total} item(s)</b></p><ul>{rows}</ul>{more}")
        else:
            self.source_items.setHtml(f"<p style='{MUTED}'>Nothing ingested from this source yet.</p>")

    def _show_run(self, source: Source, run: IngestRun | None) -> None:
        head = f"<p><b>{escape(source.name)}</b> · {escape(kind_label(source))} · {escape(where(source))}</p>"
        if run is None:
            self.run_view.setHtml(head + f"<p style='{MUTED}'>Not run yet: click Run now.</p>")
            return
        summary = escape(run_result(run.model_dump(mode="json")))
        lines = [head, f"<p>{run.started_at.astimezone():%Y-%m-%d %H:%M:%S} ({run.trigger}): {summary}</p>"]
        lines.append(
            f"<p>{run.new_count} new · {run.changed_count} changed · {run.unchanged_count} unchanged · "
            f"{run.failed_count} failed</p>"
        )
        if run.error:
            lines.append(f"<p style='color:#d64545'>{escape(run.error)}</p>")
        if run.failures:
            rows = "".join(
                f"<li><b>{escape(failure.ref)}</b>: {escape(failure.reason)}</li>" for failure in run.failures
            )
            lines.append(f"<p>Failures:</p><ul>{rows}</ul>")
        self.run_view.setHtml("".join(lines))

    def open_add_dialog(self, kind: str) -> SourceDialog:
        """Open the add dialog of ``kind`` (feed, page, folder, mailbox)."""
        return self._open_dialog(SourceDialog(self._backend, self, kind))

    @Slot()
    def on_edit_clicked(self) -> None:
        source = self.selected_source()
        if source is not None:
            self._open_dialog(SourceDialog(self._backend, self, kind_of(source), source))

    def _open_dialog(self, dialog: SourceDialog) -> SourceDialog:
        self._dialog = dialog
        dialog.saved.connect(self.on_source_saved)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @Slot(object)
    def on_source_saved(self, source: Source) -> None:
        self.say(f"Saved '{source.name}'. Click Run now to ingest it.")
        background.start(self._reload_and_select(source.id), name="knowledge-saved")

    async def _reload_and_select(self, source_id: str) -> None:
        await self.refresh()
        self.select_source(source_id)

    @async_slot()
    async def on_run_clicked(self) -> None:
        """Start a run of the selected source; progress comes on the bus."""
        source = self.selected_source()
        if source is None:
            return
        try:
            await self._backend.ingest.run_now(source.id)
        except AgenticError as exc:
            self.say(f"Could not run '{source.name}': {exc}", error=True)
            return
        self._bar(source.id, source.name)
        self.say(f"Ingesting '{source.name}'…")
        self._update_buttons()

    @async_slot()
    async def on_enable_clicked(self) -> None:
        source = self.selected_source()
        if source is None:
            return
        try:
            await self._backend.ingest.update_source(source.id, {"enabled": not source.enabled})
        except AgenticError as exc:
            self.say(f"Could not change '{source.name}': {exc}", error=True)
            return
        self.say(f"'{source.name}' {'disabled' if source.enabled else 'enabled'}.")
        await self.refresh()

    @async_slot()
    async def on_delete_clicked(self) -> None:
        source = self.selected_source()
        if source is None:
            return
        question = (
            f"Delete the source '{source.name}' ({where(source)}), its runs and its schedule? "
            "The items it brought in stay searchable."
        )
        if not await self.confirm("Delete source", question):
            return
        try:
            await self._backend.ingest.delete_source(source.id)
        except AgenticError as exc:
            self.say(f"Could not delete '{source.name}': {exc}", error=True)
            return
        self.say(f"Deleted '{source.name}'.")
        self.run_view.clear()
        self.source_items.clear()
        await self.refresh()

    # -- progress --

    def _bar(self, source_id: str, name: str) -> QProgressBar:
        bar = self._bars.get(source_id)
        if bar is None:
            bar = QProgressBar()
            bar.setRange(0, 0)  # busy until the connector says how many items came
            bar.setFormat(f"{name}: fetching…")
            bar.setTextVisible(True)
            bar.setProperty("source_name", name)
            self._bars[source_id] = bar
            self.progress_box.addWidget(bar)
        return bar

    @Slot(object)
    def on_ingest_progressed(self, event: IngestProgressed) -> None:
        """Move the source's bar (one appears for scheduled runs too)."""
        row = self.model.row_of(event.source_id)
        name = self.model.sources()[row].name if row is not None else event.source_id
        bar = self._bar(event.source_id, name)
        if event.total:
            bar.setRange(0, event.total)
            bar.setValue(event.done)
            bar.setFormat(
                f"{name}: {event.done}/{event.total} · {event.new} new, {event.changed} changed, "
                f"{event.failed} failed"
            )
        self._update_buttons()

    @Slot(object)
    def on_ingest_finished(self, event: IngestFinished) -> None:
        """Drop the bar, say what the run did, show its failures, reload the table."""
        run = event.run
        bar = self._bars.pop(run.source_id, None)
        name = bar.property("source_name") if bar is not None else run.source_id
        if bar is not None:
            self.progress_box.removeWidget(bar)
            bar.deleteLater()
        self.last_runs[run.source_id] = run
        text = f"'{name}': {run_result(run.model_dump(mode='json'))}"
        if run.failures:
            text += f" — first failure: {run.failures[0].ref}: {run.failures[0].reason}"
        self.say(text, error=run.status == "failed")
        background.start(self._after_run(run.source_id), name="knowledge-after-run")

    async def _after_run(self, source_id: str) -> None:
        await self.refresh()
        source = self.selected_source()
        if source is not None and source.id == source_id:
            await self.load_details(source)
            self.tabs.setCurrentWidget(self.run_view)

    # -- search --

    def _source_names(self) -> dict[str, str]:
        return {source.id: source.name for source in self.model.sources()}

    @async_slot()
    async def on_search(self) -> None:
        query = self.search_edit.text().strip()
        if query:
            self._searching = background.restart(self._searching, self.search(query), name="knowledge-search")

    async def search(self, query: str) -> list[SearchHit]:
        """Show the items nearest in meaning to ``query``."""
        self.tabs.setCurrentWidget(self.results)
        self.results.show_note("Searching…")
        self.search_error = ""
        try:
            found = await self._backend.semantic.search(query=query, top_k=TOP_K)
        except DependencyDown as exc:
            self.search_error = (
                f"Search needs embeddings from Ollama ({self._backend.settings.embedding_model}), "
                f"and it could not give them: {exc}"
            )
            self.results.show_note(escape(self.search_error))
            self._update_buttons()
            return []
        except AgenticError as exc:
            self.search_error = f"The search failed: {exc}"
            self.results.show_note(escape(self.search_error))
            self._update_buttons()
            return []
        self.results.show_hits(query, found.results, self._source_names())
        self._update_buttons()
        return found.results

    # -- the item --

    @Slot(str)
    def show_item(self, item_id: str) -> None:
        self._item_loading = background.restart(
            self._item_loading, self.load_item(item_id), name="knowledge-item"
        )

    async def load_item(self, item_id: str) -> None:
        try:
            item = await self._backend.content.get(item_id)
        except AgenticError as exc:
            self.item_view.show_item(None)
            self.item_view.facts.setText(f"Could not load the item: {exc}")
            return
        self.item_view.show_item(item, self._source_names().get(item.source_id or "", ""))

    @async_slot()
    async def on_analyse_clicked(self) -> None:
        """Summarize the shown item and extract its entities (stored with it for next time)."""
        item = self.item_view.item
        if item is None:
            return
        self.item_view.analyse_button.setEnabled(False)
        self.item_view.set_note("Asking the model for a summary and entities…")
        try:
            result = await self._backend.content.process(
                content_id=item.id, operations=["summarize", "extract_entities"]
            )
        except AgenticError as exc:
            self.item_view.set_note(f"Could not process the item: {exc}")
            self.item_view.analyse_button.setEnabled(True)
            return
        if self.item_view.item is None or self.item_view.item.id != item.id:
            return
        failed = [f"{name}: {op.error}" for name, op in result.operations.items() if op.status == "failed"]
        self.item_view.show_item(result.item, self._source_names().get(result.item.source_id or "", ""))
        if failed:
            self.item_view.set_note("Not everything could be made: " + "; ".join(failed))

    @async_slot()
    async def on_similar_clicked(self) -> None:
        """Items nearest in meaning to the shown one."""
        item = self.item_view.item
        if item is None:
            return
        self.item_view.similar_button.setEnabled(False)
        try:
            found = await self._backend.semantic.search(query=item.text[:2000], top_k=SIMILAR + 1)
        except AgenticError as exc:
            self.item_view.set_note(f"Could not look for similar items: {exc}")
            return
        finally:
            self.item_view.similar_button.setEnabled(self.item_view.item is not None)
        if self.item_view.item is not None and self.item_view.item.id == item.id:
            self.item_view.show_similar([hit for hit in found.results if hit.item_id != item.id][:SIMILAR])

    @Slot(QUrl)
    def _on_source_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("item:"):
            self.show_item(text.removeprefix("item:"))

    # -- Ask --

    @async_slot()
    async def on_ask_clicked(self) -> None:
        await self.ask()

    async def ask(self) -> bool:
        """Hand the question and its top results to a new chat session; False when there is nothing
        to ask with (the reason is shown)."""
        question = self.search_edit.text().strip()
        if not question:
            self.say("Type a question in the search box first.", error=True)
            return False
        hits = self.results.hits if self.results.query == question else await self.search(question)
        hits = hits[:ASK_RESULTS]
        if not hits and self.search_error:
            self.say(f"Cannot ask: {self.search_error}", error=True)
            return False
        if not hits:
            self.say("Nothing in the knowledge base matches the question: there is no context to ask with.")
            return False
        texts: dict[str, str] = {}
        for hit in hits:
            with contextlib.suppress(AgenticError):  # an item removed since: its snippet is what there is
                texts[hit.item_id] = (await self._backend.content.get(hit.item_id)).text
        message = ask_message(question, hits, texts)
        metadata = {"knowledge": {"question": question, "items": [hit.item_id for hit in hits]}}
        self.ask_requested.emit(f"Ask: {question}"[:200], message, metadata)
        return True

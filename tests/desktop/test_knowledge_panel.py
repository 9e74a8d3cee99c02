"""The Knowledge panel over the real backend and the fake Ollama: a folder source added through its
dialog (Test connection counts its files), Run now with progress from the bus and the items listed,
search with the query's words highlighted, a failing source's reason, Ask handing the top results to a
new chat session, delete after confirmation, and the Ollama-down state.

The screenshots for the lead are saved to /tmp/knowledge.png and /tmp/knowledge_search.png.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from agentic_desktop.panels.chat import ChatPanel
from agentic_desktop.panels.knowledge import KnowledgePanel
from agentic_desktop.panels.knowledge_dialogs import SourceDialog
from agentic_desktop.panels.knowledge_table import COLUMNS
from agentic_desktop.panels.knowledge_views import highlight
from server.services.agents import AgentDraft
from server.services.secrets import Actor, SecretDraft
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from agentic_desktop.main_window import MainWindow
    from server.backend import Backend
    from server.events import IngestProgressed
    from tests.fakes.ollama import FakeOllamaThread

NOTES = {
    "garden.md": "# Garden log\n\nThe tomatoes need water every morning; the basil grows beside them.",
    "bread.txt": "Sourdough bread: feed the starter with rye flour the evening before baking.",
    "bikes.md": "# Bicycle repair\n\nTo fix a puncture, remove the tyre and patch the inner tube.",
}


@pytest.fixture(scope="module", autouse=True)
def chromadb_loaded_on_main_thread() -> None:
    """WORKAROUND: loading chromadb's Rust bindings in a worker thread (the first search or index
    does that) in a process that already ran and closed one window crashed it now and then, in
    the GUI thread. Loaded once here, on the main thread, before any window, they never did."""
    import chromadb.api.rust  # noqa: F401


def window_of(desktop: DesktopApp) -> MainWindow:
    assert desktop.window is not None
    return desktop.window


def backend_of(desktop: DesktopApp) -> Backend:
    assert desktop.backend is not None
    return desktop.backend


def knowledge_panel(desktop: DesktopApp, qloop: BatchedQEventLoop) -> KnowledgePanel:
    window = window_of(desktop)
    window.show_section("knowledge")
    panel = window.panels["knowledge"]
    assert isinstance(panel, KnowledgePanel)
    wait_until(qloop, lambda: panel._loading is not None and panel._loading.done())
    return panel


def notes_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def add_folder(panel: KnowledgePanel, qloop: BatchedQEventLoop, folder: Path, name: str = "Notes") -> str:
    """Add ``folder`` through the dialog; the new source's id."""
    dialog = panel.open_add_dialog("folder")
    assert isinstance(dialog, SourceDialog)
    dialog.name.setText(name)
    dialog.directory.setText(str(folder))
    dialog.patterns.setText("*.md, *.txt")
    dialog.save_button.click()
    wait_until(qloop, lambda: any(source.name == name for source in panel.model.sources()))
    source = next(source for source in panel.model.sources() if source.name == name)
    wait_until(qloop, lambda: panel.selected_source() is not None and panel.selected_source().id == source.id)
    return source.id


def run_selected(panel: KnowledgePanel, qloop: BatchedQEventLoop, source_id: str) -> None:
    panel.last_runs.pop(source_id, None)
    assert panel.run_button.isEnabled()
    panel.run_button.click()
    wait_until(qloop, lambda: source_id in panel.last_runs and not panel._bars)


def cell(panel: KnowledgePanel, row: int, column: str) -> object:
    return panel.model.data(panel.model.index(row, COLUMNS.index(column)))


def test_empty_state_invites_to_add_a_source(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    panel = knowledge_panel(desktop, qloop)
    assert panel.table_stack.currentWidget() is panel.empty
    assert "No sources yet" in panel.empty.text()
    assert not panel.run_button.isEnabled()
    assert not panel.delete_button.isEnabled()
    panel.grab().save("/tmp/knowledge_empty.png")


def test_add_folder_test_run_and_search(
    desktop: DesktopApp, qloop: BatchedQEventLoop, tmp_path: Path
) -> None:
    panel = knowledge_panel(desktop, qloop)
    folder = notes_folder(tmp_path)
    assert desktop.bridge is not None
    progress: list[IngestProgressed] = []
    desktop.bridge.ingest_progressed.connect(progress.append)
    bars_seen: list[str] = []
    desktop.bridge.ingest_progressed.connect(lambda event: bars_seen.extend(panel._bars))

    dialog = panel.open_add_dialog("folder")
    dialog.name.setText("Notes")
    dialog.directory.setText(str(folder))
    dialog.patterns.setText("*.md, *.txt")
    dialog.test_button.click()
    wait_until(qloop, lambda: "matching file" in dialog.test_result.text())
    assert "3 matching file(s)" in dialog.test_result.text()
    assert "✓" in dialog.test_result.text()
    dialog.schedule.mode.setCurrentIndex(dialog.schedule.mode.findData("interval"))
    dialog.schedule.minutes.setValue(30)
    dialog.save_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    assert panel.table_stack.currentWidget() is panel.table
    assert cell(panel, 0, "Name") == "Notes"
    assert cell(panel, 0, "Kind") == "Folder"
    assert cell(panel, 0, "Schedule") == "every 30 min"
    assert cell(panel, 0, "Next run") != "—"  # scheduled
    source_id = panel.model.sources()[0].id
    wait_until(qloop, lambda: panel.selected_source() is not None)

    run_selected(panel, qloop, source_id)
    run = panel.last_runs[source_id]
    assert (run.status, run.new_count, run.failed_count) == ("succeeded", 3, 0)
    assert progress
    assert progress[-1].total == 3
    assert progress[-1].done == 3
    assert source_id in bars_seen  # a bar showed the run while it went
    assert "3 new" in panel.message.text()
    wait_until(qloop, lambda: "3 item(s)" in panel.source_items.toPlainText())
    assert "garden.md" in panel.source_items.toPlainText()
    wait_until(qloop, lambda: str(cell(panel, 0, "Result")).startswith("succeeded"))

    panel.search_edit.setText("sourdough rye flour")
    QTest.keyClick(panel.search_edit, Qt.Key.Key_Return)
    wait_until(qloop, lambda: bool(panel.results.hits))
    best = panel.results.hits[0]
    assert str(best.metadata.get("ref", "")).endswith("bread.txt")
    html = panel.results.toHtml()
    assert "background:#fff1b8" in html.replace(" ", "").replace("background-color", "background")
    assert "Sourdough" in panel.results.toPlainText()
    assert "Notes" in panel.results.toPlainText()  # the source's name

    panel.results.item_chosen.emit(best.item_id)
    wait_until(qloop, lambda: panel.item_view.item is not None)
    assert panel.item_view.item is not None
    assert "rye flour" in panel.item_view.item.text
    assert panel.item_view.open_button.isEnabled()  # a file:// link
    panel.item_view.analyse_button.click()
    wait_until(qloop, lambda: "summarize" in (panel.item_view.item.results if panel.item_view.item else {}))
    panel.item_view.similar_button.click()
    wait_until(qloop, lambda: "Similar items" in panel.item_view.body.toPlainText())

    window = window_of(desktop)
    window.resize(1200, 860)
    window.show_section("knowledge")
    panel.tabs.setCurrentWidget(panel.results)
    panel.grab().save("/tmp/knowledge_search.png")
    panel.tabs.setCurrentWidget(panel.run_view)
    panel.grab().save("/tmp/knowledge.png")


def test_highlight_escapes_html_and_marks_words() -> None:
    html = highlight("<b>Rye</b> & rye-bread", "rye")
    assert "&lt;b&gt;" in html
    assert "&amp;" in html
    assert html.count("fff1b8") == 2


def test_failing_source_shows_its_reason(
    desktop: DesktopApp, qloop: BatchedQEventLoop, tmp_path: Path
) -> None:
    panel = knowledge_panel(desktop, qloop)
    missing = tmp_path / "nowhere"
    dialog = panel.open_add_dialog("folder")
    dialog.name.setText("Gone")
    dialog.directory.setText(str(missing))
    dialog.test_button.click()
    wait_until(qloop, lambda: "✗" in dialog.test_result.text())
    assert "does not exist" in dialog.test_result.text()
    dialog.reject()

    folder = notes_folder(tmp_path)
    source_id = add_folder(panel, qloop, folder, "Soon gone")
    shutil.rmtree(folder)
    run_selected(panel, qloop, source_id)
    run = panel.last_runs[source_id]
    assert run.status == "failed"
    assert run.error is not None
    assert "does not exist" in run.error
    assert "does not exist" in panel.message.text()
    wait_until(qloop, lambda: "does not exist" in str(cell(panel, 0, "Result")))
    wait_until(qloop, lambda: "does not exist" in panel.run_view.toPlainText())


def test_ask_starts_a_chat_with_the_retrieved_context(
    desktop: DesktopApp, qloop: BatchedQEventLoop, tmp_path: Path
) -> None:
    panel = knowledge_panel(desktop, qloop)
    source_id = add_folder(panel, qloop, notes_folder(tmp_path))
    run_selected(panel, qloop, source_id)
    panel.search_edit.setText("how do I fix a bicycle puncture")
    assert panel.ask_button.isEnabled()
    panel.ask_button.click()

    window = window_of(desktop)
    chat = window.panels["chat"]
    assert isinstance(chat, ChatPanel)
    wait_until(qloop, lambda: window.current_section() == "chat")
    backend = backend_of(desktop)

    async def first_messages() -> list[str]:
        sessions = await backend.chat.list_sessions()
        asked = [s for s in sessions if s.title.startswith("Ask:")]
        if not asked:
            return []
        return [m.content for m in await backend.chat.messages(asked[0].id)]

    wait_until(qloop, lambda: chat._streaming is None and len(chat.view.messages) >= 2)
    contents = qloop.run_until_complete(first_messages())
    assert len(contents) >= 2
    first = contents[0]
    assert "Question: how do I fix a bicycle puncture" in first
    assert "patch the inner tube" in first  # the best result's text is the context
    assert "[1] " in first


def test_delete_asks_first(
    desktop: DesktopApp, qloop: BatchedQEventLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = knowledge_panel(desktop, qloop)
    add_folder(panel, qloop, notes_folder(tmp_path))
    questions: list[str] = []
    answers = [False, True]

    async def answer(title: str, text: str) -> bool:
        questions.append(text)
        return answers.pop(0)

    monkeypatch.setattr(panel, "confirm", answer)
    panel.delete_button.click()
    wait_until(qloop, lambda: len(questions) == 1)
    assert "Notes" in questions[0]
    assert panel.model.rowCount() == 1  # refused: kept
    panel.delete_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 0)
    assert len(questions) == 2
    assert panel.table_stack.currentWidget() is panel.empty


def test_search_says_when_ollama_is_down(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    panel = knowledge_panel(desktop, qloop)
    ollama_thread.fake.fail_status = 503
    panel.search_edit.setText("anything")
    panel.search_button.click()
    wait_until(qloop, lambda: panel._searching is not None and panel._searching.done())
    assert "Search needs embeddings from Ollama" in panel.results.toPlainText()
    assert not panel.results.hits


def test_mailbox_dialog_offers_the_vault_keys(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    backend = backend_of(desktop)
    agent = qloop.run_until_complete(
        backend.agents.create(AgentDraft(name="mail-reader", model_name="llama3.2:latest"))
    )
    draft = SecretDraft(secret_key="IMAP_PASSWORD", secret_value="hunter2", description="mail")
    qloop.run_until_complete(backend.secrets.create(agent.id, draft, Actor("test", "api")))
    panel = knowledge_panel(desktop, qloop)
    dialog = panel.open_add_dialog("mailbox")
    wait_until(qloop, lambda: dialog.secret.count() == 1)
    assert dialog.agent.currentText() == "mail-reader"
    assert dialog.secret.currentText() == "IMAP_PASSWORD"
    dialog.host.setText("127.0.0.1")
    dialog.username.setText("me")
    config = dialog.config()
    assert config["password_secret"] == "IMAP_PASSWORD"
    assert config["agent_id"] == agent.id
    assert "hunter2" not in str(config)
    dialog.grab().save("/tmp/knowledge_mailbox_dialog.png")
    dialog.reject()

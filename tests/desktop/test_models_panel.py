"""The Models panel over the real backend and the fake Ollama: list, pull, cancel, delete, Ollama down."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from agentic_desktop.panels.models import ModelsPanel
from agentic_desktop.panels.models_table import COLUMNS, human_size
from tests.desktop.conftest import wait_until
from tests.fakes.ollama import FakeModel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from server.events import ModelPullProgressed
    from tests.fakes.ollama import FakeOllamaThread

INSTALLED = ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5:7b"]


@pytest.fixture
def panel(desktop: DesktopApp, qloop: BatchedQEventLoop) -> ModelsPanel:
    """The window's Models panel, on screen, with its first load done."""
    assert desktop.window is not None
    desktop.window.show_section("models")
    widget = desktop.window.panels["models"]
    assert isinstance(widget, ModelsPanel)
    wait_until(qloop, lambda: widget.model.rowCount() == 3)
    return widget


def act(qloop: BatchedQEventLoop, action: Callable[[], object], condition: Callable[[], bool]) -> None:
    """Do ``action`` on the running loop, as a click in the app happens (awaiting what it returns),
    then run the loop until ``condition()``."""

    async def run() -> None:
        result = action()
        if inspect.isawaitable(result):
            await result

    qloop.run_until_complete(run())
    wait_until(qloop, condition)


def answer(yes: bool, questions: list[str]) -> Callable[[str, str], Awaitable[bool]]:
    """A stand-in for ``ModelsPanel.confirm`` that records the question and answers ``yes``."""

    async def confirm(title: str, text: str) -> bool:
        questions.append(f"{title}: {text}")
        return yes

    return confirm


def column(panel: ModelsPanel, name: str) -> list[str]:
    """The texts shown in the column titled ``name``, top to bottom."""
    col = COLUMNS.index(name)
    return [panel.model.index(row, col).data() for row in range(panel.model.rowCount())]


def test_table_lists_installed_models_by_name_with_human_sizes(panel: ModelsPanel) -> None:
    assert column(panel, "Name") == INSTALLED
    assert column(panel, "Size") == ["2.0 GB", "274 MB", "4.7 GB"]
    assert column(panel, "Family") == ["llama", "nomic-bert", "qwen2"]
    assert column(panel, "Parameters") == ["3.2B", "137M", "7.6B"]
    assert column(panel, "Quantization") == ["Q4_K_M", "F16", "Q4_K_M"]
    local = datetime(2026, 10, 1, 12, 0, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert column(panel, "Modified") == [local] * 3
    assert panel.summary.text() == "3 models · 7.0 GB on disk"
    assert panel.banner.isHidden()
    assert not panel.delete_button.isEnabled()  # nothing selected yet


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (812, "812 B"),
        (1_500, "1.5 KB"),
        (274_302_450, "274 MB"),
        (4_683_087_332, "4.7 GB"),
        (124_000_000_000, "124 GB"),
    ],
)
def test_human_size_uses_ollamas_decimal_units(size: int, text: str) -> None:
    assert human_size(size) == text


def test_sorting_by_size_orders_by_bytes_and_keeps_the_selection(panel: ModelsPanel) -> None:
    assert panel.select("qwen2.5:7b")
    panel.table.sortByColumn(COLUMNS.index("Size"), Qt.SortOrder.DescendingOrder)
    assert column(panel, "Name") == ["qwen2.5:7b", "llama3.2:latest", "nomic-embed-text:latest"]
    assert panel.selected_name() == "qwen2.5:7b"


def test_concurrent_refreshes_end_with_one_list(panel: ModelsPanel, qloop: BatchedQEventLoop) -> None:
    async def twice() -> None:
        await asyncio.gather(panel.refresh(), panel.refresh())

    qloop.run_until_complete(twice())
    assert column(panel, "Name") == INSTALLED
    assert panel.refresh_button.isEnabled()


def test_f5_shows_a_model_installed_outside_the_app(
    panel: ModelsPanel, qloop: BatchedQEventLoop, qtbot: QtBot, ollama_thread: FakeOllamaThread
) -> None:
    ollama_thread.fake.models.append(FakeModel("phi3:mini", family="phi3", size=2_176_178_913))
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    panel.table.setFocus()
    qtbot.waitUntil(panel.table.hasFocus)
    act(qloop, lambda: qtbot.keyClick(panel.table, Qt.Key.Key_F5), lambda: "phi3:mini" in panel.model.names())
    assert panel.model.names() == sorted([*INSTALLED, "phi3:mini"])


def test_pulling_shows_progress_and_ends_with_the_model_in_the_table(
    panel: ModelsPanel,
    desktop: DesktopApp,
    qloop: BatchedQEventLoop,
    qtbot: QtBot,
    ollama_thread: FakeOllamaThread,
) -> None:
    assert desktop.bridge is not None
    ollama_thread.fake.token_delay = 0.2  # five steps over a second: several progress events
    seen: list[tuple[int, str, bool, bool]] = []

    def record(event: ModelPullProgressed) -> None:  # connected after the panel: sees what it shows
        if not event.done:
            seen.append(
                (
                    panel.progress.value(),
                    panel.status_label.text(),
                    panel.pull_button.isEnabled(),
                    panel.cancel_button.isVisible(),
                )
            )

    desktop.bridge.model_pull_progressed.connect(record)
    qtbot.keyClicks(panel.pull_edit, "mistral:7b")
    act(qloop, panel.pull_button.click, lambda: "mistral:7b" in panel.model.names())
    desktop.bridge.model_pull_progressed.disconnect(record)

    assert seen
    assert all(not pull_enabled and cancel_shown for _, _, pull_enabled, cancel_shown in seen)
    partial = [(value, text) for value, text, _, _ in seen if 0 < value < 100]
    assert partial, seen
    value, text = partial[0]
    assert text.startswith("mistral:7b · pulling ")
    assert text.endswith(f"— {value}%")
    assert panel.status_label.text() == "Pulled mistral:7b."
    assert panel.pull_edit.text() == ""
    assert panel.progress.isHidden()
    assert panel.cancel_button.isHidden()
    assert panel.pull_button.isEnabled()
    assert panel.model.names() == sorted([*INSTALLED, "mistral:7b"])


def test_pulling_an_unknown_model_says_why_it_failed(
    panel: ModelsPanel, qloop: BatchedQEventLoop, qtbot: QtBot
) -> None:
    qtbot.keyClicks(panel.pull_edit, "no-such-model:1b")
    act(
        qloop,
        lambda: qtbot.keyClick(panel.pull_edit, Qt.Key.Key_Return),
        lambda: panel.status_label.text().startswith("Could not pull"),
    )
    text = panel.status_label.text()
    assert text.startswith("Could not pull no-such-model:1b: ")
    assert "file does not exist" in text
    assert panel.status_label.property("state") == "bad"
    assert panel.pull_button.isEnabled()
    assert panel.progress.isHidden()
    assert panel.model.names() == INSTALLED


def test_pull_with_an_empty_name_asks_for_one(panel: ModelsPanel, qloop: BatchedQEventLoop) -> None:
    act(qloop, panel.pull_button.click, lambda: True)
    assert "Type the name of a model" in panel.status_label.text()
    assert panel.pull_button.isEnabled()
    assert panel.progress.isHidden()


def test_cancel_stops_a_slow_pull(
    panel: ModelsPanel, desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    assert desktop.backend is not None
    ollama_thread.fake.token_delay = 2.0  # ten seconds in all: still running when cancelled
    panel.pull_edit.setText("mistral:7b")
    act(qloop, panel.pull_button.click, lambda: "pulling manifest" in panel.status_label.text())
    assert panel.cancel_button.isEnabled()
    act(qloop, panel.cancel_button.click, lambda: "cancelled" in panel.status_label.text())
    assert panel.status_label.text().startswith("Pull of mistral:7b cancelled.")
    assert desktop.backend.models.pulls() == []
    assert panel.cancel_button.isHidden()
    assert panel.pull_button.isEnabled()
    assert panel.model.names() == INSTALLED


def test_delete_key_with_confirmation_yes_removes_the_model(
    panel: ModelsPanel, qloop: BatchedQEventLoop, qtbot: QtBot, ollama_thread: FakeOllamaThread
) -> None:
    questions: list[str] = []
    panel.confirm = answer(True, questions)  # type: ignore[method-assign]
    assert panel.select("qwen2.5:7b")
    assert panel.delete_button.isEnabled()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    panel.table.setFocus()  # the Delete key acts in the table only (in the line edit it deletes text)
    qtbot.waitUntil(panel.table.hasFocus)
    act(
        qloop,
        lambda: qtbot.keyClick(panel.table, Qt.Key.Key_Delete),
        lambda: "qwen2.5:7b" not in panel.model.names(),
    )
    assert len(questions) == 1
    assert "qwen2.5:7b" in questions[0]
    assert "4.7 GB" in questions[0]
    assert panel.model.names() == ["llama3.2:latest", "nomic-embed-text:latest"]
    assert ollama_thread.fake.find("qwen2.5:7b") is None
    assert panel.message.text() == "Deleted qwen2.5:7b."


def test_delete_answered_no_keeps_the_model(
    panel: ModelsPanel, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    questions: list[str] = []
    panel.confirm = answer(False, questions)  # type: ignore[method-assign]
    assert panel.select("llama3.2:latest")
    act(qloop, panel.on_delete_clicked, lambda: True)
    assert len(questions) == 1
    assert panel.model.names() == INSTALLED
    assert ollama_thread.fake.find("llama3.2:latest") is not None
    assert panel.message.text() == ""
    assert panel.delete_button.isEnabled()


def test_delete_of_a_model_already_gone_says_so(
    panel: ModelsPanel, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    panel.confirm = answer(True, [])  # type: ignore[method-assign]
    assert panel.select("qwen2.5:7b")
    model = ollama_thread.fake.find("qwen2.5:7b")
    assert model is not None
    ollama_thread.fake.models.remove(model)  # removed behind the panel's back
    act(qloop, panel.on_delete_clicked, lambda: "qwen2.5:7b" not in panel.model.names())
    assert panel.message.text() == "qwen2.5:7b was already gone from Ollama."
    assert panel.model.names() == ["llama3.2:latest", "nomic-embed-text:latest"]


def test_confirm_opens_a_box_without_nesting_the_loop(panel: ModelsPanel, qloop: BatchedQEventLoop) -> None:
    answers: list[bool] = []

    async def ask() -> None:
        answers.append(await panel.confirm("Delete model", "Delete qwen2.5:7b?"))

    asking = qloop.create_task(ask())
    wait_until(qloop, lambda: isinstance(QApplication.activeModalWidget(), QMessageBox))
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox)
    assert box.text() == "Delete qwen2.5:7b?"
    yes = box.button(QMessageBox.StandardButton.Yes)
    assert yes.text() == "Delete"
    act(qloop, yes.click, asking.done)
    assert answers == [True]


def test_ollama_down_shows_the_banner_and_coming_back_restores_the_list(
    panel: ModelsPanel, desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    backend = desktop.backend
    assert backend is not None
    assert panel.select("qwen2.5:7b")
    ollama_thread.call(ollama_thread.fake.stop())
    act(qloop, backend.llm.probe, lambda: not panel.banner.isHidden())  # as the scheduled probe does
    detail = backend.llm.status.detail
    assert panel.banner.text() == detail
    assert detail.startswith(f"Ollama is not reachable at {backend.llm.host}")
    assert "start it (ollama serve)" in detail
    assert panel.model.rowCount() == 0
    assert not panel.pull_button.isEnabled()
    assert not panel.delete_button.isEnabled()
    assert panel.refresh_button.isEnabled()

    ollama_thread.call(ollama_thread.fake.start())
    act(qloop, backend.llm.probe, lambda: panel.model.rowCount() == 3)
    assert panel.banner.isHidden()
    assert panel.model.names() == INSTALLED
    assert panel.pull_button.isEnabled()


def test_refresh_while_ollama_is_down_shows_the_banner(
    panel: ModelsPanel, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    ollama_thread.call(ollama_thread.fake.stop())
    act(qloop, panel.refresh, lambda: True)
    assert not panel.banner.isHidden()
    assert "start it (ollama serve)" in panel.banner.text()
    assert panel.model.rowCount() == 0
    assert not panel.pull_button.isEnabled()

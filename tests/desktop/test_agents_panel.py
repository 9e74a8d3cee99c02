"""The Agents panel over the real backend: create with validation as you type, edit, run a task
and see its output and logs, delete with confirmation, search."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from agentic_desktop.panels.agent_dialogs import AgentDialog, RunTaskDialog, parse_conversation
from agentic_desktop.panels.agents import AgentsPanel
from agentic_desktop.panels.agents_table import AGENT_ROLE
from agentic_desktop.panels.tasks import TasksPanel
from server.services.agents import AgentDraft
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    import pytest

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from server.services.agents import Agent
    from tests.fakes.ollama import FakeOllamaThread


def agents_panel(desktop: DesktopApp) -> AgentsPanel:
    assert desktop.window is not None
    desktop.window.show_section("agents")
    panel = desktop.window.panels["agents"]
    assert isinstance(panel, AgentsPanel)
    return panel


def open_new_dialog(panel: AgentsPanel, qloop: BatchedQEventLoop) -> AgentDialog:
    panel.new_button.click()
    wait_until(qloop, lambda: isinstance(panel._dialog, AgentDialog) and panel._dialog.model.count() > 0)
    dialog = panel._dialog
    assert isinstance(dialog, AgentDialog)
    return dialog


def add_agent(desktop: DesktopApp, qloop: BatchedQEventLoop, name: str) -> str:
    assert desktop.backend is not None
    agent = qloop.run_until_complete(
        desktop.backend.agents.create(AgentDraft(name=name, model_name="llama3.2:latest"))
    )
    return agent.id


def test_new_agent_dialog_validates_as_you_type_and_creates_the_agent(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    add_agent(desktop, qloop, "Existing")
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    dialog = open_new_dialog(panel, qloop)
    assert [dialog.model.itemText(i) for i in range(dialog.model.count())] == [
        "llama3.2:latest",
        "qwen2.5:7b",
        "nomic-embed-text:latest",
    ]
    assert not dialog.save_button.isEnabled()
    assert dialog.name_error.text() == "A name is required"
    dialog.name.setText("existing")
    assert dialog.name_error.text() == "An agent named 'existing' already exists"
    assert not dialog.save_button.isEnabled()
    dialog.name.setText("Summarizer")
    assert dialog.save_button.isEnabled()
    dialog.model.setCurrentText("qwen2.5:7b")
    dialog.temperature.setValue(0.3)
    dialog.system_prompt.setPlainText("Be concise.")
    dialog.save_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 2)
    created = panel.model.agent_at(0)
    assert (created.name, created.model_name) == ("Summarizer", "qwen2.5:7b")
    assert created.config == {"temperature": 0.3, "max_tokens": 1024, "system_prompt": "Be concise."}
    assert panel.selected_agent() is not None
    assert panel.selected_agent().id == created.id  # type: ignore[union-attr]


def test_the_model_list_says_why_it_is_empty_when_ollama_is_down(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    panel = agents_panel(desktop)
    ollama_thread.call(ollama_thread.fake.stop())
    panel.new_button.click()
    wait_until(
        qloop, lambda: isinstance(panel._dialog, AgentDialog) and bool(panel._dialog.model_error.text())
    )
    dialog = panel._dialog
    assert isinstance(dialog, AgentDialog)
    assert "not reachable" in dialog.model_error.text()
    dialog.name.setText("Offline")
    assert not dialog.save_button.isEnabled()
    dialog.reject()


def test_editing_changes_the_row(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    add_agent(desktop, qloop, "Editable")
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    panel.table.selectRow(0)
    panel.edit_button.click()
    wait_until(qloop, lambda: isinstance(panel._dialog, AgentDialog) and panel._dialog.model.isEnabled())
    dialog = panel._dialog
    assert isinstance(dialog, AgentDialog)
    assert dialog.name.text() == "Editable"
    dialog.name.setText("Edited")
    dialog.temperature.setValue(1.2)
    dialog.save_button.click()
    wait_until(qloop, lambda: panel.model.agent_at(0).name == "Edited")
    assert panel.model.agent_at(0).config["temperature"] == 1.2


def test_run_task_shows_its_output_and_logs_in_the_tasks_panel(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    add_agent(desktop, qloop, "Runner")
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    panel.table.selectRow(0)
    panel.run_button.click()
    wait_until(qloop, lambda: isinstance(panel._dialog, RunTaskDialog))
    dialog = panel._dialog
    assert isinstance(dialog, RunTaskDialog)
    dialog.task_type.setCurrentText("summarize")
    assert not dialog.run_button.isEnabled()
    ollama_thread.fake.replies.append("GPUs are busy.")
    dialog.summary_text.setPlainText("Long text about GPUs being busy all day long. " * 5)
    dialog.summary_length.setCurrentText("short")
    dialog.run_button.click()
    assert desktop.window is not None
    wait_until(qloop, lambda: desktop.window.current_section() == "tasks")  # type: ignore[union-attr]
    tasks = desktop.window.panels["tasks"]
    assert isinstance(tasks, TasksPanel)
    wait_until(
        qloop, lambda: tasks.selected_task() is not None and tasks.selected_task().status == "completed"
    )  # type: ignore[union-attr]
    assert "GPUs are busy." in tasks.output.toPlainText()
    wait_until(qloop, lambda: "Completed in" in tasks.log_view.visible_text())
    assert "Running summarize for agent Runner with model llama3.2:latest" in tasks.log_view.visible_text()


def test_delete_asks_first(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    add_agent(desktop, qloop, "Doomed")
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    panel.table.selectRow(0)
    questions: list[str] = []

    async def answer(title: str, text: str, *, yes: bool) -> bool:
        questions.append(text)
        return yes

    panel.confirm = lambda title, text: answer(title, text, yes=False)  # type: ignore[method-assign]
    panel.delete_button.click()
    wait_until(qloop, lambda: len(questions) == 1)
    assert "Delete agent 'Doomed'?" in questions[0]
    assert panel.model.rowCount() == 1
    panel.confirm = lambda title, text: answer(title, text, yes=True)  # type: ignore[method-assign]
    panel.delete_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 0)
    assert desktop.backend is not None
    assert qloop.run_until_complete(desktop.backend.agents.list()) == []


def test_search_and_kind_filter(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    add_agent(desktop, qloop, "Mail sorter")
    add_agent(desktop, qloop, "Summarizer")
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel.model.rowCount() == 2)
    panel.search.setText("mail")
    assert panel.proxy.rowCount() == 1
    panel.search.clear()
    panel.kind.setCurrentText("Dynamic")
    assert panel.proxy.rowCount() == 0
    panel.kind.setCurrentText("Static")
    assert panel.proxy.rowCount() == 2


def test_conversation_text_becomes_chat_messages() -> None:
    assert parse_conversation("user: hi\nassistant: hello\nthere\nuser: bye") == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello\nthere"},
        {"role": "user", "content": "bye"},
    ]
    assert parse_conversation("Just a question") == [{"role": "user", "content": "Just a question"}]


def test_an_agent_created_while_the_list_is_read_is_not_lost(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload read the list before the new agent was committed; its event came meanwhile."""
    panel = agents_panel(desktop)
    wait_until(qloop, lambda: panel._refreshing is None or panel._refreshing.done())
    assert desktop.backend is not None
    agents = desktop.backend.agents
    stale = qloop.run_until_complete(agents.list(limit=1000))
    reading, release = asyncio.Event(), asyncio.Event()

    async def slow_list(**_: object) -> list[Agent]:
        reading.set()
        await release.wait()
        return stale  # as read before the agent below existed

    monkeypatch.setattr(agents, "list", slow_list)
    panel.schedule_refresh()
    qloop.run_until_complete(reading.wait())
    monkeypatch.undo()
    new_id = add_agent(desktop, qloop, "Meanwhile")
    wait_until(qloop, lambda: panel.model.rowCount() == len(stale) + 1)
    release.set()
    wait_until(qloop, lambda: panel._refreshing is not None and panel._refreshing.done())
    assert [panel.model.index(row, 0).data(AGENT_ROLE).id for row in range(panel.model.rowCount())] == [
        new_id,
        *[agent.id for agent in stale],
    ]

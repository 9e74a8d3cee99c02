"""The Tasks & Logs panel: live tasks with progress and cancel, and a log view that keeps up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_desktop.panels.tasks import TasksPanel
from agentic_desktop.panels.tasks_table import TasksTableModel
from server.services.agents import AgentDraft
from server.services.task_types import GenerateInput
from tests.desktop.conftest import make_task, wait_until

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from tests.fakes.ollama import FakeOllamaThread


def tasks_panel(desktop: DesktopApp) -> TasksPanel:
    assert desktop.window is not None
    desktop.window.show_section("tasks")
    panel = desktop.window.panels["tasks"]
    assert isinstance(panel, TasksPanel)
    return panel


def start_task(desktop: DesktopApp, qloop: BatchedQEventLoop, prompt: str = "x") -> str:
    backend = desktop.backend
    assert backend is not None

    async def go() -> str:
        agents = await backend.agents.list()
        agent = (
            agents[0]
            if agents
            else await backend.agents.create(AgentDraft(name="A", model_name="llama3.2:latest"))
        )
        return (await backend.tasks.run(agent.id, GenerateInput(type="generate", prompt=prompt))).id

    return qloop.run_until_complete(go())


def test_a_running_task_shows_progress_and_can_be_cancelled(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    ollama_thread.fake.token_delay = 0.03
    ollama_thread.fake.replies.append(" ".join(["word"] * 300))
    panel = tasks_panel(desktop)
    task_id = start_task(desktop, qloop)
    wait_until(qloop, lambda: panel.model.row_of(task_id) is not None)
    panel.select_task(task_id)
    wait_until(
        qloop, lambda: panel.selected_task().status == "running" and panel.selected_task().progress > 10
    )  # type: ignore[union-attr]
    assert panel.cancel_button.isEnabled()
    assert desktop.window is not None
    assert "1 task running" in desktop.window.tasks_label.text()
    panel.cancel_button.click()
    wait_until(qloop, lambda: panel.selected_task().status == "cancelled")  # type: ignore[union-attr]
    assert not panel.cancel_button.isEnabled()
    assert "0 tasks running" in desktop.window.tasks_label.text()  # counted when the change was announced
    assert "Cancelled" in panel.output.toPlainText()


def test_log_view_filters_by_level_and_search(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    panel = tasks_panel(desktop)
    assert desktop.backend is not None
    logs = desktop.backend.logs
    logs.record("info", "calm message", source="test")
    logs.record("error", "disk failure", source="test")
    wait_until(qloop, lambda: "disk failure" in panel.log_view.visible_text())
    assert "calm message" in panel.log_view.visible_text()
    panel.log_view.level.setCurrentIndex(3)  # errors only
    wait_until(
        qloop, lambda: "calm message" not in panel.log_view.visible_text() and panel.log_view.pending() == 0
    )
    assert "disk failure" in panel.log_view.visible_text()
    panel.log_view.level.setCurrentIndex(0)
    panel.log_view.search.setText("calm")
    wait_until(
        qloop, lambda: panel.log_view.pending() == 0 and "calm message" in panel.log_view.visible_text()
    )
    assert "disk failure" not in panel.log_view.visible_text()


def test_log_view_keeps_up_with_a_burst(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    panel = tasks_panel(desktop)
    assert desktop.backend is not None
    for n in range(3000):
        desktop.backend.logs.record("info", f"burst line {n}", source="test")
    wait_until(
        qloop, lambda: "burst line 2999" in panel.log_view.visible_text() and panel.log_view.pending() == 0
    )
    text = panel.log_view.visible_text()
    assert "burst line 0" in text
    assert text.index("burst line 1500") < text.index("burst line 2999")


def test_dashboard_counts_tasks_and_lists_the_newest(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    task_id = start_task(desktop, qloop, "hello")
    assert desktop.window is not None
    dashboard = desktop.window.panels["dashboard"]
    wait_until(qloop, lambda: "1 completed" in dashboard.tasks_card.detail.text())  # type: ignore[attr-defined]
    assert dashboard.agents_card.value.text() == "1"  # type: ignore[attr-defined]
    assert "completed" in dashboard.recent_card.value.text()  # type: ignore[attr-defined]
    assert task_id


def test_an_agent_announced_during_a_reload_keeps_its_name(qtbot: QtBot) -> None:
    model = TasksTableModel()
    task = make_task(agent_id="a1")
    model.reset([task])
    model.set_agent_name("a1", "Summarizer")  # AgentChanged, while a reload is reading agents
    model.set_agent_names({})  # the reload's list, read before the agent existed
    assert model.index(0, 1).data() == "Summarizer"

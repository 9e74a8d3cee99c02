"""The Chat panel over the real backend and the fake Ollama: a reply streams in token by token and
is rendered as Markdown with its metrics, Stop ends the generation, sessions are managed from the
list, and the wizard drafts an agent that "Create agent" registers and shows in the Agents panel."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication

from agentic_desktop.panels.agents import AgentsPanel
from agentic_desktop.panels.chat import ChatPanel
from server.services.chat_models import ChatSessionDraft
from tests.desktop.conftest import wait_until
from tests.server.test_wizard import READY, email_agent

if TYPE_CHECKING:
    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from tests.fakes.ollama import FakeOllamaThread


def chat_panel(desktop: DesktopApp, qloop: BatchedQEventLoop) -> ChatPanel:
    assert desktop.window is not None
    desktop.window.show_section("chat")
    panel = desktop.window.panels["chat"]
    assert isinstance(panel, ChatPanel)
    wait_until(qloop, lambda: panel.model_picker.count() > 0)
    return panel


def start_chat(panel: ChatPanel, qloop: BatchedQEventLoop) -> None:
    panel.new_chat_button.click()
    wait_until(qloop, lambda: panel._current is not None)


def test_a_reply_streams_in_and_is_rendered_with_its_metrics(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    fake = ollama_thread.fake
    panel = chat_panel(desktop, qloop)
    assert [panel.model_picker.itemText(i) for i in range(panel.model_picker.count())] == [
        "llama3.2:latest",
        "qwen2.5:7b",
    ]
    start_chat(panel, qloop)
    fake.token_delay = 0.03
    fake.replies.append("Here is **bold** advice:\n\n```python\nprint('hi')\n```\n\nDone " + "word " * 20)
    panel.input.setPlainText("Give me advice")
    panel.send_button.click()
    wait_until(qloop, lambda: "Here is" in panel.view.toPlainText())
    assert panel.view.streaming  # the first tokens are on screen before the reply ends
    assert panel.stop_button.isEnabled()
    assert not panel.send_button.isEnabled()
    wait_until(qloop, lambda: not panel.view.streaming and panel._streaming is None)
    text = panel.view.toPlainText()
    assert "Here is bold advice:" in text  # Markdown rendered, not shown raw
    assert "print('hi')" in text
    assert "```" not in text
    assert "50.0 tokens/s" in panel.metrics.full_text()
    assert "llama3.2:latest" in panel.metrics.full_text()
    assert "50.0 tokens/s" in text  # the reply's own metrics line
    assert panel.speed_chart.values() == [50.0]
    assert [m.role for m in panel.view.messages] == ["user", "assistant"]
    panel.copy_button.click()
    assert QGuiApplication.clipboard().text().startswith("Here is **bold** advice:")
    item = panel.session_list.currentItem()
    assert item is not None
    assert item.text() == "Give me advice"  # the first message names the session


def test_stop_ends_the_generation_and_keeps_what_came(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    fake = ollama_thread.fake
    panel = chat_panel(desktop, qloop)
    start_chat(panel, qloop)
    fake.token_delay = 0.02
    fake.reply_words = 1000
    panel.input.setPlainText("Count forever")
    panel.send_button.click()
    wait_until(qloop, lambda: "token3" in panel.view.toPlainText())
    panel.stop_button.click()
    wait_until(qloop, lambda: panel._streaming is None)
    wait_until(qloop, lambda: fake.streams_aborted == 1 and fake.streams_open == 0)
    assert "Stopped" in panel.view.toPlainText()
    assert panel.send_button.isEnabled()
    assert desktop.backend is not None
    assert panel._current is not None
    stored = qloop.run_until_complete(desktop.backend.chat.messages(panel._current.id))
    assert stored[-1].metadata == {"interrupted": "stopped"}
    assert stored[-1].content.startswith("token0 token1 token2 token3")


def test_sessions_are_filtered_renamed_and_deleted_from_the_list(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    assert desktop.backend is not None
    chat = desktop.backend.chat
    qloop.run_until_complete(chat.create_session(ChatSessionDraft(title="Plain chat")))
    qloop.run_until_complete(
        chat.create_session(ChatSessionDraft(session_type="agent_creation", title="Wizard"))
    )
    panel = chat_panel(desktop, qloop)
    wait_until(qloop, lambda: panel.session_list.count() == 2)
    panel.kind_filter.setCurrentText("Agent wizards")
    visible = [
        panel.session_list.item(r).text() for r in range(2) if not panel.session_list.item(r).isHidden()
    ]
    assert visible == ["Wizard"]
    panel.kind_filter.setCurrentText("All sessions")

    panel.select_session(next(s.id for s in panel._sessions.values() if s.title == "Plain chat"))
    wait_until(qloop, lambda: panel._current is not None and panel._current.title == "Plain chat")
    assert not panel.draft_pane.isVisibleTo(panel)
    item = panel.session_list.currentItem()
    assert item is not None
    item.setText("Renamed chat")  # what editing the item in place does
    wait_until(qloop, lambda: panel.title.full_text() == "Renamed chat")
    current = panel._current
    assert current is not None
    assert qloop.run_until_complete(chat.get_session(current.id)).title == "Renamed chat"

    questions: list[str] = []

    async def answer(title: str, text: str) -> bool:
        questions.append(text)
        return True

    panel.confirm = answer  # type: ignore[method-assign]
    panel.delete_button.click()
    wait_until(qloop, lambda: panel.session_list.count() == 1)
    assert "Renamed chat" in questions[0]
    assert panel.session_list.item(0).text() == "Wizard"
    wait_until(qloop, lambda: panel._current is not None and panel._current.title == "Wizard")
    assert panel.draft_pane.isVisibleTo(panel)


def test_the_wizard_drafts_an_agent_that_create_agent_registers(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    fake = ollama_thread.fake
    panel = chat_panel(desktop, qloop)
    qloop.run_until_complete(panel.new_wizard("email_processor_template", "Email processor wizard"))
    wait_until(qloop, lambda: panel.draft_pane.isVisibleTo(panel))
    assert not panel.draft_pane.create_button.isEnabled()

    fake.replies.append("Which mailbox should it read?")
    panel.input.setPlainText("Sort my email by importance.")
    panel.send_button.click()
    wait_until(qloop, lambda: panel._streaming is None and "Which mailbox" in panel.view.toPlainText())
    assert not panel.draft_pane.create_button.isEnabled()

    bad = json.dumps(email_agent(tools=[{"name": "shell", "type": "system_command"}], processing_pipeline=[]))
    fake.replies.extend([f"Understood.\n{READY}", bad, bad, bad])
    panel.input.setPlainText("Gmail, please.")
    panel.send_button.click()
    wait_until(qloop, lambda: panel._streaming is None and panel.draft_pane.problems.isVisibleTo(panel))
    assert "blocked type 'system_command'" in panel.draft_pane.problems.text()
    assert not panel.draft_pane.create_button.isEnabled()
    assert "I could not produce a valid agent" in panel.view.toPlainText()

    fake.replies.extend([f"Fixed.\n{READY}", json.dumps(email_agent())])
    panel.input.setPlainText("Use the Gmail API instead of a shell.")
    panel.send_button.click()
    wait_until(qloop, lambda: panel._streaming is None and panel.draft_pane.create_button.isEnabled())
    draft_text = panel.draft_pane.view.toPlainText()
    assert "Email Triage" in draft_text
    assert "processed_emails" in draft_text
    assert "gmail_api_key" in draft_text
    assert not panel.draft_pane.problems.isVisibleTo(panel)
    assert "[[DRAFT]]" not in panel.view.toPlainText()

    panel.draft_pane.create_button.click()
    assert desktop.window is not None
    wait_until(qloop, lambda: desktop.window.current_section() == "agents")  # type: ignore[union-attr]
    agents = desktop.window.panels["agents"]
    assert isinstance(agents, AgentsPanel)
    wait_until(qloop, lambda: agents.selected_agent() is not None)
    agent = agents.selected_agent()
    assert agent is not None
    assert (agent.name, agent.agent_type) == ("Email Triage", "email_processor")
    assert "gmail_api_key" in panel.message.text()
    wait_until(qloop, lambda: panel._current is not None and panel._current.agent_id == agent.id)
    assert not panel.draft_pane.create_button.isEnabled()

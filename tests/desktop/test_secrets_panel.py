"""The Secrets panel over the real backend and vault (a key file): add through the dialog, never show a
value in the table, reveal after confirmation with an audit entry, copy and clear the clipboard,
refuse a duplicate key in the dialog, delete with confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit

from agentic_desktop.panels.secret_dialogs import RevealDialog, SecretDialog
from agentic_desktop.panels.secrets import SecretsPanel
from server.services.agents import AgentDraft
from server.services.secrets import Actor, SecretDraft
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    import pytest
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from server.backend import Backend

VALUE = "sk-live-0123456789abcdef"
API_ACTOR = Actor("script", "api")


def backend_of(desktop: DesktopApp) -> Backend:
    assert desktop.backend is not None
    return desktop.backend


def secrets_panel(desktop: DesktopApp) -> SecretsPanel:
    assert desktop.window is not None
    desktop.window.show_section("secrets")
    panel = desktop.window.panels["secrets"]
    assert isinstance(panel, SecretsPanel)
    return panel


def add_agent(desktop: DesktopApp, qloop: BatchedQEventLoop, name: str) -> str:
    agent = qloop.run_until_complete(
        backend_of(desktop).agents.create(AgentDraft(name=name, model_name="llama3.2:latest"))
    )
    return agent.id


def add_secret(desktop: DesktopApp, qloop: BatchedQEventLoop, agent_id: str, key: str, value: str) -> str:
    draft = SecretDraft(secret_key=key, secret_value=value, description=f"{key} for tests")
    return qloop.run_until_complete(backend_of(desktop).secrets.create(agent_id, draft, API_ACTOR)).id


def panel_for(desktop: DesktopApp, qloop: BatchedQEventLoop, agent_id: str, rows: int) -> SecretsPanel:
    panel = secrets_panel(desktop)
    wait_until(qloop, lambda: panel.current_agent() is not None and panel.current_agent().id == agent_id)  # type: ignore[union-attr]
    wait_until(qloop, lambda: panel.model.rowCount() == rows and panel._shown_agent == agent_id)
    return panel


def open_add_dialog(panel: SecretsPanel) -> SecretDialog:
    panel.add_button.click()
    dialog = panel._dialog
    assert isinstance(dialog, SecretDialog)
    return dialog


def everything_the_table_shows(panel: SecretsPanel) -> list[object]:
    roles = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.EditRole)
    return [
        panel.model.data(panel.model.index(row, column), role)
        for row in range(panel.model.rowCount())
        for column in range(panel.model.columnCount())
        for role in roles
    ]


def answer_confirmations(panel: SecretsPanel, monkeypatch: pytest.MonkeyPatch, *, yes: bool) -> list[str]:
    questions: list[str] = []

    async def answer(title: str, text: str, *, yes_text: str, destructive: bool = True) -> bool:
        questions.append(text)
        return yes

    monkeypatch.setattr(panel, "confirm", answer)
    return questions


def test_adding_a_secret_in_the_dialog_lists_it_without_its_value(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    agent_id = add_agent(desktop, qloop, "Mailer")
    panel = panel_for(desktop, qloop, agent_id, rows=0)
    assert "No secrets for Mailer" in panel.empty_label.text()
    assert panel.stack.currentWidget() is panel.empty
    dialog = open_add_dialog(panel)
    assert not dialog.save_button.isEnabled()
    assert dialog.key_error.text() == "A key is required"
    dialog.key.setText("2bad key")
    assert "Start with a letter" in dialog.key_error.text()
    assert not dialog.save_button.isEnabled()
    dialog.key.setText("SMTP_PASSWORD")
    assert dialog.value_error.text() == "A value is required"
    assert dialog.value.edit.echoMode() == QLineEdit.EchoMode.Password
    dialog.value.show_button.click()
    assert dialog.value.edit.echoMode() == QLineEdit.EchoMode.Normal
    dialog.description.setText("Outgoing mail")
    dialog.value.edit.setText(VALUE)
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    stored = qloop.run_until_complete(backend_of(desktop).secrets.list(agent_id))
    assert [(s.secret_key, s.description) for s in stored] == [("SMTP_PASSWORD", "Outgoing mail")]
    assert panel.stack.currentWidget() is panel.table
    assert panel.model.data(panel.model.index(0, 0)) == "SMTP_PASSWORD"
    shown = everything_the_table_shows(panel)
    assert "SMTP_PASSWORD" in shown
    assert not [item for item in shown if isinstance(item, str) and VALUE in item]
    wait_until(qloop, lambda: panel.selected_secret() is not None)
    wait_until(qloop, lambda: [e.action for e in panel.audit_model.entries()] == ["create"])
    assert panel.audit_model.entries()[0].via == "window"


def test_a_key_added_meanwhile_shows_the_conflict_in_the_dialog(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    agent_id = add_agent(desktop, qloop, "Racer")
    add_secret(desktop, qloop, agent_id, "TOKEN", "first")
    panel = panel_for(desktop, qloop, agent_id, rows=1)
    dialog = open_add_dialog(panel)
    dialog.key.setText("TOKEN")
    assert "'TOKEN' already exists for Racer" in dialog.key_error.text()
    assert not dialog.save_button.isEnabled()
    dialog.key.setText("OTHER")
    dialog.value.edit.setText("second")
    add_secret(desktop, qloop, agent_id, "OTHER", "from the API")  # after the dialog checked
    dialog.save_button.click()
    wait_until(qloop, lambda: bool(dialog.form_error.text()))
    assert dialog.form_error.text() == "Racer already has a secret 'OTHER' (added meanwhile)."
    assert dialog.isVisible()
    assert "'OTHER' already exists" in dialog.key_error.text()
    dialog.reject()


def test_editing_with_an_empty_value_keeps_the_value(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    agent_id = add_agent(desktop, qloop, "Keeper")
    secret_id = add_secret(desktop, qloop, agent_id, "API_KEY", VALUE)
    panel = panel_for(desktop, qloop, agent_id, rows=1)
    panel.table.selectRow(0)
    panel.edit_button.click()
    dialog = panel._dialog
    assert isinstance(dialog, SecretDialog)
    assert dialog.key.isReadOnly()
    assert "keep the current" in dialog.value_hint.text()
    assert dialog.save_button.isEnabled()
    dialog.description.setText("Weather service")
    dialog.save_button.click()
    wait_until(qloop, lambda: panel.model.data(panel.model.index(0, 1)) == "Weather service")
    detail = qloop.run_until_complete(
        backend_of(desktop).secrets.get(agent_id, secret_id, decrypt=True, actor=API_ACTOR)
    )
    assert detail.decrypted_value == VALUE


def test_reveal_asks_first_shows_the_value_and_is_audited(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = add_agent(desktop, qloop, "Revealer")
    add_secret(desktop, qloop, agent_id, "API_KEY", VALUE)
    panel = panel_for(desktop, qloop, agent_id, rows=1)
    panel.table.selectRow(0)
    questions = answer_confirmations(panel, monkeypatch, yes=False)
    panel.reveal_button.click()
    wait_until(qloop, lambda: len(questions) == 1)
    assert "recorded in the audit trail" in questions[0]
    assert panel._dialog is None
    questions = answer_confirmations(panel, monkeypatch, yes=True)
    panel.reveal_button.click()
    wait_until(qloop, lambda: isinstance(panel._dialog, RevealDialog))
    dialog = panel._dialog
    assert isinstance(dialog, RevealDialog)
    assert dialog.value.edit.text() == VALUE
    assert dialog.value.edit.echoMode() == QLineEdit.EchoMode.Normal
    audit = qloop.run_until_complete(backend_of(desktop).secrets.audit(agent_id))
    assert (audit[0].action, audit[0].secret_key, audit[0].via) == ("decrypt", "API_KEY", "window")
    wait_until(qloop, lambda: panel.audit_model.entries()[0].action == "decrypt")
    assert panel.audit_model.data(panel.audit_model.index(0, 1)) == "Revealed"
    assert panel.selected_secret() is not None
    dialog.reject()
    assert dialog.value.edit.text() == ""


def test_copy_puts_the_value_on_the_clipboard_and_clears_it_when_the_timer_fires(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = add_agent(desktop, qloop, "Copier")
    add_secret(desktop, qloop, agent_id, "API_KEY", VALUE)
    panel = panel_for(desktop, qloop, agent_id, rows=1)
    panel.table.selectRow(0)
    answer_confirmations(panel, monkeypatch, yes=True)
    panel.reveal_button.click()
    wait_until(qloop, lambda: isinstance(panel._dialog, RevealDialog))
    dialog = panel._dialog
    assert isinstance(dialog, RevealDialog)
    clipboard = QGuiApplication.clipboard()
    dialog.copy_button.click()
    assert clipboard.text() == VALUE
    assert panel.clipboard_timer.isActive()
    assert panel.clipboard_timer.interval() == 30_000
    assert panel.message.text() == "Copied — the clipboard is cleared in 30 s"
    assert "cleared in 30 s" in dialog.note.text()
    panel.clipboard_timer.stop()
    panel.clipboard_timer.timeout.emit()
    assert clipboard.text() == ""
    assert "cleared" in panel.message.text()
    dialog.reject()


def test_the_clipboard_is_left_alone_when_something_else_was_copied_since(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    agent_id = add_agent(desktop, qloop, "Polite")
    panel = panel_for(desktop, qloop, agent_id, rows=0)
    clipboard = QGuiApplication.clipboard()
    panel.copy_to_clipboard(VALUE)
    clipboard.setText("the operator's own text")
    panel.clipboard_timer.stop()
    panel.clipboard_timer.timeout.emit()
    assert clipboard.text() == "the operator's own text"
    clipboard.clear()


def test_delete_asks_first_and_soft_deletes(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = add_agent(desktop, qloop, "Cleaner")
    add_secret(desktop, qloop, agent_id, "OLD_TOKEN", VALUE)
    add_secret(desktop, qloop, agent_id, "KEEP", "kept")
    panel = panel_for(desktop, qloop, agent_id, rows=2)
    panel.select_secret(panel.model.secrets()[1].id)
    assert panel.selected_secret().secret_key == "OLD_TOKEN"  # type: ignore[union-attr]
    questions = answer_confirmations(panel, monkeypatch, yes=True)
    panel.delete_button.click()
    wait_until(qloop, lambda: panel.model.rowCount() == 1)
    assert "Delete the secret 'OLD_TOKEN' of Cleaner?" in questions[0]
    assert [s.secret_key for s in panel.model.secrets()] == ["KEEP"]
    everything = qloop.run_until_complete(backend_of(desktop).secrets.list(agent_id, include_inactive=True))
    assert {(s.secret_key, s.is_active) for s in everything} == {("OLD_TOKEN", False), ("KEEP", True)}


def test_the_agent_chooser_follows_agents_and_remembers_the_choice(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    panel = secrets_panel(desktop)
    wait_until(qloop, lambda: "No agents yet" in panel.empty_label.text())
    assert not panel.add_button.isEnabled()
    first = add_agent(desktop, qloop, "Beta")
    wait_until(qloop, lambda: panel.agent_combo.count() == 1)
    second = add_agent(desktop, qloop, "Alpha")
    add_secret(desktop, qloop, second, "ALPHA_KEY", "a")
    wait_until(qloop, lambda: panel.agent_combo.count() == 2)
    assert [panel.agent_combo.itemText(i) for i in range(2)] == ["Alpha", "Beta"]
    assert panel.current_agent().id == first  # type: ignore[union-attr]
    panel.agent_combo.setCurrentIndex(0)
    wait_until(qloop, lambda: [s.secret_key for s in panel.model.secrets()] == ["ALPHA_KEY"])
    qloop.run_until_complete(backend_of(desktop).agents.delete(first))
    wait_until(qloop, lambda: panel.agent_combo.count() == 1)
    assert panel.current_agent().id == second  # type: ignore[union-attr]
    assert panel.model.rowCount() == 1


def test_ctrl_n_opens_the_add_dialog(desktop: DesktopApp, qloop: BatchedQEventLoop, qtbot: QtBot) -> None:
    agent_id = add_agent(desktop, qloop, "Shortcut")
    panel = panel_for(desktop, qloop, agent_id, rows=0)
    window = desktop.window
    assert window is not None
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    panel.agent_combo.setFocus()
    qtbot.keyClick(panel.agent_combo, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(panel._dialog, SecretDialog)
    panel._dialog.reject()


def test_the_master_key_line_names_the_key_file(desktop: DesktopApp) -> None:
    panel = secrets_panel(desktop)
    text = panel.vault_label.text()
    assert text.startswith("Master key: the file ")
    assert str(desktop.settings.data_dir) in text
    assert "OS keyring is not used" in text


def test_the_table_never_holds_values(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    agent_id = add_agent(desktop, qloop, "Vault")
    add_secret(desktop, qloop, agent_id, "A_KEY", VALUE)
    panel = panel_for(desktop, qloop, agent_id, rows=1)
    secret = panel.model.data(panel.model.index(0, 0), Qt.ItemDataRole.UserRole + 1)
    assert not hasattr(secret, "decrypted_value")
    assert VALUE not in repr(secret)
    assert panel.model.data(QModelIndex()) is None

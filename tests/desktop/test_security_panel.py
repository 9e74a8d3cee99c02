"""The Security panel over the real backend: live incidents coloured by severity, filters, resolving with
notes, the level switch (lenient only after confirmation), the agent report, paging, and the tray
notifications for serious incidents, their history and their muting in Settings.

Offscreen Qt has no system tray, so the tray is built directly (as in test_tray.py); what it showed as
balloons is in ``Tray.balloons``.
"""

from __future__ import annotations

import getpass
import json
import tomllib
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from agentic_desktop.notifications import NotificationsDialog
from agentic_desktop.panels.security import PAGE, SecurityPanel
from agentic_desktop.panels.security_dialogs import ResolveDialog
from agentic_desktop.panels.security_table import COLUMNS, SEVERITY_COLOURS
from agentic_desktop.tray import Tray
from server.services.agents import AgentDraft
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    import pytest
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from agentic_desktop.main_window import MainWindow
    from agentic_desktop.notifications import NotificationCentre
    from agentic_desktop.panels.settings import NotificationChoices
    from server.backend import Backend
    from server.services.security import Incident, Violation


def backend_of(desktop: DesktopApp) -> Backend:
    assert desktop.backend is not None
    return desktop.backend


def window_of(desktop: DesktopApp) -> MainWindow:
    assert desktop.window is not None
    return desktop.window


def centre_of(desktop: DesktopApp) -> NotificationCentre:
    return window_of(desktop).notifications


def make_tray(desktop: DesktopApp) -> Tray:
    assert desktop.bridge is not None
    return Tray(window_of(desktop), desktop.bridge)


def security_panel(desktop: DesktopApp, qloop: BatchedQEventLoop) -> SecurityPanel:
    """The panel on screen, its first load done."""
    window = window_of(desktop)
    window.show_section("security")
    panel = window.panels["security"]
    assert isinstance(panel, SecurityPanel)
    wait_until(qloop, lambda: panel.count_label.text() != "" and not panel._page_loading)
    return panel


def record(
    desktop: DesktopApp,
    qloop: BatchedQEventLoop,
    violation: Violation,
    description: str,
    agent_id: str | None = None,
) -> Incident:
    return qloop.run_until_complete(
        backend_of(desktop).security.record(violation, description, agent_id=agent_id)
    )


def cell(panel: SecurityPanel, row: int, column: str, role: int = Qt.ItemDataRole.DisplayRole) -> object:
    return panel.model.data(panel.model.index(row, COLUMNS.index(column)), role)


def column(panel: SecurityPanel, name: str) -> list[object]:
    return [cell(panel, row, name) for row in range(panel.model.rowCount())]


def shown_ids(panel: SecurityPanel) -> list[str]:
    return [incident.id for incident in panel.model.incidents()]


def answer_confirmations(panel: SecurityPanel, monkeypatch: pytest.MonkeyPatch, *, yes: bool) -> list[str]:
    questions: list[str] = []

    async def answer(title: str, text: str, *, yes_text: str, destructive: bool = True) -> bool:
        questions.append(text)
        return yes

    monkeypatch.setattr(panel, "confirm", answer)
    return questions


def choose(combo_owner: SecurityPanel, name: str, value: object) -> None:
    combo = getattr(combo_owner, name)
    index = combo.findData(value)
    assert index >= 0, f"{value!r} is not offered by {name}"
    combo.setCurrentIndex(index)


def security_notifications(desktop: DesktopApp) -> list[tuple[str, str, str, bool]]:
    return [(n.title, n.text, n.level, n.muted) for n in centre_of(desktop).history if n.kind == "security"]


def open_resolve_dialog(panel: SecurityPanel, incident_id: str) -> ResolveDialog:
    panel.select_incident(incident_id)
    assert panel.resolve_button.isEnabled()
    panel.resolve_button.click()
    dialog = panel._dialog
    assert isinstance(dialog, ResolveDialog)
    return dialog


def test_a_critical_incident_appears_at_the_top_in_red_and_raises_a_tray_notification(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    panel = security_panel(desktop, qloop)
    tray = make_tray(desktop)
    older = record(desktop, qloop, "RATE_LIMIT_EXCEEDED", "Agent creation: more than 10 per hour")
    wait_until(qloop, lambda: shown_ids(panel) == [older.id])
    resets: list[None] = []
    panel.model.modelReset.connect(lambda: resets.append(None))

    critical = record(desktop, qloop, "MALICIOUS_CONTENT", "SQL injection in input_data.query")

    wait_until(qloop, lambda: shown_ids(panel) == [critical.id, older.id])
    assert resets == []  # added at the top, not by reloading the table
    assert [cell(panel, 0, name) for name in ("Severity", "Type", "Agent", "Status")] == [
        "Critical",
        "Malicious content",
        "—",
        "Open",
    ]
    assert cell(panel, 0, "Severity", Qt.ItemDataRole.ForegroundRole) == QColor(SEVERITY_COLOURS["critical"])
    assert cell(panel, 1, "Severity", Qt.ItemDataRole.ForegroundRole) == QColor(SEVERITY_COLOURS["low"])
    assert panel.count_label.text() == "2 incidents"
    wait_until(qloop, lambda: panel.cards.health_card.value.text() == "Critical")
    assert panel.cards.open_card.value.text() == "2"

    wait_until(qloop, lambda: bool(security_notifications(desktop)))
    expected = ("Critical security incident", "SQL injection in input_data.query", "critical", False)
    assert security_notifications(desktop) == [expected]
    assert [(n.title, n.text, n.level) for n in tray.balloons] == [expected[:3]]


def test_a_burst_of_serious_incidents_is_one_notification_and_low_ones_none(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    security_panel(desktop, qloop)
    record(desktop, qloop, "RATE_LIMIT_EXCEEDED", "General API: more than 1200 per minute")
    record(desktop, qloop, "PERMISSION_DENIED", "Tool 'shell' refused")
    record(desktop, qloop, "MALICIOUS_CONTENT", "Path traversal in input_data.path")
    record(desktop, qloop, "SCHEMA_VIOLATION", "Agent 'Scraper' refused: 14 tools")

    wait_until(qloop, lambda: bool(security_notifications(desktop)))
    assert security_notifications(desktop) == [
        (
            "3 security incidents",
            "1 critical, 2 high. Newest: Agent 'Scraper' refused: 14 tools",
            "critical",
            False,
        )
    ]


def test_filters_narrow_the_table_and_live_rows_respect_them(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    timeout = record(desktop, qloop, "EXECUTION_TIMEOUT", "Task 3f2a stopped after 1800 s")
    denied = record(desktop, qloop, "PERMISSION_DENIED", "Tool 'shell' refused")
    limited = record(desktop, qloop, "RATE_LIMIT_EXCEEDED", "General API: too many requests")
    qloop.run_until_complete(backend_of(desktop).security.resolve(limited.id, "Script fixed", "ops"))
    panel = security_panel(desktop, qloop)
    wait_until(qloop, lambda: len(shown_ids(panel)) == 3)

    choose(panel, "severity_filter", "high")
    wait_until(qloop, lambda: shown_ids(panel) == [denied.id])
    choose(panel, "severity_filter", None)
    choose(panel, "status_filter", False)
    wait_until(qloop, lambda: shown_ids(panel) == [denied.id, timeout.id])
    assert set(column(panel, "Status")) == {"Open"}
    choose(panel, "status_filter", True)
    wait_until(qloop, lambda: shown_ids(panel) == [limited.id])
    choose(panel, "status_filter", None)
    choose(panel, "type_filter", "EXECUTION_TIMEOUT")
    wait_until(qloop, lambda: shown_ids(panel) == [timeout.id])
    assert panel.count_label.text() == "1 incident"

    record(desktop, qloop, "MALICIOUS_CONTENT", "Script injection in input_data.html")
    newer_timeout = record(desktop, qloop, "EXECUTION_TIMEOUT", "Task 77aa stopped after 1800 s")
    wait_until(qloop, lambda: shown_ids(panel) == [newer_timeout.id, timeout.id])
    assert panel.total == 2


def test_resolving_needs_notes_and_then_shows_the_row_resolved(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    incident = record(desktop, qloop, "PERMISSION_DENIED", "Tool 'shell' refused for agent 'Mailer'")
    panel = security_panel(desktop, qloop)
    wait_until(qloop, lambda: shown_ids(panel) == [incident.id])
    dialog = open_resolve_dialog(panel, incident.id)
    assert "Tool 'shell' refused" in dialog.description.text()
    assert not dialog.resolve_button.isEnabled()
    dialog.notes.setPlainText("   ")
    assert not dialog.resolve_button.isEnabled()
    assert dialog.notes_error.text() == "Notes are required: say what was found and done"

    dialog.notes.setPlainText("Expected: the agent may not run shell commands.")
    assert dialog.resolve_button.isEnabled()
    dialog.resolve_button.click()

    wait_until(qloop, lambda: cell(panel, 0, "Status") == "Resolved")
    assert cell(panel, 0, "Status", Qt.ItemDataRole.ForegroundRole) == QColor("#1f9d55")
    assert not panel.resolve_button.isEnabled()
    stored = qloop.run_until_complete(backend_of(desktop).security.incidents(resolved=True)).incidents
    assert [(i.id, i.resolution_notes, i.resolved_by) for i in stored] == [
        (incident.id, "Expected: the agent may not run shell commands.", getpass.getuser())
    ]


def test_resolving_an_incident_resolved_meanwhile_shows_the_conflict_in_the_dialog(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    incident = record(desktop, qloop, "SCHEMA_VIOLATION", "Agent 'Scraper' refused: 14 tools")
    panel = security_panel(desktop, qloop)
    wait_until(qloop, lambda: shown_ids(panel) == [incident.id])
    dialog = open_resolve_dialog(panel, incident.id)
    qloop.run_until_complete(backend_of(desktop).security.resolve(incident.id, "Done via API", "script"))
    dialog.notes.setPlainText("Looked at it too")
    dialog.resolve_button.click()

    wait_until(qloop, lambda: dialog.form_error.isVisibleTo(dialog))
    assert "already resolved by script" in dialog.form_error.text()
    assert dialog.isVisible()
    assert not dialog.resolve_button.isEnabled()
    wait_until(qloop, lambda: cell(panel, 0, "Status") == "Resolved")
    dialog.reject()


def test_declining_the_lenient_confirmation_keeps_moderate(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = security_panel(desktop, qloop)
    questions = answer_confirmations(panel, monkeypatch, yes=False)
    assert panel.level_combo.currentData() == "moderate"

    choose(panel, "level_combo", "lenient")

    wait_until(qloop, lambda: bool(questions) and panel.level_combo.currentData() == "moderate")
    assert "only recorded as an incident, not refused" in questions[0]
    assert backend_of(desktop).security.policy.level == "moderate"
    assert "Refused (400)" in panel.limits_view.input_label.text()


def test_accepting_lenient_switches_the_level_and_shows_its_limits(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = security_panel(desktop, qloop)
    questions = answer_confirmations(panel, monkeypatch, yes=True)

    choose(panel, "level_combo", "lenient")

    wait_until(qloop, lambda: panel.tabs.tabText(1) == "Limits · Lenient")
    assert len(questions) == 1
    assert backend_of(desktop).security.policy.level == "lenient"
    assert panel.limits_view.input_label.text() == "Only recorded as an incident, not refused"
    assert panel.limits_view.values["max_execution_time"].text() == "1 h"
    assert "only recorded" in panel.cards.level_card.detail.text()
    config = tomllib.loads(desktop.settings.config_file.read_text(encoding="utf-8"))
    assert config["security_level"] == "lenient"


def test_switching_to_strict_needs_no_confirmation(
    desktop: DesktopApp, qloop: BatchedQEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = security_panel(desktop, qloop)
    questions = answer_confirmations(panel, monkeypatch, yes=False)
    choose(panel, "level_combo", "strict")
    wait_until(qloop, lambda: backend_of(desktop).security.policy.level == "strict")
    wait_until(qloop, lambda: panel.limits_view.values["max_concurrent_agents"].text() == "4")
    assert questions == []
    assert panel.cards.usage_card.value.text().endswith("/ 4 agents")


def test_selecting_an_incident_shows_its_agents_report(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    agent = qloop.run_until_complete(
        backend_of(desktop).agents.create(AgentDraft(name="Web researcher", model_name="llama3.2:latest"))
    )
    denied = record(desktop, qloop, "PERMISSION_DENIED", "Tool 'shell' refused", agent_id=agent.id)
    record(desktop, qloop, "RATE_LIMIT_EXCEEDED", "Unrelated burst")
    panel = security_panel(desktop, qloop)
    wait_until(qloop, lambda: cell(panel, 1, "Agent") == "Web researcher")

    panel.select_incident(denied.id)

    wait_until(qloop, lambda: panel.report.stack.currentIndex() == 1)
    assert panel.report.agent_combo.currentText() == "Web researcher"
    assert "Not secure" in panel.report.state.text()
    assert "1 open high or critical incident" in panel.report.state.text()
    assert panel.report.incident_count() == 1
    assert panel.report.figures["tasks"].text() == "0"

    qloop.run_until_complete(backend_of(desktop).security.resolve(denied.id, "Expected", "ops"))
    wait_until(qloop, lambda: "<b>Secure</b>" in panel.report.state.text())


def test_more_than_a_page_is_loaded_on_demand(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    async def many() -> None:
        for number in range(PAGE + 5):
            await backend_of(desktop).security.record("RATE_LIMIT_EXCEEDED", f"Burst {number}")

    qloop.run_until_complete(many())
    panel = security_panel(desktop, qloop)
    panel.schedule_refresh()
    wait_until(qloop, lambda: not panel._page_loading and panel.model.rowCount() == PAGE)
    assert panel.count_label.text() == f"Showing the newest {PAGE} of {PAGE + 5} incidents"
    assert panel.more_button.isVisibleTo(panel)

    panel.more_button.click()

    wait_until(qloop, lambda: panel.model.rowCount() == PAGE + 5)
    assert len(set(shown_ids(panel))) == PAGE + 5
    assert column(panel, "Description")[-1] == "Burst 0"
    assert not panel.more_button.isVisibleTo(panel)


def test_muted_security_notifications_reach_the_history_without_a_balloon(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    tray = make_tray(desktop)
    settings = window_of(desktop).panels["settings"]
    choices: NotificationChoices | None = settings.notification_choices  # type: ignore[attr-defined]
    assert choices is not None
    assert choices.boxes["security"].isChecked()
    choices.boxes["security"].click()
    centre = centre_of(desktop)
    assert centre.is_muted("security")
    assert not centre.is_muted("task")

    record(desktop, qloop, "MALICIOUS_CONTENT", "Script injection in input_data.html")

    wait_until(qloop, lambda: bool(security_notifications(desktop)))
    assert security_notifications(desktop) == [
        ("Critical security incident", "Script injection in input_data.html", "critical", True)
    ]
    assert tray.balloons == []
    wait_until(qloop, lambda: centre.path.exists())
    assert json.loads(centre.path.read_text(encoding="utf-8")) == {"muted": ["security"]}


def test_the_notification_history_lists_newest_first_and_follows_new_ones(
    desktop: DesktopApp, qloop: BatchedQEventLoop, qtbot: QtBot
) -> None:
    panel = security_panel(desktop, qloop)
    centre = centre_of(desktop)
    centre.notify("Task finished", "1 completed", "info", "task")
    centre.set_muted("resource", True)
    centre.notify("Resource alert", "GPU 0 at 88 °C", "warning", "resource")

    panel.notifications_button.click()
    dialog = centre._dialog
    assert isinstance(dialog, NotificationsDialog)
    assert dialog.rows() == [
        ("Resource alert", "GPU 0 at 88 °C", "muted"),
        ("Task finished", "1 completed", "shown"),
    ]
    centre.notify("Critical security incident", "SQL injection", "critical", "security")
    assert dialog.rows()[0] == ("Critical security incident", "SQL injection", "shown")
    with qtbot.waitSignal(dialog.finished, timeout=1000):
        dialog.reject()


def test_double_clicking_an_open_incident_opens_the_resolve_dialog(
    desktop: DesktopApp, qloop: BatchedQEventLoop, qtbot: QtBot
) -> None:
    incident = record(desktop, qloop, "EXECUTION_TIMEOUT", "Task 3f2a stopped after 1800 s")
    panel = security_panel(desktop, qloop)
    wait_until(qloop, lambda: shown_ids(panel) == [incident.id])
    where = panel.table.visualRect(panel.model.index(0, COLUMNS.index("Description"))).center()
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    dialog = panel._dialog
    assert isinstance(dialog, ResolveDialog)
    assert dialog.isVisible()
    assert "Task 3f2a stopped" in dialog.description.text()
    dialog.reject()


def test_the_tray_menu_opens_the_notification_history(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    tray = make_tray(desktop)
    centre = centre_of(desktop)
    tray.notify("Resource alert", "Disk / at 96 %", "warning", "resource")
    assert [(n.title, n.kind) for n in tray.history] == [("Resource alert", "resource")]
    assert [action.text() for action in tray.menu.actions()][:2] == ["Hide window", "Notifications…"]

    tray.history_action.trigger()

    dialog = centre._dialog
    assert isinstance(dialog, NotificationsDialog)
    assert dialog.rows() == [("Resource alert", "Disk / at 96 %", "shown")]
    dialog.reject()
    wait_until(qloop, lambda: centre._dialog is None)

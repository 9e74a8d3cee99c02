"""The dialog that resolves a security incident with the operator's notes."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.background import async_slot
from agentic_desktop.panels.agent_dialogs import _error_label, _show
from agentic_desktop.panels.security_table import SEVERITY_COLOURS, type_label, when
from server.services.errors import AgenticError, Conflict, NotFound

if TYPE_CHECKING:
    from server.services.security import Incident, SecurityService

MAX_NOTES_CHARS = 2000


def _selectable(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ResolveDialog(QDialog):
    """Shows the incident and asks what was done about it; Resolve needs notes."""

    resolved = Signal(object)

    def __init__(
        self, security: SecurityService, parent: QWidget | None, incident: Incident, agent: str, who: str
    ) -> None:
        super().__init__(parent)
        self._security = security
        self._incident = incident
        self._who = who
        self.setWindowTitle("Resolve security incident")
        self.setMinimumWidth(540)

        colour = SEVERITY_COLOURS.get(incident.severity, "#3b4357")
        severity = QLabel(
            f"<span style='color:{colour}; font-weight:600'>{escape(incident.severity.capitalize())}</span>"
            f" · {escape(type_label(incident.violation_type))}"
        )
        severity.setTextFormat(Qt.TextFormat.RichText)
        facts = QFormLayout()
        facts.setHorizontalSpacing(14)
        facts.addRow("Incident", _selectable(incident.incident_id))
        facts.addRow("Severity", severity)
        facts.addRow("Time", _selectable(when(incident.timestamp)))
        facts.addRow("Agent", _selectable(agent))
        self.description = _selectable(incident.description)
        facts.addRow("What happened", self.description)

        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("What you found and what you did, e.g. “False alarm: a test payload.”")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(96)
        self.notes_error = _error_label()
        self.form_error = _error_label()
        hint = QLabel(f"Recorded as resolved by {escape(who)}, with these notes.")
        hint.setObjectName("cardDetail")
        hint.setWordWrap(True)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.resolve_button = self.buttons.addButton("Resolve", QDialogButtonBox.ButtonRole.AcceptRole)
        self.resolve_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_resolve_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(facts)
        layout.addSpacing(6)
        notes_label = QLabel("Resolution notes")
        notes_label.setBuddy(self.notes)
        layout.addWidget(notes_label)
        layout.addWidget(self.notes)
        layout.addWidget(self.notes_error)
        layout.addWidget(hint)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)

        self.notes.textChanged.connect(self.validate)
        self._touched = False
        self.validate()
        self.notes.setFocus()

    @Slot()
    def validate(self) -> bool:
        """Resolve is enabled once there are notes (and not too many)."""
        raw = self.notes.toPlainText()
        text = raw.strip()
        self._touched = self._touched or bool(raw)  # no complaint before the operator typed anything
        if not text:
            problem = "Notes are required: say what was found and done" if self._touched else ""
        elif len(text) > MAX_NOTES_CHARS:
            problem = f"Keep the notes under {MAX_NOTES_CHARS} characters ({len(text)} now)"
        else:
            problem = ""
        _show(self.notes_error, problem)
        ok = bool(text) and not problem
        self.resolve_button.setEnabled(ok)
        return ok

    @async_slot()
    async def on_resolve_clicked(self) -> None:
        """Resolve the incident; a problem is shown here and the dialog stays open."""
        if not self.validate():
            return
        self.resolve_button.setEnabled(False)
        _show(self.form_error, "")
        try:
            incident = await self._security.resolve(
                self._incident.id, self.notes.toPlainText().strip(), self._who
            )
        except Conflict as exc:
            _show(self.form_error, f"{exc}. Close this dialog: the table shows its resolution.")
            return  # Resolve stays disabled: there is nothing left to resolve
        except NotFound:
            _show(self.form_error, "This incident no longer exists.")
            return
        except AgenticError as exc:
            _show(self.form_error, f"Could not resolve the incident: {exc}")
        else:
            self.resolved.emit(incident)
            self.accept()
            return
        if self.isVisible():
            self.validate()

"""The add/edit dialog for secrets, and the dialog that shows a revealed value."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.background import async_slot
from agentic_desktop.panels.agent_dialogs import _error_label, _show
from server.services.errors import AgenticError, Conflict
from server.services.secrets import KEY_PATTERN, MAX_VALUE_CHARS, SecretDraft, SecretPatch

if TYPE_CHECKING:
    from server.services.agents import Agent
    from server.services.secrets import Actor, Secret, SecretsService

KEY = re.compile(KEY_PATTERN)
MAX_DESCRIPTION_CHARS = 1000


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("cardDetail")
    label.setWordWrap(True)
    return label


def _column(*widgets: QWidget) -> QWidget:
    """A field with its error and hint lines under it; hidden lines take no room."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    for widget in widgets:
        layout.addWidget(widget)
    return box


class MaskedField(QWidget):
    """A line edit for a secret value with a Show/Hide toggle; ``masked`` says how it starts."""

    def __init__(self, value: str = "", *, masked: bool = True, read_only: bool = False) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.edit = QLineEdit(value)
        self.edit.setReadOnly(read_only)
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.show_button = QPushButton()
        self.show_button.setCheckable(True)
        self.show_button.setAutoDefault(False)
        self.show_button.toggled.connect(self._toggle)
        self.show_button.setChecked(not masked)
        self._toggle(not masked)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.show_button)

    @Slot(bool)
    def _toggle(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_button.setText("Hide" if shown else "Show")


class SecretDialog(QDialog):
    """Add a secret to an agent, or change one's value or description; checked as you type."""

    saved = Signal(object)

    def __init__(
        self,
        secrets: SecretsService,
        parent: QWidget | None,
        agent: Agent,
        secret: Secret | None,
        taken_keys: set[str],
        actor: Actor,
    ) -> None:
        super().__init__(parent)
        self._secrets = secrets
        self._agent = agent
        self._secret = secret
        self._actor = actor
        self._taken = set(taken_keys) - ({secret.secret_key} if secret else set())
        self.setWindowTitle(f"Edit secret {secret.secret_key}" if secret else f"Add a secret to {agent.name}")
        self.setMinimumWidth(520)

        self.key = QLineEdit(secret.secret_key if secret else "")
        self.key.setPlaceholderText("e.g. OPENWEATHER_API_KEY")
        self.key.setReadOnly(secret is not None)
        self.key.setMaxLength(100)
        self.key_error = _error_label()
        self.key_hint = _hint()
        self.description = QLineEdit(secret.description if secret else "")
        self.description.setPlaceholderText("What it is for (optional)")
        self.description.setMaxLength(MAX_DESCRIPTION_CHARS)
        self.value = MaskedField()
        self.value.edit.setMaxLength(MAX_VALUE_CHARS)
        self.value.edit.setPlaceholderText("Leave empty to keep the current value" if secret else "")
        self.value_error = _error_label()
        self.value_hint = _hint(
            "Leave the value empty to keep the current one; it is never shown here."
            if secret
            else "Encrypted before it is stored; the table never shows it."
        )
        self.form_error = _error_label()

        form = QFormLayout()
        form.addRow("Key", _column(self.key, self.key_error, self.key_hint))
        form.addRow("Description", self.description)
        value_label = "New value" if secret else "Value"
        form.addRow(value_label, _column(self.value, self.value_error, self.value_hint))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        header = QLabel(f"Agent <b>{escape(agent.name)}</b>")
        header.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(header)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)

        self.key.textChanged.connect(self.validate)
        self.value.edit.textChanged.connect(self.validate)
        self.validate()
        (self.value.edit if secret else self.key).setFocus()

    @Slot()
    def validate(self) -> bool:
        """Check the fields; Save is enabled only when they are all right."""
        key = self.key.text().strip()
        if not key:
            key_problem = "A key is required"
        elif not KEY.match(key):
            key_problem = "Start with a letter or _, then use letters, digits, _ . or - only"
        elif key in self._taken:
            key_problem = f"'{key}' already exists for {self._agent.name}: select it and use Edit… instead"
        else:
            key_problem = ""
        _show(self.key_error, key_problem)
        self.key_hint.setText(f"Tasks use it as {{{{secret:{key}}}}}" if not key_problem else "")
        self.key_hint.setVisible(not key_problem)
        value = self.value.edit.text()
        value_problem = "A value is required" if not value and self._secret is None else ""
        _show(self.value_error, value_problem)
        ok = not key_problem and not value_problem
        self.save_button.setEnabled(ok)
        return ok

    @async_slot()
    async def on_save_clicked(self) -> None:
        """Store the secret; problems are shown here and the dialog stays open."""
        if not self.validate():
            return
        self.save_button.setEnabled(False)
        _show(self.form_error, "")
        key = self.key.text().strip()
        value = self.value.edit.text()
        try:
            if self._secret is None:
                draft = SecretDraft(secret_key=key, secret_value=value, description=self.description.text())
                secret = await self._secrets.create(self._agent.id, draft, self._actor)
            elif not value and self.description.text() == self._secret.description:
                secret = self._secret  # nothing changed: no audit entry for a no-op
            else:
                patch = SecretPatch(secret_value=value or None, description=self.description.text())
                secret = await self._secrets.update(self._agent.id, self._secret.id, patch, self._actor)
        except Conflict:
            self._taken.add(key)
            _show(self.form_error, f"{self._agent.name} already has a secret '{key}' (added meanwhile).")
        except AgenticError as exc:
            _show(self.form_error, str(exc))
        except ValidationError as exc:
            problems = "; ".join(error["msg"] for error in exc.errors(include_url=False))
            _show(self.form_error, f"The secret is not valid: {problems}")
        else:
            self.saved.emit(secret)
            self.accept()
            return
        finally:
            if self.isVisible():
                self.validate()


class RevealDialog(QDialog):
    """A revealed value with Hide and Copy; the panel does the copying (and the clearing)."""

    copy_requested = Signal(str)

    def __init__(self, parent: QWidget | None, agent: Agent, key: str, value: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Secret {key}")
        self.setMinimumWidth(480)
        header = QLabel(f"<b>{escape(key)}</b> of {escape(agent.name)}")
        header.setTextFormat(Qt.TextFormat.RichText)
        self.value = MaskedField(value, masked=False, read_only=True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("primary")
        self.copy_button.setAutoDefault(False)
        self.copy_button.setToolTip("Copy to the clipboard; it is cleared again after 30 s")
        self.value.layout().addWidget(self.copy_button)
        self.note = _hint("This reveal is in the audit trail. A copy stays on the clipboard for 30 s.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.value)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.value.edit.text()))
        self.finished.connect(lambda _result: self.value.edit.clear())

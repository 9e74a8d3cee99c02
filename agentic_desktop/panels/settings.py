"""Settings: how this instance is configured, and the credentials other clients need."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.widgets.header import PanelHeader
from server.db.engine import display_url

if TYPE_CHECKING:
    from server.backend import Backend


class SecretField(QWidget):
    """A masked, read-only value with Show and Copy buttons."""

    def __init__(self, value: str) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(value)
        self.edit.setReadOnly(True)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_button = QPushButton("Show")
        self.show_button.setCheckable(True)
        self.show_button.toggled.connect(self._toggle)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self._copy)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.show_button)
        layout.addWidget(self.copy_button)

    @Slot(bool)
    def _toggle(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_button.setText("Hide" if shown else "Show")

    @Slot()
    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.edit.text())


def _with_hint(field: QWidget, hint: str) -> QWidget:
    """``field`` with a line of grey help text under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    label = QLabel(hint)
    label.setObjectName("cardDetail")
    label.setWordWrap(True)
    layout.addWidget(field)
    layout.addWidget(label)
    return box


def _read_only(text: str) -> QLineEdit:
    edit = QLineEdit(text)
    edit.setReadOnly(True)
    edit.setCursorPosition(0)
    return edit


class SettingsPanel(QWidget):
    """Read-only view of the effective configuration."""

    def __init__(self, backend: Backend, api_url: str) -> None:
        super().__init__()
        settings = backend.settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.addWidget(
            PanelHeader(
                "Settings",
                "Change these with command-line flags, environment variables or config.toml in "
                "the data dir, then restart.",
            )
        )
        card = QFrame()
        card.setObjectName("card")
        form = QFormLayout(card)
        form.setContentsMargins(18, 16, 18, 16)
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(10)

        self.api_key = SecretField(backend.api_key)
        key_source = (
            "generated on first start and kept in the data dir"
            if settings.api_key is None
            else "from AGENTIC_API_KEY / API_KEY or config.toml"
        )
        form.addRow("API URL", _read_only(api_url))
        form.addRow(
            "API key", _with_hint(self.api_key, f"Send as 'Authorization: Bearer <key>'; {key_source}.")
        )
        account: QWidget = _read_only(settings.admin_user)
        password_file = backend.auth.initial_password_file
        if password_file.exists():
            account = _with_hint(
                account,
                f"First-start password is in {password_file}; it is removed when you change the "
                "password (POST /api/v1/auth/change-password).",
            )
        form.addRow("Operator account", account)
        form.addRow("Ollama", _read_only(settings.ollama_host))
        form.addRow("Data dir", _read_only(str(settings.data_dir)))
        form.addRow("Database", _read_only(display_url(settings.resolved_database_url)))
        form.addRow("Config file", _read_only(str(settings.config_file)))
        form.addRow("Log file", _read_only(str(settings.data_dir / "logs" / "agentic.log")))
        origins = ", ".join(settings.cors_origins) or "none (same-origin only)"
        form.addRow("CORS origins", _read_only(origins))
        form.addRow("Security level", _read_only(settings.security_level))
        layout.addWidget(card)
        layout.addStretch(1)

"""Settings: how this instance is configured, and the credentials other clients need."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from agentic_desktop.notifications import KINDS
from agentic_desktop.widgets.header import PanelHeader
from server.config_file import ConfigFileError, set_config_value
from server.db.engine import display_url

if TYPE_CHECKING:
    from PySide6.QtGui import QShowEvent

    from agentic_desktop.notifications import NotificationCentre
    from server.backend import Backend
    from server.config import Settings


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


class WebClientField(QWidget):
    """The web client folder served at ``/``, with Choose… and Clear that edit config.toml.

    A change is written to the data dir's config.toml and applies at the next start; the field
    keeps showing what this run serves.
    """

    def __init__(self, settings: Settings, api_url: str) -> None:
        super().__init__()
        self._config_file = settings.config_file
        self._current = settings.web_root
        self._saving: asyncio.Task[None] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.folder = _read_only(str(settings.web_root) if settings.web_root else "not served")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("Pick the built client's folder (the one with index.html)")
        self.choose_button.clicked.connect(self._choose)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Stop serving a web client from the next start")
        self.clear_button.clicked.connect(self._clear)
        row.addWidget(self.folder, 1)
        row.addWidget(self.choose_button)
        row.addWidget(self.clear_button)
        layout.addLayout(row)
        url = f"{api_url}/"
        self.link = QLabel(f'Open the web client: <a href="{url}">{url}</a>')
        self.link.setTextFormat(Qt.TextFormat.RichText)
        self.link.setOpenExternalLinks(True)
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.link.setVisible(settings.web_root is not None)
        layout.addWidget(self.link)
        hint = QLabel(
            "A built web client (its dist folder, with index.html) served by this app at the API "
            "URL, same origin. Choose… and Clear edit config.toml and apply at the next start; "
            "--web-root or AGENTIC_WEB_ROOT override it."
        )
        hint.setObjectName("cardDetail")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        layout.addWidget(self.status)

    @Slot()
    def _choose(self) -> None:
        start = str(self._current or Path.home())
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the built web client (the folder with index.html)", start
        )
        if folder:
            self._start_save(Path(folder))

    @Slot()
    def _clear(self) -> None:
        self._start_save(None)

    def _start_save(self, folder: Path | None) -> None:
        self._saving = background.restart(self._saving, self._save(folder), name="settings-web-root")

    async def _save(self, folder: Path | None) -> None:
        self.choose_button.setEnabled(False)
        self.clear_button.setEnabled(False)
        try:
            await asyncio.to_thread(self._write, folder)
        except (ConfigFileError, ValueError) as exc:
            self._show(str(exc), "bad")
        else:
            if folder is None:
                self._show(
                    f"Removed web_root from {self._config_file}. "
                    "From the next start no web client is served at /.",
                    "ok",
                )
            else:
                self._show(
                    f"Saved web_root = {folder} to {self._config_file}. "
                    "It applies at the next start: restart Agentic Desktop to serve it.",
                    "ok",
                )
        finally:
            self.choose_button.setEnabled(True)
            self.clear_button.setEnabled(True)

    def _write(self, folder: Path | None) -> None:
        """Check the folder and write config.toml (in a worker thread: it touches the disk)."""
        if folder is not None:
            folder = folder.resolve()
            if not (folder / "index.html").is_file():
                raise ValueError(
                    f"{folder} has no index.html: choose the built client's output folder (dist). "
                    "config.toml was not changed."
                )
        set_config_value(self._config_file, "web_root", None if folder is None else str(folder))

    def _show(self, text: str, state: str) -> None:
        self.status.setText(text)
        self.status.setProperty("state", state)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.status.setVisible(True)


def _read_only(text: str) -> QLineEdit:
    edit = QLineEdit(text)
    edit.setReadOnly(True)
    edit.setCursorPosition(0)
    return edit


class NotificationChoices(QFrame):
    """A card of checkboxes: which kinds of notification show a tray message."""

    def __init__(self, centre: NotificationCentre) -> None:
        super().__init__()
        self.setObjectName("card")
        self._centre = centre
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(6)
        title = QLabel("NOTIFICATIONS")
        title.setObjectName("cardTitle")
        layout.addWidget(title)
        layout.addWidget(QLabel("Show a tray message for:"))
        self.boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        row.setSpacing(18)
        for kind, label in KINDS.items():
            box = QCheckBox(label)
            box.toggled.connect(lambda shown, kind=kind: self._centre.set_muted(kind, not shown))
            self.boxes[kind] = box
            row.addWidget(box)
        row.addStretch(1)
        layout.addLayout(row)
        self.history_button = QPushButton("Notification history…")
        self.history_button.clicked.connect(lambda: centre.show_history(self.window()))
        hint = QLabel(
            "A muted kind still goes into the notification history (here, in Security → "
            "Notifications… and in the tray menu); it just shows no tray message. Saved in "
            f"{centre.path}."
        )
        hint.setObjectName("cardDetail")
        hint.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(hint, 1)
        bottom.addWidget(self.history_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(bottom)
        centre.muted_changed.connect(self.show_choices)
        self.show_choices()

    @Slot()
    def show_choices(self) -> None:
        """Tick the kinds that are not muted."""
        for kind, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(not self._centre.is_muted(kind))
            box.blockSignals(False)


class SettingsPanel(QWidget):
    """Read-only view of the effective configuration, and the notification choices."""

    def __init__(
        self, backend: Backend, api_url: str, notifications: NotificationCentre | None = None
    ) -> None:
        super().__init__()
        self._backend = backend
        settings = backend.settings
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 0)
        outer.addWidget(
            PanelHeader(
                "Settings",
                "Change these with command-line flags, environment variables or config.toml in "
                "the data dir, then restart.",
            )
        )
        # The cards scroll: on a short window the form keeps its rows' heights instead of squashing them.
        body = QWidget()
        body.setObjectName("settingsBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 24)
        layout.setSpacing(12)
        scroll = QScrollArea()
        scroll.setObjectName("settingsScroll")
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        scroll.setStyleSheet("QScrollArea, QWidget#settingsBody { background: transparent; }")
        outer.addWidget(scroll, 1)
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
        vault = backend.secrets
        where = "OS keyring" if vault.backend == "keyring" else "key file (0600)"
        self.vault_field = _read_only(f"{where}: {vault.store.location}")
        form.addRow(
            "Secrets master key",
            _with_hint(
                self.vault_field,
                "Set with AGENTIC_VAULT_BACKEND (auto, keyring, file). Rotate with "
                "'agentic-server secrets rotate-key' while the app is not running.",
            ),
        )
        form.addRow("Config file", _read_only(str(settings.config_file)))
        form.addRow("Log file", _read_only(str(settings.data_dir / "logs" / "agentic.log")))
        origins = ", ".join(settings.cors_origins) or "none (same-origin only)"
        form.addRow("CORS origins", _read_only(origins))
        self.web_client = WebClientField(settings, api_url)
        form.addRow("Web client", self.web_client)
        self.security_level = _read_only(backend.security.policy.level)
        form.addRow(
            "Security level",
            _with_hint(
                self.security_level,
                "Switch it in Security; the switch is saved to config.toml. SECURITY_LEVEL overrides it.",
            ),
        )
        layout.addWidget(card)
        self.notification_choices: NotificationChoices | None = None
        if notifications is not None:
            self.notification_choices = NotificationChoices(notifications)
            layout.addWidget(self.notification_choices)
        layout.addStretch(1)

    def showEvent(self, event: QShowEvent) -> None:
        """Show the level in force: the Security panel or the API may have switched it."""
        super().showEvent(event)
        self.security_level.setText(self._backend.security.policy.level)

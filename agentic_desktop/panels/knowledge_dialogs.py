"""Adding or editing a knowledge source: one form per kind (feed, page, folder, mailbox), a schedule,
and a Test connection button that reaches the source once without storing anything."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from agentic_desktop.background import async_slot
from agentic_desktop.panels.agent_dialogs import _error_label, _show
from server.services.errors import AgenticError

if TYPE_CHECKING:
    import asyncio

    from server.backend import Backend
    from server.services.ingest import Schedule, Source

# What the operator adds -> (connector kind, what the dialog calls it).
KINDS: dict[str, tuple[str, str]] = {
    "feed": ("web", "RSS or Atom feed"),
    "page": ("web", "Web page"),
    "folder": ("filesystem", "Folder"),
    "mailbox": ("communication", "Mailbox (IMAP)"),
}
OK_COLOUR = "#1f9d55"
BAD_COLOUR = "#d64545"


def kind_of(source: Source) -> str:
    """The dialog kind of a stored source."""
    if source.kind == "web":
        return "page" if source.config.get("mode") == "page" else "feed"
    return {"filesystem": "folder", "communication": "mailbox"}.get(source.kind, "feed")


class ScheduleEditor(QWidget):
    """None / every N minutes / cron, as the ingest service's ``Schedule``."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = QComboBox()
        self.mode.addItem("Only when I click Run now", "none")
        self.mode.addItem("Every N minutes", "interval")
        self.mode.addItem("Cron (UTC)", "cron")
        self.minutes = QSpinBox()
        self.minutes.setRange(1, 7 * 24 * 60)
        self.minutes.setValue(60)
        self.minutes.setSuffix(" min")
        self.cron = QLineEdit()
        self.cron.setPlaceholderText("*/15 * * * *   (minute hour day month weekday)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.mode)
        row.addWidget(self.minutes)
        row.addWidget(self.cron, 1)
        self.mode.currentIndexChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        mode = self.mode.currentData()
        self.minutes.setVisible(mode == "interval")
        self.cron.setVisible(mode == "cron")

    def set_schedule(self, schedule: Schedule | None) -> None:
        if schedule is None:
            self.mode.setCurrentIndex(0)
        elif schedule.cron:
            self.mode.setCurrentIndex(2)
            self.cron.setText(schedule.cron)
        else:
            self.mode.setCurrentIndex(1)
            self.minutes.setValue(max(1, (schedule.interval_seconds or 60) // 60))

    def schedule(self) -> Schedule | None:
        """The chosen schedule; ``ValueError`` says what is wrong."""
        from server.services.ingest import Schedule

        mode = self.mode.currentData()
        if mode == "interval":
            return Schedule(interval_seconds=self.minutes.value() * 60)
        if mode == "cron":
            line = self.cron.text().strip()
            if len(line.split()) != 5:
                raise ValueError("A cron line has five fields: minute hour day month weekday")
            return Schedule(cron=line)
        return None


class SourceDialog(QDialog):
    """Add a source of one kind, or edit a stored one; Test connection says what the source holds."""

    saved = Signal(object)

    def __init__(
        self, backend: Backend, parent: QWidget | None, kind: str, source: Source | None = None
    ) -> None:
        super().__init__(parent)
        self._backend = backend
        self.kind = kind
        self._source = source
        self._connector, label = KINDS[kind]
        self._testing: asyncio.Task[Any] | None = None
        self._loading_keys: asyncio.Task[Any] | None = None
        self.setWindowTitle(f"Edit {source.name}" if source else f"Add {label.lower()}")
        self.setMinimumWidth(560)

        self.name = QLineEdit()
        self.name.setPlaceholderText("How the source is listed, e.g. “Project notes”")
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.addRow("Name", self.name)
        self._build_fields(form)
        self.schedule = ScheduleEditor()
        form.addRow("Schedule", self.schedule)

        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Reach the source once and count what it holds; nothing is stored")
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        self.form_error = _error_label()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton(
            "Save" if source else "Add source", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        self.test_button.clicked.connect(self.on_test_clicked)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addLayout(test_row)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)
        if source is not None:
            self._fill(source)
        self.name.setFocus()

    # -- the fields of each kind --

    def _build_fields(self, form: QFormLayout) -> None:
        if self.kind in ("feed", "page"):
            self.url = QLineEdit()
            self.url.setPlaceholderText(
                "https://example.org/feed.xml" if self.kind == "feed" else "https://example.org/article"
            )
            form.addRow("URL", self.url)
            if self.kind == "feed":
                self.max_items = QSpinBox()
                self.max_items.setRange(1, 10_000)
                self.max_items.setValue(100)
                self.max_items.setToolTip("At most this many feed entries a run")
                form.addRow("Entries per run", self.max_items)
                self.follow_links = QCheckBox("Fetch each entry's page (not just the feed's summary)")
                form.addRow("", self.follow_links)
        elif self.kind == "folder":
            self.directory = QLineEdit()
            self.directory.setPlaceholderText("/home/me/notes")
            browse = QPushButton("Browse…")
            browse.clicked.connect(self.on_browse_clicked)
            row = QHBoxLayout()
            row.addWidget(self.directory, 1)
            row.addWidget(browse)
            form.addRow("Folder", row)
            self.patterns = QLineEdit("*.md, *.txt, *.html, *.pdf")
            self.patterns.setToolTip("Glob patterns, comma-separated, matched against file names")
            form.addRow("Files", self.patterns)
            self.recursive = QCheckBox("Include sub-folders")
            self.recursive.setChecked(True)
            form.addRow("", self.recursive)
        else:
            self.host = QLineEdit()
            self.host.setPlaceholderText("imap.example.org")
            self.port = QSpinBox()
            self.port.setRange(0, 65535)
            self.port.setSpecialValueText("default (993 with SSL, else 143)")
            self.security = QComboBox()
            choices = (("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("plain", "None (loopback only)"))
            for value, text in choices:
                self.security.addItem(text, value)
            self.username = QLineEdit()
            self.agent = QComboBox()
            self.agent.setToolTip("The agent whose vault holds the password")
            self.secret = QComboBox()
            self.secret.setToolTip("The vault secret holding the password (never the password itself)")
            self.mailbox = QLineEdit("INBOX")
            self.search = QLineEdit("ALL")
            self.search.setToolTip('IMAP SEARCH criteria, e.g. UNSEEN or FROM "boss@example.org"')
            form.addRow("IMAP server", self.host)
            form.addRow("Port", self.port)
            form.addRow("Security", self.security)
            form.addRow("Username", self.username)
            form.addRow("Vault of agent", self.agent)
            form.addRow("Password secret", self.secret)
            form.addRow("Mailbox", self.mailbox)
            form.addRow("Search", self.search)
            self.agent.currentIndexChanged.connect(self.on_agent_chosen)
            self._loading_keys = background.start(self.load_agents(), name="knowledge-dialog-agents")

    def _fill(self, source: Source) -> None:
        config = source.config
        self.name.setText(source.name)
        self.schedule.set_schedule(source.schedule)
        if self.kind in ("feed", "page"):
            self.url.setText(str(config.get("url", "")))
            if self.kind == "feed":
                self.max_items.setValue(int(config.get("max_items", 100)))
                self.follow_links.setChecked(bool(config.get("follow_links")))
        elif self.kind == "folder":
            self.directory.setText(str(config.get("directory", "")))
            self.patterns.setText(", ".join(config.get("file_patterns", ["*"])))
            self.recursive.setChecked(bool(config.get("recursive")))
        else:
            self.host.setText(str(config.get("host") or ""))
            self.port.setValue(int(config.get("port") or 0))
            self.security.setCurrentIndex(max(0, self.security.findData(config.get("security", "ssl"))))
            self.username.setText(str(config.get("username") or ""))
            self.mailbox.setText(str(config.get("mailbox") or "INBOX"))
            self.search.setText(str(config.get("search") or "ALL"))

    def config(self) -> dict[str, Any]:
        """The connector config the form describes (the connector checks it)."""
        if self.kind in ("feed", "page"):
            config: dict[str, Any] = {"url": self.url.text().strip(), "mode": self.kind}
            if self.kind == "feed":
                config["max_items"] = self.max_items.value()
                config["follow_links"] = self.follow_links.isChecked()
            return config
        if self.kind == "folder":
            patterns = [part.strip() for part in self.patterns.text().split(",") if part.strip()]
            return {
                "directory": self.directory.text().strip(),
                "file_patterns": patterns or ["*"],
                "recursive": self.recursive.isChecked(),
            }
        config = {
            "platform": "email",
            "host": self.host.text().strip() or None,
            "security": self.security.currentData(),
            "username": self.username.text().strip() or None,
            "agent_id": self.agent.currentData(),
            "password_secret": self.secret.currentData(),
            "mailbox": self.mailbox.text().strip() or "INBOX",
            "search": self.search.text().strip() or "ALL",
        }
        if self.port.value():
            config["port"] = self.port.value()
        return config

    # -- the vault's keys (mailbox) --

    async def load_agents(self) -> None:
        """Offer the agents whose vaults can hold the password."""
        try:
            agents = await self._backend.agents.list(limit=1000)
        except AgenticError as exc:
            self._result(f"Could not list the agents: {exc}", ok=False)
            return
        self.agent.blockSignals(True)
        self.agent.clear()
        for agent in agents:
            self.agent.addItem(agent.name, agent.id)
        self.agent.blockSignals(False)
        wanted = self._source.config.get("agent_id") if self._source else None
        index = self.agent.findData(wanted) if wanted else 0
        self.agent.setCurrentIndex(max(0, index))
        if not agents:
            self.secret.clear()
            self.secret.setPlaceholderText("No agent yet: create one, then add the password in Secrets")
        else:
            await self.load_secrets()

    @Slot(int)
    def on_agent_chosen(self, _index: int) -> None:
        self._loading_keys = background.restart(
            self._loading_keys, self.load_secrets(), name="knowledge-keys"
        )

    async def load_secrets(self) -> None:
        """The chosen agent's vault keys (names only)."""
        agent_id = self.agent.currentData()
        self.secret.clear()
        if agent_id is None:
            return
        try:
            secrets = await self._backend.secrets.list(agent_id)
        except AgenticError as exc:
            self._result(f"Could not read the vault's keys: {exc}", ok=False)
            return
        for secret in secrets:
            self.secret.addItem(secret.secret_key, secret.secret_key)
        if not secrets:
            self.secret.setPlaceholderText("This vault is empty: add the password in the Secrets panel")
        wanted = self._source.config.get("password_secret") if self._source else None
        if wanted:
            self.secret.setCurrentIndex(max(0, self.secret.findData(wanted)))

    # -- actions --

    @Slot()
    def on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to ingest", self.directory.text())
        if folder:
            self.directory.setText(folder)

    def _result(self, text: str, *, ok: bool) -> None:
        colour = OK_COLOUR if ok else BAD_COLOUR
        mark = "✓" if ok else "✗"
        self.test_result.setText(f"<span style='color:{colour}'>{mark} {escape(text)}</span>")

    @async_slot()
    async def on_test_clicked(self) -> None:
        """Reach the source once and show what was found, or why it could not be read."""
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")
        try:
            found = await self._backend.ingest.test_config(self._connector, self.config())
        except AgenticError as exc:
            self._result(str(exc), ok=False)
        else:
            self._result(found, ok=True)
        finally:
            self.test_button.setEnabled(True)

    @async_slot()
    async def on_save_clicked(self) -> None:
        """Store the source (it is not tested again: a host down today may be up by the next run)."""
        name = self.name.text().strip()
        if not name:
            _show(self.form_error, "Give the source a name")
            return
        try:
            schedule = self.schedule.schedule()
        except ValueError as exc:
            _show(self.form_error, str(exc))
            return
        self.save_button.setEnabled(False)
        _show(self.form_error, "")
        ingest = self._backend.ingest
        try:
            if self._source is None:
                source = await ingest.create_source(
                    name=name, kind=self._connector, config=self.config(), schedule=schedule, test=False
                )
            else:
                source = await ingest.update_source(
                    self._source.id, {"name": name, "config": self.config(), "schedule": schedule}
                )
        except AgenticError as exc:
            _show(self.form_error, f"Could not save the source: {exc}")
            self.save_button.setEnabled(True)
            return
        self.saved.emit(source)
        self.accept()

"""What the app tells the operator: finished tasks, resource alerts and serious security incidents.

The centre belongs to the window, so the history exists even where the desktop has no tray; the tray
only shows the balloons the centre hands it. Each kind can be muted in Settings: a muted notification
still lands in the history, it just shows no balloon. The choice is kept in ``notifications.json`` in
the data dir, next to the rest of this instance's state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from server.bus import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    from agentic_desktop.bridge import BusBridge
    from server.events import IncidentChanged, ResourceAlert, TaskChanged
    from server.services.security import Incident

log = logging.getLogger(__name__)

# The kinds the operator can mute, as Settings names them.
KINDS = {
    "task": "Finished tasks",
    "resource": "Resource alerts (hot GPU, memory or disk running out)",
    "security": "Security incidents (high and critical)",
}
TASK_GATHER_MS = 3000
INCIDENT_GATHER_MS = 1500  # short: a critical incident should not wait long
HISTORY_LIMIT = 500
BALLOON_TEXT_CHARS = 240
LEVEL_COLOURS = {"critical": "#d64545", "warning": "#b7791f", "info": "#1d2230"}
PREFERENCES_FILE = "notifications.json"


@dataclass(frozen=True)
class Notification:
    """A message for the operator; ``muted`` when its kind was muted (history only, no balloon)."""

    title: str
    text: str
    level: str  # "info", "warning" or "critical"
    kind: str = "other"
    at: datetime = field(default_factory=utcnow)
    muted: bool = False


def _read_muted(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        log.warning("Ignoring %s: %s", path, exc)
        return set()
    muted = data.get("muted", []) if isinstance(data, dict) else []
    return {kind for kind in muted if kind in KINDS}


def _write_muted(path: Path, muted: set[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"muted": sorted(muted)}, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


class NotificationCentre(QObject):
    """Turns bus signals into notifications, keeps their history and knows which kinds are muted."""

    posted = Signal(object)  # every notification, as it enters the history
    balloon = Signal(object)  # the ones to show in the tray (not muted)
    muted_changed = Signal()

    def __init__(self, window: QWidget, bridge: BusBridge, data_dir: Path) -> None:
        super().__init__(window)
        self._window = window
        self.path = data_dir / PREFERENCES_FILE
        self.history: list[Notification] = []
        self._muted: set[str] = set()
        self._touched = False  # the operator changed a choice before the file was read
        self._saving: asyncio.Task[None] | None = None
        self._dialog: NotificationsDialog | None = None
        self._finished: Counter[str] = Counter()
        self._incidents: list[Incident] = []
        self._task_gather = self._timer(TASK_GATHER_MS, self._tell_finished)
        self._incident_gather = self._timer(INCIDENT_GATHER_MS, self._tell_incidents)
        bridge.resource_alert.connect(self.on_resource_alert)
        bridge.task_changed.connect(self.on_task_changed)
        bridge.incident_changed.connect(self.on_incident_changed)
        self._loading = background.start(self._load(), name="notifications-load")

    def _timer(self, interval: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
        return timer

    # -- muting --

    async def _load(self) -> None:
        muted = await asyncio.to_thread(_read_muted, self.path)
        if not self._touched:
            self._muted = muted
            self.muted_changed.emit()

    def is_muted(self, kind: str) -> bool:
        """Whether ``kind`` shows no balloon."""
        return kind in self._muted

    def set_muted(self, kind: str, muted: bool) -> None:
        """Mute or unmute ``kind`` and save the choice in the data dir."""
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}; choose one of {sorted(KINDS)}")
        self._touched = True
        if muted == self.is_muted(kind):
            return
        self._muted = (self._muted | {kind}) if muted else (self._muted - {kind})
        self.muted_changed.emit()
        self._saving = background.restart(
            self._saving, self._save(set(self._muted)), name="notifications-save"
        )

    async def _save(self, muted: set[str]) -> None:
        try:
            await asyncio.to_thread(_write_muted, self.path, muted)
        except OSError as exc:
            log.warning("Could not save the notification choices to %s: %s", self.path, exc)

    # -- posting --

    def notify(self, title: str, text: str, level: str = "info", kind: str = "other") -> Notification:
        """Add a notification to the history and, unless its kind is muted, hand it to the tray."""
        notification = Notification(title, text, level, kind, muted=self.is_muted(kind))
        self.history.append(notification)
        del self.history[:-HISTORY_LIMIT]
        self.posted.emit(notification)
        if not notification.muted:
            self.balloon.emit(notification)
        return notification

    @Slot(object)
    def on_resource_alert(self, alert: ResourceAlert) -> None:
        """A hot GPU or a filling disk is worth a message; its recovery is only logged."""
        if alert.active:
            self.notify("Resource alert", alert.message, "warning", "resource")

    @Slot(object)
    def on_task_changed(self, event: TaskChanged) -> None:
        """Gather finished tasks while the operator looks elsewhere."""
        if not event.task.finished or self._window.isActiveWindow():
            return
        self._finished[event.task.status] += 1
        if not self._task_gather.isActive():
            self._task_gather.start()

    @Slot()
    def _tell_finished(self) -> None:
        counts, self._finished = self._finished, Counter()
        total = sum(counts.values())
        if not total:
            return
        parts = [f"{count} {status}" for status, count in sorted(counts.items())]
        title = "Task finished" if total == 1 else f"{total} tasks finished"
        self.notify(title, ", ".join(parts), "warning" if counts["failed"] else "info", "task")

    @Slot(object)
    def on_incident_changed(self, event: IncidentChanged) -> None:
        """Gather new high and critical incidents: a burst of them is one message."""
        incident = event.incident
        if incident.resolved or incident.severity not in ("high", "critical"):
            return
        self._incidents.append(incident)
        if not self._incident_gather.isActive():
            self._incident_gather.start()

    @Slot()
    def _tell_incidents(self) -> None:
        incidents, self._incidents = self._incidents, []
        if not incidents:
            return
        critical = sum(incident.severity == "critical" for incident in incidents)
        newest = incidents[-1]
        if len(incidents) == 1:
            title = f"{newest.severity.capitalize()} security incident"
            text = newest.description
        else:
            high = len(incidents) - critical
            counts = [f"{n} {severity}" for n, severity in ((critical, "critical"), (high, "high")) if n]
            title = f"{len(incidents)} security incidents"
            text = f"{', '.join(counts)}. Newest: {newest.description}"
        if len(text) > BALLOON_TEXT_CHARS:
            text = text[: BALLOON_TEXT_CHARS - 1] + "…"
        self.notify(title, text, "critical" if critical else "warning", "security")

    # -- the history on screen --

    def show_history(self, parent: QWidget) -> NotificationsDialog:
        """Open the history (or bring the open one to the front)."""
        if self._dialog is None:
            self._dialog = NotificationsDialog(self, parent)
            self._dialog.finished.connect(self._forget_dialog)
            self._dialog.show()
        self._dialog.raise_()
        self._dialog.activateWindow()
        return self._dialog

    @Slot()
    def _forget_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.deleteLater()
            self._dialog = None


class NotificationsDialog(QDialog):
    """Every notification of this run, newest first, including the muted ones."""

    COLUMNS = ("Time", "Title", "Message", "Tray")

    def __init__(self, centre: NotificationCentre, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Notifications")
        self.resize(760, 420)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("notificationsTable")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel("Nothing yet: finished tasks, resource alerts and serious incidents appear here.")
        self.empty.setObjectName("cardDetail")
        hint = QLabel(
            "Kinds muted in Settings → Notifications are listed here as “muted” and show no tray message."
        )
        hint.setObjectName("cardDetail")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        for notification in centre.history:
            self.add(notification)
        self.empty.setVisible(not centre.history)
        centre.posted.connect(self.add)

    @Slot(object)
    def add(self, notification: Notification) -> None:
        """Put ``notification`` at the top."""
        self.table.insertRow(0)
        cells = (
            notification.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            notification.title,
            notification.text,
            "muted" if notification.muted else "shown",
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(notification.text if column == 2 else "")
            self.table.setItem(0, column, item)
        title = self.table.item(0, 1)
        title.setForeground(QColor(LEVEL_COLOURS.get(notification.level, LEVEL_COLOURS["info"])))
        font = title.font()
        font.setBold(notification.level != "info")
        title.setFont(font)
        if notification.muted:
            self.table.item(0, 3).setForeground(QColor("#8a93a6"))
        self.table.item(0, 3).setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()

    def rows(self) -> list[tuple[str, str, str]]:
        """(title, message, tray) of each row, top first."""
        return [
            (self.table.item(row, 1).text(), self.table.item(row, 2).text(), self.table.item(row, 3).text())
            for row in range(self.table.rowCount())
        ]

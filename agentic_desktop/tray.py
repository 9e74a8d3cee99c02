"""The tray icon, where the desktop has a tray: show/hide, status, quit, and notifications.

Notifications: resource alerts (a hot GPU, memory or disk running out) at once, and finished
tasks while the window is not in front, gathered over a few seconds so a batch of tasks is one
message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agentic_desktop.resources import icon

if TYPE_CHECKING:
    from agentic_desktop.bridge import BusBridge
    from agentic_desktop.main_window import MainWindow
    from server.events import OllamaStatusChanged, ResourceAlert, TaskChanged

TASK_GATHER_MS = 3000


@dataclass(frozen=True)
class Notification:
    """A message shown in the tray."""

    title: str
    text: str
    level: str  # "info" or "warning"


class Tray(QObject):
    """Tray icon and menu; ``available()`` says whether this desktop has a tray at all."""

    quit_requested = Signal()

    def __init__(self, window: MainWindow, bridge: BusBridge) -> None:
        super().__init__()
        self._window = window
        self._told_about_tray = False
        self.icon = QSystemTrayIcon(icon("app"), self)
        self.icon.setToolTip("Agentic Desktop")
        self.menu = QMenu()
        self.toggle_action = QAction("Hide window", self.menu)
        self.toggle_action.triggered.connect(self.toggle_window)
        self.status_action = QAction("Ollama: checking…", self.menu)
        self.status_action.setEnabled(False)
        quit_action = QAction("Quit Agentic Desktop", self.menu)
        quit_action.triggered.connect(self.quit_requested)
        self.menu.addAction(self.toggle_action)
        self.menu.addSeparator()
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)
        bridge.resource_alert.connect(self.on_resource_alert)
        bridge.task_changed.connect(self.on_task_changed)
        window.close_to_tray.connect(self._on_closed_to_tray)
        self.history: list[Notification] = []
        self._finished: Counter[str] = Counter()
        self._gather = QTimer(self)
        self._gather.setSingleShot(True)
        self._gather.setInterval(TASK_GATHER_MS)
        self._gather.timeout.connect(self._tell_finished)

    def notify(self, title: str, text: str, level: str = "info") -> None:
        """Show a tray message and keep it in the history."""
        self.history.append(Notification(title, text, level))
        icon_kind = (
            QSystemTrayIcon.MessageIcon.Warning
            if level == "warning"
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.icon.showMessage(title, text, icon_kind, 8000)

    @Slot(object)
    def on_resource_alert(self, alert: ResourceAlert) -> None:
        """A hot GPU or a filling disk is worth a message; its recovery is only logged."""
        if alert.active:
            self.notify("Resource alert", alert.message, "warning")

    @Slot(object)
    def on_task_changed(self, event: TaskChanged) -> None:
        """Gather finished tasks while the operator looks elsewhere."""
        if not event.task.finished or self._window.isActiveWindow():
            return
        self._finished[event.task.status] += 1
        if not self._gather.isActive():
            self._gather.start()

    @Slot()
    def _tell_finished(self) -> None:
        counts, self._finished = self._finished, Counter()
        total = sum(counts.values())
        if not total:
            return
        parts = [f"{count} {status}" for status, count in sorted(counts.items())]
        title = "Task finished" if total == 1 else f"{total} tasks finished"
        self.notify(title, ", ".join(parts), "warning" if counts["failed"] else "info")

    @staticmethod
    def available() -> bool:
        """Whether the desktop shows tray icons."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    @Slot()
    def toggle_window(self) -> None:
        """Show the window if hidden, hide it if shown."""
        if self._window.isVisible():
            self._window.hide()
        else:
            self._window.showNormal()
            self._window.raise_()
            self._window.activateWindow()
        self.toggle_action.setText("Hide window" if self._window.isVisible() else "Show window")

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_window()

    @Slot()
    def _on_closed_to_tray(self) -> None:
        self.toggle_action.setText("Show window")
        if not self._told_about_tray:
            self._told_about_tray = True
            self.icon.showMessage(
                "Agentic Desktop is still running",
                "The API keeps serving. Use the tray icon to show the window or quit.",
                QSystemTrayIcon.MessageIcon.Information,
                5000,
            )

    @Slot(object)
    def on_ollama_status_changed(self, event: OllamaStatusChanged) -> None:
        """Show reachability in the menu."""
        self.status_action.setText(f"Ollama: {'reachable' if event.reachable else 'not reachable'}")

"""The tray icon, where the desktop has a tray: show/hide, status, notifications and their history, quit.

The window's notification centre decides what to tell (resource alerts at once; finished tasks
while the window is not in front and new high or critical security incidents, each gathered over a
few seconds so a burst is one message) and keeps the history; the tray shows the messages whose
kind is not muted in Settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agentic_desktop.notifications import HISTORY_LIMIT, Notification
from agentic_desktop.resources import icon

if TYPE_CHECKING:
    from agentic_desktop.bridge import BusBridge
    from agentic_desktop.main_window import MainWindow
    from server.events import OllamaStatusChanged

__all__ = ["Notification", "Tray"]

MESSAGE_ICONS = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "critical": QSystemTrayIcon.MessageIcon.Critical,
}
BALLOON_MS = 8000


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
        self.history_action = QAction("Notifications…", self.menu)
        self.history_action.triggered.connect(self.show_history)
        quit_action = QAction("Quit Agentic Desktop", self.menu)
        quit_action.triggered.connect(self.quit_requested)
        self.menu.addAction(self.toggle_action)
        self.menu.addAction(self.history_action)
        self.menu.addSeparator()
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)
        window.close_to_tray.connect(self._on_closed_to_tray)
        self.centre = window.notifications
        self.centre.balloon.connect(self.on_balloon)
        # The messages shown as balloons, oldest first (muted kinds are in the history only).
        self.balloons: list[Notification] = []

    @property
    def history(self) -> list[Notification]:
        """Every notification of this run, oldest first, muted ones included."""
        return self.centre.history

    def notify(self, title: str, text: str, level: str = "info", kind: str = "other") -> None:
        """Post a notification: it enters the history, and shows here unless its kind is muted."""
        self.centre.notify(title, text, level, kind)

    @Slot(object)
    def on_balloon(self, notification: Notification) -> None:
        """Show a notification as a tray message."""
        self.balloons.append(notification)
        del self.balloons[:-HISTORY_LIMIT]
        icon_kind = MESSAGE_ICONS.get(notification.level, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(notification.title, notification.text, icon_kind, BALLOON_MS)

    @Slot()
    def show_history(self) -> None:
        """Bring the window up with the notification history in front of it."""
        if not self._window.isVisible():
            self.toggle_window()
        self.centre.show_history(self._window)

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

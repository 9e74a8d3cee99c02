"""Dashboard: where the API is, whether Ollama answers, how long the app has been up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget
from qasync import asyncSlot

from agentic_desktop.format import duration
from agentic_desktop.widgets.card import Card
from agentic_desktop.widgets.header import PanelHeader

if TYPE_CHECKING:
    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import OllamaStatusChanged


class DashboardPanel(QWidget):
    """Live overview cards."""

    def __init__(self, backend: Backend, bridge: BusBridge, api_url: str) -> None:
        super().__init__()
        self._backend = backend
        self._api_url = api_url
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.addWidget(PanelHeader("Dashboard", "Your lab at a glance."))

        grid = QGridLayout()
        grid.setSpacing(14)
        self.api_card = Card("API")
        self.api_card.set_value(api_url, "ok")
        self.api_card.set_detail("REST and WebSocket API, served from this window")
        self.api_card.add_button("Open API docs").clicked.connect(self._open_docs)

        self.ollama_card = Card("Ollama")
        self.check_button = self.ollama_card.add_button("Check now")
        self.check_button.clicked.connect(self.on_check_clicked)

        self.uptime_card = Card("Uptime")
        self.uptime_card.set_detail(f"Started {self._started_text()}")

        self.data_card = Card("Data")
        self.data_card.set_value(str(backend.settings.data_dir))
        self.data_card.value.setStyleSheet("font-size: 10.5pt;")
        self.data_card.set_detail("Database, keys and logs live here")
        self.data_card.add_button("Open folder").clicked.connect(self._open_data_dir)

        grid.addWidget(self.api_card, 0, 0)
        grid.addWidget(self.ollama_card, 0, 1)
        grid.addWidget(self.uptime_card, 1, 0)
        grid.addWidget(self.data_card, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        layout.addStretch(1)

        status = backend.llm.status
        self._show_ollama(status.reachable, status.host, status.detail)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._tick()

    def _started_text(self) -> str:
        started = self._backend.started_at
        return started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if started else "—"

    def _show_ollama(self, reachable: bool, host: str, detail: str) -> None:
        self.ollama_card.set_value(
            "● Reachable" if reachable else "● Not reachable", "ok" if reachable else "bad"
        )
        self.ollama_card.set_detail(f"{host}\n{detail}")

    @Slot(object)
    def on_ollama_status_changed(self, event: OllamaStatusChanged) -> None:
        """Show the new reachability."""
        self._show_ollama(event.reachable, event.host, event.detail)

    @asyncSlot()
    async def on_check_clicked(self) -> None:
        """Probe Ollama now instead of waiting for the next scheduled probe."""
        self.check_button.setEnabled(False)
        try:
            status = await self._backend.llm.probe()
            self._show_ollama(status.reachable, status.host, status.detail)
        finally:
            self.check_button.setEnabled(True)

    @Slot()
    def _tick(self) -> None:
        self.uptime_card.set_value(duration(self._backend.uptime_seconds))

    @Slot()
    def _open_docs(self) -> None:
        QDesktopServices.openUrl(QUrl(f"{self._api_url}/docs"))

    @Slot()
    def _open_data_dir(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._backend.settings.data_dir)))

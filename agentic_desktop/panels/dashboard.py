"""Dashboard: the API, Ollama, uptime, agent and task counts, and the newest tasks."""

from __future__ import annotations

import contextlib
import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from agentic_desktop import background
from agentic_desktop.background import async_slot
from agentic_desktop.format import duration
from agentic_desktop.panels.tasks_table import STATUS_COLOURS
from agentic_desktop.widgets.card import Card
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.sparkline import Sparkline
from server.services.errors import AgenticError, FieldError

if TYPE_CHECKING:
    import asyncio

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import MetricsSampled, OllamaStatusChanged


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
        self.api_card.value.setStyleSheet("font-size: 12pt;")
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

        self.agents_card = Card("Agents")
        self.agents_card.set_detail("Defined in this lab")
        self.tasks_card = Card("Tasks")
        self.recent_card = Card("Recent tasks")
        self.recent_card.value.setStyleSheet("font-size: 10pt; font-weight: 400;")
        self.recent_card.value.setTextFormat(Qt.TextFormat.RichText)

        grid.addWidget(self.api_card, 0, 0)
        grid.addWidget(self.ollama_card, 0, 1)
        grid.addWidget(self.uptime_card, 0, 2)
        grid.addWidget(self.agents_card, 1, 0)
        grid.addWidget(self.tasks_card, 1, 1)
        grid.addWidget(self.data_card, 1, 2)
        grid.addWidget(self.recent_card, 3, 0, 1, 3)
        grid.addWidget(self._build_system_card(backend), 2, 0, 1, 3)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        layout.addLayout(grid)
        layout.addStretch(1)

        self._counting: asyncio.Task[None] | None = None
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(300)  # a burst of task changes costs one recount
        self._recount.timeout.connect(self.schedule_counts)
        bridge.task_changed.connect(self._recount.start)
        bridge.agent_changed.connect(self._recount.start)
        bridge.metrics_sampled.connect(self.on_metrics_sampled)

        status = backend.llm.status
        self._show_ollama(status.reachable, status.host, status.detail)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)

        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._tick()
        self.schedule_counts()

    def _build_system_card(self, backend: Backend) -> QFrame:
        """CPU, memory and GPU at a glance: the current value over a minute-long sparkline."""
        card = QFrame()
        card.setObjectName("card")
        row = QHBoxLayout(card)
        row.setContentsMargins(16, 12, 16, 12)
        row.setSpacing(18)
        self.sparklines: dict[str, Sparkline] = {}
        self.spark_labels: dict[str, QLabel] = {}
        for key, title in (("cpu", "CPU"), ("memory", "MEMORY"), ("gpu", "GPU")):
            column = QVBoxLayout()
            column.setSpacing(4)
            label = QLabel(f"{title}  —")
            label.setObjectName("cardTitle")
            line = Sparkline(60, value_range=(0, 100))
            column.addWidget(label)
            column.addWidget(line)
            row.addLayout(column, 1)
            self.sparklines[key] = line
            self.spark_labels[key] = label
        for key, series in (("cpu", "cpu.usage_percent"), ("memory", "memory.usage_percent")):
            with contextlib.suppress(FieldError):  # no sample yet
                self.sparklines[key].set_values(value for _, value in backend.metrics.history(series, 60))
        return card

    @Slot(object)
    def on_metrics_sampled(self, event: MetricsSampled) -> None:
        """Move the sparklines on by one sample."""
        sample = event.sample
        self.sparklines["cpu"].add(sample.cpu.usage_percent)
        self.spark_labels["cpu"].setText(f"CPU  {sample.cpu.usage_percent:.0f} %")
        memory = sample.memory
        self.sparklines["memory"].add(memory.usage_percent)
        self.spark_labels["memory"].setText(f"MEMORY  {memory.used_gb:.1f} / {memory.total_gb:.0f} GB")
        if sample.gpu:
            gpu = sample.gpu[0]
            self.sparklines["gpu"].add(gpu.utilization.gpu_percent)
            temperature = (
                f" · {gpu.temperature_celsius:.0f} °C" if gpu.temperature_celsius is not None else ""
            )
            busy = f"{gpu.utilization.gpu_percent:.0f} %" if gpu.utilization.gpu_percent is not None else "—"
            self.spark_labels["gpu"].setText(f"GPU  {busy}{temperature}")
        else:
            self.spark_labels["gpu"].setText("GPU  none found")

    @Slot()
    def schedule_counts(self) -> None:
        """Recount agents and tasks in the background."""
        if self._counting is None or self._counting.done():
            self._counting = background.start(self.refresh_counts(), name="dashboard-counts")

    async def refresh_counts(self) -> None:
        """Agent and task counts and the five newest tasks."""
        try:
            agents = await self._backend.agents.list(limit=1000)
            counts = await self._backend.tasks.counts()
            recent = await self._backend.tasks.list(limit=5)
        except AgenticError as exc:
            self.tasks_card.set_detail(f"Could not count: {exc}")
            return
        active = sum(agent.is_active for agent in agents)
        self.agents_card.set_value(str(len(agents)))
        self.agents_card.set_detail(f"{active} active")
        running, pending = counts["running"], counts["pending"]
        self.tasks_card.set_value(f"{running} running")
        self.tasks_card.set_detail(
            f"{pending} queued · {counts['completed']} completed · {counts['failed']} failed · "
            f"{counts['cancelled']} cancelled"
        )
        names = {agent.id: agent.name for agent in agents}
        if not recent:
            self.recent_card.set_value("No tasks yet: run one from the Agents panel.")
            return
        rows = []
        for task in recent:
            colour = STATUS_COLOURS.get(task.status, "#1d2230")
            when = task.created_at.astimezone().strftime("%H:%M:%S")
            agent = html.escape(names.get(task.agent_id, "?"))
            rows.append(
                f"<span style='color:#8a93a6'>{when}</span>&nbsp;&nbsp;"
                f"<b style='color:{colour}'>{task.status}</b>&nbsp;&nbsp;"
                f"{html.escape(task.task_type)} with {agent}"
            )
        self.recent_card.set_value("<br>".join(rows))

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

    @async_slot()
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

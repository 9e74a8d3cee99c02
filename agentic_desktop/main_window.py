"""The main window: sidebar navigation, one panel per domain, and a status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from agentic_desktop.notifications import NotificationCentre
from agentic_desktop.panels.agents import AgentsPanel
from agentic_desktop.panels.chat import ChatPanel
from agentic_desktop.panels.coming import COMING, ComingPanel
from agentic_desktop.panels.dashboard import DashboardPanel
from agentic_desktop.panels.hosts import HostsPanel
from agentic_desktop.panels.knowledge import KnowledgePanel
from agentic_desktop.panels.models import ModelsPanel
from agentic_desktop.panels.secrets import SecretsPanel
from agentic_desktop.panels.security import SecurityPanel
from agentic_desktop.panels.settings import SettingsPanel
from agentic_desktop.panels.system import SystemPanel
from agentic_desktop.panels.tasks import TasksPanel
from agentic_desktop.resources import icon
from server import __version__

if TYPE_CHECKING:
    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import OllamaStatusChanged
    from server.services.agents import Agent
    from server.services.tasks import Task

# Sidebar order, as DESIGN.md fixes it: (key, label, icon).
SECTIONS = (
    ("dashboard", "Dashboard", "dashboard"),
    ("agents", "Agents", "agents"),
    ("tasks", "Tasks & Logs", "tasks"),
    ("chat", "Chat", "chat"),
    ("knowledge", "Knowledge", "knowledge"),
    ("models", "Models", "models"),
    ("hosts", "Hosts", "hosts"),
    ("secrets", "Secrets", "secrets"),
    ("system", "System", "system"),
    ("security", "Security", "security"),
    ("settings", "Settings", "settings"),
)


class MainWindow(QMainWindow):
    """Sidebar + stacked panels; closing asks the app to quit or to hide in the tray."""

    quit_requested = Signal()
    close_to_tray = Signal()

    def __init__(self, backend: Backend, bridge: BusBridge, api_url: str) -> None:
        super().__init__()
        self.setWindowTitle("Agentic Desktop")
        self.setWindowIcon(icon("app"))
        self.resize(1100, 720)
        self.setMinimumSize(820, 560)
        self.keep_in_tray = False

        self._backend = backend
        self.notifications = NotificationCentre(self, bridge, backend.settings.data_dir)
        built: dict[str, QWidget] = {
            "dashboard": DashboardPanel(backend, bridge, api_url),
            "agents": AgentsPanel(backend, bridge),
            "tasks": TasksPanel(backend, bridge),
            "chat": ChatPanel(backend, bridge),
            "knowledge": KnowledgePanel(backend, bridge),
            "models": ModelsPanel(backend, bridge),
            "hosts": HostsPanel(backend, bridge),
            "secrets": SecretsPanel(backend, bridge),
            "system": SystemPanel(backend, bridge),
            "security": SecurityPanel(backend, bridge, self.notifications),
            "settings": SettingsPanel(backend, api_url, self.notifications),
        }
        self.panels: dict[str, QWidget] = {}
        for key, _, _ in SECTIONS:
            panel = built.get(key) or ComingPanel(*COMING[key])
            panel.setObjectName(f"panel-{key}")
            self.panels[key] = panel
        self.agents_panel = built["agents"]
        self.tasks_panel = built["tasks"]
        assert isinstance(self.agents_panel, AgentsPanel)
        self.agents_panel.task_started.connect(self.on_task_started)
        self.chat_panel = built["chat"]
        assert isinstance(self.chat_panel, ChatPanel)
        self.chat_panel.agent_created.connect(self.on_agent_created)
        self.knowledge_panel = built["knowledge"]
        assert isinstance(self.knowledge_panel, KnowledgePanel)
        self.knowledge_panel.ask_requested.connect(self.on_ask_requested)

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(210)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stack = QStackedWidget()
        self.stack.setObjectName("content")
        for key, label, icon_name in SECTIONS:
            item = QListWidgetItem(icon(icon_name), label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.sidebar.addItem(item)
            self.stack.addWidget(self.panels[key])
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)

        brand = QLabel("Agentic Desktop")
        brand.setObjectName("brand")
        side = QWidget()
        side.setStyleSheet("background: #1d2230;")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(brand)
        side_layout.addWidget(self.sidebar, 1)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(side)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.api_label = QLabel(f"API  {api_url}")
        self.ollama_label = QLabel()
        self.tasks_label = QLabel()
        self.statusBar().addWidget(self.api_label)
        self.statusBar().addWidget(self.ollama_label)
        self.statusBar().addWidget(self.tasks_label)
        bridge.task_changed.connect(self.on_task_changed)
        self.on_task_changed()
        self.statusBar().addPermanentWidget(QLabel(f"v{__version__}"))
        status = backend.llm.status
        self._show_ollama(status.reachable, status.detail)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)

        self._add_shortcuts()
        self.show_section("dashboard")

    def _add_shortcuts(self) -> None:
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit_requested)
        self.addAction(quit_action)
        # Ctrl+1 … Ctrl+9 for the first nine sections, Ctrl+0 for Settings (the last); any in between
        # are reached with the sidebar.
        keys = {key: str(number) for number, (key, _, _) in enumerate(SECTIONS[:9], start=1)}
        keys[SECTIONS[-1][0]] = "0"
        for key, digit in keys.items():
            action = QAction(self)
            action.setShortcut(QKeySequence(f"Ctrl+{digit}"))
            action.triggered.connect(lambda _checked=False, key=key: self.show_section(key))
            self.addAction(action)

    def show_section(self, key: str) -> None:
        """Select the sidebar entry ``key`` and show its panel."""
        index = [section[0] for section in SECTIONS].index(key)
        self.sidebar.setCurrentRow(index)

    def current_section(self) -> str:
        """Key of the panel on screen."""
        return SECTIONS[self.stack.currentIndex()][0]

    def _show_ollama(self, reachable: bool, detail: str) -> None:
        colour = "#1f9d55" if reachable else "#d64545"
        state = "reachable" if reachable else "not reachable"
        self.ollama_label.setText(f"<span style='color:{colour}'>●</span> Ollama {state}")
        self.ollama_label.setToolTip(detail)

    @Slot(object)
    def on_ollama_status_changed(self, event: OllamaStatusChanged) -> None:
        """Update the status bar."""
        self._show_ollama(event.reachable, event.detail)

    @Slot()
    def on_task_changed(self, _event: object = None) -> None:
        """Show how many tasks run and wait."""
        running, queued = self._backend.tasks.active_count, self._backend.tasks.queued_count
        self.tasks_label.setText(f"{running} task{'s' if running != 1 else ''} running · {queued} queued")

    @Slot(object)
    def on_task_started(self, task: Task) -> None:
        """Show a task the operator just started."""
        self.show_section("tasks")
        assert isinstance(self.tasks_panel, TasksPanel)
        self.tasks_panel.select_task(task.id)

    @Slot(object)
    def on_agent_created(self, agent: Agent) -> None:
        """Show an agent the chat wizard just created."""
        self.show_section("agents")
        assert isinstance(self.agents_panel, AgentsPanel)
        self.agents_panel.show_agent(agent)

    @Slot(str, str, dict)
    def on_ask_requested(self, title: str, message: str, metadata: dict) -> None:  # type: ignore[type-arg]
        """Show the Chat panel and ask there, the knowledge panel's context in the first message."""
        self.show_section("chat")
        assert isinstance(self.chat_panel, ChatPanel)
        background.start(self.chat_panel.start_chat(title, message, metadata), name="knowledge-ask")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Hide to the tray when there is one; otherwise closing the window quits the app."""
        event.ignore()
        if self.keep_in_tray:
            self.hide()
            self.close_to_tray.emit()
        else:
            self.quit_requested.emit()

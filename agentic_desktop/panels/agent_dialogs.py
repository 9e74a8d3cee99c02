"""The create/edit dialog for agents and the run-task dialog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.background import async_slot
from agentic_desktop.panels.hosts_table import fill_model_picker, picked_model
from server.services.agents import AgentDraft, AgentPatch
from server.services.errors import AgenticError, FieldError
from server.services.task_types import parse_task_input

if TYPE_CHECKING:
    from server.backend import Backend
    from server.services.agents import Agent
    from server.services.tasks import Task

ERROR_STYLE = "color: #d64545;"


def _error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def _show(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


class AgentDialog(QDialog):
    """Create a static agent or edit one; every field is checked as you type."""

    saved = Signal(object)

    def __init__(
        self, backend: Backend, parent: QWidget | None, agent: Agent | None, taken_names: set[str]
    ) -> None:
        super().__init__(parent)
        self._backend = backend
        self._agent = agent
        self._taken = {name.lower() for name in taken_names} - ({agent.name.lower()} if agent else set())
        self.setWindowTitle(f"Edit agent {agent.name}" if agent else "New agent")
        self.setMinimumWidth(520)
        config = agent.config if agent else {}

        self.name = QLineEdit(agent.name if agent else "")
        self.name.setPlaceholderText("e.g. Summarizer")
        self.name_error = _error_label()
        self.description = QLineEdit(agent.description if agent else "")
        self.model = QComboBox()
        self.model.setMinimumWidth(280)
        self.model_error = _error_label()
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(float(config.get("temperature", 0.7)))
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 1_000_000)
        self.max_tokens.setValue(int(config.get("max_tokens", 1024)))
        self.system_prompt = QPlainTextEdit(str(config.get("system_prompt", "")))
        self.system_prompt.setPlaceholderText("What the agent is and how it answers")
        self.system_prompt.setFixedHeight(110)
        self.form_error = _error_label()

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("", self.name_error)
        form.addRow("Description", self.description)
        if agent is None or agent.agent_type is None:
            form.addRow("Model", self.model)
            form.addRow("", self.model_error)
            form.addRow("Temperature", self.temperature)
            form.addRow("Max tokens", self.max_tokens)
            form.addRow("System prompt", self.system_prompt)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)

        self.name.textChanged.connect(self.validate)
        self.model.currentTextChanged.connect(self.validate)
        self.validate()

    @property
    def dynamic(self) -> bool:
        return self._agent is not None and self._agent.agent_type is not None

    async def load_models(self) -> None:
        """Fill the model drop-down from Ollama (or say why it cannot be)."""
        self.model.setEnabled(False)
        try:
            names = await self._backend.models.names()
        except AgenticError as exc:
            _show(self.model_error, f"{exc}")
            names = []
        current = self._agent.model_name if self._agent else None
        if current and current not in names:
            names.insert(0, current)
        fill_model_picker(self.model, names, self._backend.router.views(), current)
        self.model.setEnabled(bool(names))
        if not names and not self.model_error.text():
            _show(self.model_error, "No model is installed: pull one in the Models panel first")
        self.validate()

    @Slot()
    def validate(self) -> bool:
        """Check the fields; Save is enabled only when they are all right."""
        name = self.name.text().strip()
        if not name:
            name_problem = "A name is required"
        elif name.lower() in self._taken:
            name_problem = f"An agent named '{name}' already exists"
        elif len(name) > 100:
            name_problem = "At most 100 characters"
        else:
            name_problem = ""
        _show(self.name_error, name_problem)
        model_ok = self.dynamic or picked_model(self.model) is not None
        ok = not name_problem and model_ok
        self.save_button.setEnabled(ok)
        return ok

    def _config(self) -> dict[str, Any]:
        return {
            "temperature": round(self.temperature.value(), 2),
            "max_tokens": self.max_tokens.value(),
            "system_prompt": self.system_prompt.toPlainText(),
        }

    @async_slot()
    async def on_save_clicked(self) -> None:
        """Create or update the agent; problems are shown here and the dialog stays open."""
        if not self.validate():
            return
        self.save_button.setEnabled(False)
        _show(self.form_error, "")
        try:
            if self._agent is None:
                draft = AgentDraft(
                    name=self.name.text().strip(),
                    description=self.description.text(),
                    model_name=picked_model(self.model),
                    config=self._config(),
                )
                agent = await self._backend.agents.create(draft)
            else:
                patch = AgentPatch(
                    name=self.name.text().strip(),
                    description=self.description.text(),
                    model_name=None if self.dynamic else picked_model(self.model),
                    config=None if self.dynamic else self._config(),
                )
                agent = await self._backend.agents.update(self._agent.id, patch)
        except FieldError as exc:
            _show(self.model_error if exc.field[:1] == ("model_name",) else self.form_error, str(exc))
        except AgenticError as exc:
            _show(self.form_error, str(exc))
        else:
            self.saved.emit(agent)
            self.accept()
            return
        finally:
            if self.isVisible():
                self.validate()


TASK_TYPES = ("generate", "chat", "summarize", "analyze")


def parse_conversation(text: str) -> list[dict[str, str]]:
    """``user: ...`` / ``assistant: ...`` / ``system: ...`` lines into chat messages.

    Lines without a role continue the previous message; text with no role at all is one user message.
    """
    messages: list[dict[str, str]] = []
    for line in text.splitlines():
        role, _, rest = line.partition(":")
        if role.strip().lower() in ("user", "assistant", "system") and _:
            messages.append({"role": role.strip().lower(), "content": rest.strip()})
        elif messages:
            messages[-1]["content"] += "\n" + line
        elif line.strip():
            messages.append({"role": "user", "content": line})
    return [message for message in messages if message["content"].strip()]


class RunTaskDialog(QDialog):
    """Pick a task type, fill in its input, and queue it for one agent."""

    started = Signal(object)

    def __init__(self, backend: Backend, parent: QWidget | None, agent: Agent) -> None:
        super().__init__(parent)
        self._backend = backend
        self._agent = agent
        self.setWindowTitle(f"Run a task with {agent.name}")
        self.setMinimumSize(560, 420)

        self.task_type = QComboBox()
        self.task_type.addItems(TASK_TYPES)
        self.pages = QStackedWidget()

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Write a short story about a robot learning to paint")
        self.system = QLineEdit()
        self.system.setPlaceholderText("Optional: overrides the agent's system prompt")
        self.conversation = QPlainTextEdit()
        self.conversation.setPlaceholderText(
            "user: What is machine learning?\nassistant: ...\nuser: Can you give an example?"
        )
        self.summary_text = QPlainTextEdit()
        self.summary_length = QComboBox()
        self.summary_length.addItems(["short", "medium", "long"])
        self.summary_length.setCurrentText("medium")
        self.analysis_text = QPlainTextEdit()
        self.analysis_type = QComboBox()
        self.analysis_type.addItems(["general", "sentiment", "topics", "entities"])

        for rows in (
            [("Prompt", self.prompt), ("System", self.system)],
            [("Conversation", self.conversation)],
            [("Text", self.summary_text), ("Length", self.summary_length)],
            [("Text", self.analysis_text), ("Analysis", self.analysis_type)],
        ):
            page = QWidget()
            form = QFormLayout(page)
            form.setContentsMargins(0, 0, 0, 0)
            for label, widget in rows:
                form.addRow(label, widget)
            self.pages.addWidget(page)
        self.task_type.currentIndexChanged.connect(self.pages.setCurrentIndex)

        self.error = _error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setObjectName("primary")
        self.buttons.accepted.connect(self.on_run_clicked)
        self.buttons.rejected.connect(self.reject)

        header = QLabel(f"<b>{agent.name}</b> — {agent.model_name or agent.agent_type}")
        header.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        top = QFormLayout()
        top.addRow("Task type", self.task_type)
        layout.addWidget(header)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

        for editor in (self.prompt, self.conversation, self.summary_text, self.analysis_text):
            editor.textChanged.connect(self.validate)
        self.task_type.currentIndexChanged.connect(self.validate)
        self.validate()

    def task_input(self) -> dict[str, Any]:
        """The task's ``input`` as the API takes it."""
        kind = self.task_type.currentText()
        if kind == "generate":
            return {
                "type": "generate",
                "prompt": self.prompt.toPlainText(),
                "system": self.system.text() or None,
            }
        if kind == "chat":
            return {"type": "chat", "messages": parse_conversation(self.conversation.toPlainText())}
        if kind == "summarize":
            return {
                "type": "summarize",
                "text": self.summary_text.toPlainText(),
                "length": self.summary_length.currentText(),
            }
        return {
            "type": "analyze",
            "text": self.analysis_text.toPlainText(),
            "analysis_type": self.analysis_type.currentText(),
        }

    @Slot()
    def validate(self) -> bool:
        """Run is enabled once the chosen type has its text."""
        kind = self.task_type.currentText()
        data = self.task_input()
        ok = bool(
            data.get("prompt", "").strip()
            if kind == "generate"
            else data.get("messages")
            if kind == "chat"
            else data.get("text", "").strip()
        )
        self.run_button.setEnabled(ok)
        return ok

    @async_slot()
    async def on_run_clicked(self) -> None:
        """Queue the task; the Tasks & Logs panel takes over from here."""
        if not self.validate():
            return
        self.run_button.setEnabled(False)
        try:
            task: Task = await self._backend.tasks.run(self._agent.id, parse_task_input(self.task_input()))
        except AgenticError as exc:
            _show(self.error, str(exc))
            self.run_button.setEnabled(True)
        except ValueError as exc:  # pydantic's ValidationError: input the dialog could not prevent
            _show(self.error, f"The input is not valid: {exc}")
            self.run_button.setEnabled(True)
        else:
            self.started.emit(task)
            self.accept()

"""The wizard's side pane: the live draft agent, its problems in red, and "Create agent"."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from server.services.chat_models import WizardDraft

RED = "#d64545"
GREY = "#8a93a6"


def _fields(fields: list[dict[str, Any]], depth: int = 0) -> str:
    items = []
    for field in fields:
        flags = ", ".join(
            part for part in (field.get("type"), "required" if field.get("required") else "") if part
        )
        nested = _fields(field.get("fields") or [], depth + 1) if field.get("fields") else ""
        items.append(
            f"<li><code>{html.escape(str(field.get('name')))}</code> "
            f"<span style='color:{GREY}'>{html.escape(flags)}</span>{nested}</li>"
        )
    return f"<ul style='margin-left:{8 if depth else 0}px'>{''.join(items)}</ul>" if items else ""


def describe_draft(agent: dict[str, Any]) -> str:
    """A draft agent as HTML: identity, prompt, data models, pipeline, tools and secrets."""
    esc = html.escape
    parts = [
        f"<h3 style='margin:0'>{esc(str(agent.get('name') or 'Unnamed agent'))}</h3>",
        f"<p style='color:{GREY}; margin-top:2px'><code>{esc(str(agent.get('agent_type')))}</code> · "
        f"{esc(str(agent.get('model_name')))}</p>",
    ]
    if agent.get("description"):
        parts.append(f"<p>{esc(str(agent['description']))}</p>")
    if agent.get("system_prompt"):
        prompt = str(agent["system_prompt"])
        prompt = prompt if len(prompt) <= 300 else prompt[:299] + "…"
        parts.append(f"<p><b>System prompt</b><br><i>{esc(prompt)}</i></p>")
    models = agent.get("data_models") or []
    if models:
        parts.append(f"<p><b>Data models</b> ({len(models)})</p>")
        for model in models:
            parts.append(f"<p style='margin-bottom:0'><code>{esc(str(model.get('name')))}</code></p>")
            parts.append(_fields(model.get("fields") or []))
    steps = agent.get("processing_pipeline") or []
    if steps:
        rows = "".join(
            f"<li>{esc(str(step.get('name')))}"
            + (f" <span style='color:{GREY}'>→ {esc(str(step['tool']))}</span>" if step.get("tool") else "")
            + "</li>"
            for step in steps
        )
        parts.append(f"<p><b>Pipeline</b> ({len(steps)} steps)</p><ol>{rows}</ol>")
    tools = agent.get("tools") or []
    if tools:
        rows = "".join(
            f"<li>{esc(str(tool.get('name')))} "
            f"<span style='color:{GREY}'>{esc(str(tool.get('type')))}</span></li>"
            for tool in tools
        )
        parts.append(f"<p><b>Tools</b> ({len(tools)})</p><ul>{rows}</ul>")
    secrets = agent.get("required_secrets") or []
    if secrets:
        rows = "".join(
            f"<li><code>{esc(str(secret.get('key')))}</code> "
            f"<span style='color:{GREY}'>{esc(str(secret.get('description') or ''))}</span></li>"
            for secret in secrets
        )
        parts.append(f"<p><b>Secrets to store</b> (you add the values)</p><ul>{rows}</ul>")
    return "".join(parts)


class DraftPane(QFrame):
    """Shows the wizard session's current draft; the panel wires the buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        title = QLabel("DRAFT AGENT")
        title.setObjectName("cardTitle")
        layout.addWidget(title)
        self.status = QLabel("Describe the agent you want; the wizard drafts it when it knows enough.")
        self.status.setWordWrap(True)
        self.status.setObjectName("cardDetail")
        layout.addWidget(self.status)
        self.view = QTextBrowser()
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.view, 1)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {RED};")
        self.problems.hide()
        layout.addWidget(self.problems)
        buttons = QHBoxLayout()
        self.draft_button = QPushButton("Draft now")
        self.draft_button.setToolTip("Ask the wizard to draft the agent from what it knows so far")
        self.create_button = QPushButton("Create agent")
        self.create_button.setObjectName("primary")
        buttons.addWidget(self.draft_button)
        buttons.addStretch(1)
        buttons.addWidget(self.create_button)
        layout.addLayout(buttons)
        self.show_draft(None, agent_id=None)

    def show_draft(self, draft: WizardDraft | None, *, agent_id: str | None) -> None:
        """Show ``draft`` (``None``: nothing drafted yet); a created agent disables the buttons."""
        agent = draft.agent if draft is not None else None
        self.view.setHtml(describe_draft(agent) if agent else "")
        problems = draft.problems if draft is not None else []
        self.problems.setText("<br>".join(f"• {html.escape(problem, quote=False)}" for problem in problems))
        self.problems.setVisible(bool(problems))
        if agent_id is not None:
            self.status.setText("This wizard created its agent; it is in the Agents panel.")
        elif agent is None:
            self.status.setText("Describe the agent you want; the wizard drafts it when it knows enough.")
        elif problems:
            self.status.setText(
                f"The draft has {len(problems)} problem{'s' if len(problems) != 1 else ''}: "
                "tell the wizard what to change."
            )
        else:
            self.status.setText("The draft is valid: create the agent, or tell the wizard what to change.")
        valid = draft is not None and draft.valid and agent is not None
        self.create_button.setEnabled(valid and agent_id is None)
        self.draft_button.setEnabled(agent_id is None)

    def show_progress(self, message: str) -> None:
        """Say what the wizard is doing (drafting, correcting)."""
        self.status.setText(message)

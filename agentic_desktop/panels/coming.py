"""A panel whose features are not built yet: it says plainly what it will hold."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from agentic_desktop.widgets.header import PanelHeader


class ComingPanel(QWidget):
    """Title, purpose and the list of what is coming."""

    def __init__(self, title: str, purpose: str, features: list[str]) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.addWidget(PanelHeader(title, purpose))
        card = QFrame()
        card.setObjectName("card")
        inner = QVBoxLayout(card)
        inner.setContentsMargins(18, 16, 18, 16)
        heading = QLabel("NOT BUILT YET — THIS PANEL WILL HOLD")
        heading.setObjectName("cardTitle")
        inner.addWidget(heading)
        self.features = QLabel("\n".join(f"•  {feature}" for feature in features))
        self.features.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.features.setWordWrap(True)
        inner.addWidget(self.features)
        layout.addWidget(card)
        layout.addStretch(1)


COMING = {
    "chat": (
        "Chat",
        "Talk to your models, and build new agents with the creation wizard.",
        [
            "Sessions with streamed, Markdown-rendered replies and a Stop button",
            "Per-reply tokens/s, response time and token counts",
            "The AI-assisted agent creation wizard with a live draft",
        ],
    ),
    "security": (
        "Security",
        "Limits, rate limits and security incidents.",
        [
            "Incidents colour-coded by severity, with resolve notes",
            "The security level and its limits",
            "Tray notifications for high and critical incidents",
        ],
    ),
}

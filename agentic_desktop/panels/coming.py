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


# Every section is built now; a future section starts here as (title, purpose, features).
COMING: dict[str, tuple[str, str, list[str]]] = {}

"""A dashboard card: a small title, a big value, a line of detail, optional buttons."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class Card(QFrame):
    """Title, value and detail in a rounded white frame."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(6)
        self.title = QLabel(title.upper())
        self.title.setObjectName("cardTitle")
        self.value = QLabel("—")
        self.value.setObjectName("cardValue")
        self.value.setWordWrap(True)
        self.detail = QLabel("")
        self.detail.setObjectName("cardDetail")
        self.detail.setWordWrap(True)
        self.buttons = QHBoxLayout()
        self.buttons.setContentsMargins(0, 4, 0, 0)
        self.buttons.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)
        layout.addLayout(self.buttons)

    def set_value(self, value: str, state: str | None = None) -> None:
        """Show ``value``; ``state`` (ok, bad, unknown) colours it."""
        self.value.setText(value)
        self.value.setProperty("state", state or "")
        self.value.style().unpolish(self.value)
        self.value.style().polish(self.value)

    def set_detail(self, text: str) -> None:
        """Show a line of detail under the value."""
        self.detail.setText(text)

    def add_button(self, text: str) -> QPushButton:
        """Add a button at the bottom right and return it."""
        button = QPushButton(text)
        self.buttons.addWidget(button)
        return button

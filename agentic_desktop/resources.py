"""Icons and the style sheet from the top-level ``resources/`` folder."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from server.resources import resource_dir


@cache
def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` as an icon."""
    return QIcon(str(resource_dir("icons", f"{name}.svg")))


def style_sheet() -> str:
    """The application's style sheet."""
    return resource_dir("styles", "app.qss").read_text(encoding="utf-8")

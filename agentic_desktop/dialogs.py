"""Asking the operator without blocking the loop: a confirmation that can be awaited."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QMessageBox, QWidget


async def confirm(
    parent: QWidget, title: str, text: str, *, destructive: bool = True, yes_text: str = "Yes"
) -> bool:
    """Ask a yes/no question window-modally and wait for the answer without nesting a Qt loop."""
    box = QMessageBox(
        QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question, title, text, parent=parent
    )
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    yes = box.button(QMessageBox.StandardButton.Yes)
    yes.setText(yes_text)
    box.finished.connect(lambda _result: answer.done() or answer.set_result(box.clickedButton() is yes))
    box.open()
    try:
        return await answer
    finally:
        if box.isVisible():
            box.reject()
        box.deleteLater()

"""The tray, where a desktop has one: show/hide, quit, and closing the window keeps the app alive.

Offscreen Qt has no system tray, so these drive the Tray object directly; the app only creates it
when ``Tray.available()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_desktop.tray import Tray
from server.events import OllamaStatusChanged
from tests.desktop.conftest import make_task

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp


def make_tray(desktop: DesktopApp) -> Tray:
    assert desktop.window is not None
    assert desktop.bridge is not None
    tray = Tray(desktop.window, desktop.bridge)
    desktop.window.keep_in_tray = True
    return tray


def test_closing_the_window_hides_it_in_the_tray_and_keeps_serving(desktop: DesktopApp) -> None:
    tray = make_tray(desktop)
    window = desktop.window
    assert window is not None
    window.close()
    assert not window.isVisible()
    assert tray.toggle_action.text() == "Show window"
    assert not desktop.quit_requested


def test_tray_toggle_shows_and_hides_the_window(desktop: DesktopApp) -> None:
    tray = make_tray(desktop)
    window = desktop.window
    assert window is not None
    tray.toggle_window()
    assert not window.isVisible()
    tray.toggle_window()
    assert window.isVisible()
    assert tray.toggle_action.text() == "Hide window"


def test_tray_quit_asks_for_quit(desktop: DesktopApp, qtbot: QtBot) -> None:
    tray = make_tray(desktop)
    with qtbot.waitSignal(tray.quit_requested, timeout=1000):
        next(action for action in tray.menu.actions() if action.text().startswith("Quit")).trigger()


def test_tray_menu_shows_ollama_state(desktop: DesktopApp) -> None:
    tray = make_tray(desktop)
    assert desktop.bridge is not None
    desktop.bridge.ollama_status_changed.emit(
        OllamaStatusChanged(host="http://x", reachable=False, models_available=0, detail="down")
    )
    assert tray.status_action.text() == "Ollama: not reachable"


def test_an_active_resource_alert_becomes_a_tray_message(desktop: DesktopApp) -> None:
    from server.events import ResourceAlert

    tray = make_tray(desktop)
    assert desktop.bridge is not None
    hot = ResourceAlert(
        key="gpu.0.temperature", subject="GPU 0 (RTX 3090)", value=88, threshold=85, unit=" °C", active=True
    )
    desktop.bridge.resource_alert.emit(hot)
    desktop.bridge.resource_alert.emit(
        ResourceAlert(
            key="gpu.0.temperature",
            subject="GPU 0 (RTX 3090)",
            value=70,
            threshold=85,
            unit=" °C",
            active=False,
        )
    )
    assert [(n.title, n.text, n.level) for n in tray.history] == [
        ("Resource alert", "GPU 0 (RTX 3090) at 88 °C (alert threshold 85 °C)", "warning")
    ]


def test_finished_tasks_are_gathered_into_one_message(desktop: DesktopApp, qtbot: QtBot) -> None:
    from server.bus import utcnow
    from server.events import TaskChanged

    tray = make_tray(desktop)
    assert desktop.bridge is not None
    assert desktop.window is not None
    desktop.window.hide()  # not in front: worth telling
    for status in ("completed", "completed", "failed"):
        task = make_task(
            id=status + str(len(tray.history)), status=status, progress=100, completed_at=utcnow()
        )
        desktop.bridge.task_changed.emit(TaskChanged(task=task))
    qtbot.waitUntil(lambda: len(tray.history) == 1, timeout=10_000)
    assert (tray.history[0].title, tray.history[0].text, tray.history[0].level) == (
        "3 tasks finished",
        "2 completed, 1 failed",
        "warning",
    )

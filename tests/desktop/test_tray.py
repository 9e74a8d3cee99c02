"""The tray, where a desktop has one: show/hide, quit, and closing the window keeps the app alive.

Offscreen Qt has no system tray, so these drive the Tray object directly; the app only creates it
when ``Tray.available()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_desktop.tray import Tray
from server.events import OllamaStatusChanged

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

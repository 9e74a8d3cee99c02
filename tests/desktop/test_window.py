"""The window over the real backend, offscreen: panels, live state, the embedded API, clean quit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import aiohttp
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from tests.conftest import API_KEY
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from tests.fakes.ollama import FakeOllamaThread

DESIGN_SIDEBAR = [
    "Dashboard",
    "Agents",
    "Tasks & Logs",
    "Chat",
    "Knowledge",
    "Models",
    "Hosts",
    "Secrets",
    "System",
    "Security",
    "Settings",
]


def test_window_opens_with_the_designed_sidebar(desktop: DesktopApp) -> None:
    window = desktop.window
    assert window is not None
    assert window.isVisible()
    labels = [window.sidebar.item(row).text() for row in range(window.sidebar.count())]
    assert labels == DESIGN_SIDEBAR
    assert window.current_section() == "dashboard"


def test_embedded_api_answers_from_inside_the_gui_process(
    desktop: DesktopApp, qloop: BatchedQEventLoop
) -> None:
    assert desktop.api is not None

    async def call() -> tuple[int, dict[str, object], int]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{desktop.api.url}/api/v1/health") as health:
                body = await health.json()
            async with session.get(
                f"{desktop.api.url}/api/v1/metrics", headers={"Authorization": f"Bearer {API_KEY}"}
            ) as metrics:
                return health.status, body, metrics.status

    status, body, metrics_status = qloop.run_until_complete(call())
    assert (status, body["status"], metrics_status) == (200, "healthy", 200)


def test_dashboard_shows_api_url_and_reachable_ollama(desktop: DesktopApp) -> None:
    assert desktop.window is not None
    assert desktop.api is not None
    dashboard = desktop.window.panels["dashboard"]
    assert dashboard.api_card.value.text() == desktop.api.url  # type: ignore[attr-defined]
    assert "Reachable" in dashboard.ollama_card.value.text()  # type: ignore[attr-defined]
    assert "3 models installed" in dashboard.ollama_card.detail.text()  # type: ignore[attr-defined]
    assert desktop.api.url in desktop.window.api_label.text()


def test_ollama_going_down_shows_in_dashboard_and_status_bar(
    desktop: DesktopApp, qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread
) -> None:
    assert desktop.window is not None
    dashboard = desktop.window.panels["dashboard"]
    ollama_thread.call(ollama_thread.fake.stop())
    dashboard.check_button.click()  # type: ignore[attr-defined]
    wait_until(qloop, lambda: "Not reachable" in dashboard.ollama_card.value.text())  # type: ignore[attr-defined]
    assert "start it (ollama serve)" in dashboard.ollama_card.detail.text()  # type: ignore[attr-defined]
    wait_until(qloop, lambda: "not reachable" in desktop.window.ollama_label.text())  # type: ignore[union-attr]
    assert dashboard.check_button.isEnabled()  # type: ignore[attr-defined]


def test_settings_shows_the_api_key_masked_until_asked(desktop: DesktopApp, qtbot: QtBot) -> None:
    assert desktop.window is not None
    settings_panel = desktop.window.panels["settings"]
    field = settings_panel.api_key  # type: ignore[attr-defined]
    assert field.edit.text() == API_KEY
    assert field.edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.mouseClick(field.show_button, Qt.MouseButton.LeftButton)
    assert field.edit.echoMode() == QLineEdit.EchoMode.Normal


def test_ctrl_number_switches_panels(desktop: DesktopApp, qtbot: QtBot) -> None:
    window = desktop.window
    assert window is not None
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.current_section() == "tasks"
    qtbot.keyClick(window, Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)
    assert window.current_section() == "system"
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.current_section() == "settings"


def test_closing_the_window_without_a_tray_quits(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    assert desktop.window is not None
    assert desktop.tray is None  # offscreen has no system tray
    desktop.window.close()
    qloop.run_until_complete(desktop.wait_for_quit())


def test_shutdown_closes_the_site_and_the_database(desktop: DesktopApp, qloop: BatchedQEventLoop) -> None:
    assert desktop.api is not None
    assert desktop.backend is not None
    url = desktop.api.url
    runtime = desktop.settings.data_dir / "runtime.json"
    assert json.loads(runtime.read_text())["url"] == url
    engine = desktop.backend.engine
    qloop.run_until_complete(desktop.shutdown())

    async def refused() -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{url}/api/v1/health"):
                return False
        except aiohttp.ClientConnectionError:
            return True

    assert qloop.run_until_complete(refused())
    assert not runtime.exists()
    assert engine.pool.checkedout() == 0
    assert desktop.backend.started_at is None

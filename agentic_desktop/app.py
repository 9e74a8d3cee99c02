"""``agentic-desktop``: the QApplication and qasync loop, running the Backend and the API site."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from agentic_desktop import background
from server.cli import configure_logging, parse

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PySide6.QtWidgets import QApplication

    from agentic_desktop.bridge import BusBridge
    from agentic_desktop.main_window import MainWindow
    from agentic_desktop.tray import Tray
    from server.api.site import ApiServer
    from server.backend import Backend
    from server.config import Settings

log = logging.getLogger("agentic_desktop")

EXIT_OK = 0
EXIT_START_FAILED = 2


class DesktopApp:
    """Starts the backend, the API and the window on the Qt loop, and shuts them down in order."""

    def __init__(self, settings: Settings, qt_app: QApplication) -> None:
        self.settings = settings
        self.qt_app = qt_app
        self.backend: Backend | None = None
        self.api: ApiServer | None = None
        self.bridge: BusBridge | None = None
        self.window: MainWindow | None = None
        self.tray: Tray | None = None
        self._quit = asyncio.Event()
        self._stopped = False

    async def start(self) -> str:
        """Start everything and show the window; returns the API URL."""
        from agentic_desktop.bridge import BusBridge
        from agentic_desktop.main_window import MainWindow
        from agentic_desktop.tray import Tray
        from server.api.site import ApiServer
        from server.backend import Backend
        from server.runtime import write_runtime

        self.backend = Backend(self.settings)
        await self.backend.start()
        self.bridge = BusBridge(self.backend.bus)
        self.bridge.start()
        self.api = ApiServer(self.backend)
        url = await self.api.start()
        await asyncio.to_thread(write_runtime, self.settings.data_dir, url=url, mode="desktop")

        self.window = MainWindow(self.backend, self.bridge, url)
        self.window.quit_requested.connect(self.request_quit)
        if Tray.available():
            self.tray = Tray(self.window, self.bridge)
            self.tray.quit_requested.connect(self.request_quit)
            self.tray.show()
            self.window.keep_in_tray = True
        self.window.show()
        return url

    def request_quit(self) -> None:
        """Ask for an orderly shutdown (from Quit, window close, the tray, or a signal)."""
        self._quit.set()

    @property
    def quit_requested(self) -> bool:
        """Whether something asked the app to quit."""
        return self._quit.is_set()

    async def wait_for_quit(self) -> None:
        """Return once a quit was requested."""
        await self._quit.wait()

    async def shutdown(self) -> None:
        """Close the window, stop serving, cancel background work and close the database."""
        if self._stopped:
            return
        self._stopped = True
        from server.runtime import clear_runtime

        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.quit_requested.disconnect(self.request_quit)
            self.window.hide()
        # No more signals to the panels, and their work done, before their widgets are deleted.
        if self.bridge is not None:
            await self.bridge.stop()
        await background.finish_all()
        if self.window is not None:
            self.window.deleteLater()
        if self.api is not None:
            await self.api.stop()
        if self.backend is not None:
            await self.backend.stop()
        await asyncio.to_thread(clear_runtime, self.settings.data_dir)
        log.info("Agentic Desktop closed")

    async def run(self) -> int:
        """Start, serve until asked to quit, shut down; returns the exit status."""
        from server.api.site import PortInUse
        from server.backend import BackendError
        from server.runtime import freeze_startup_objects

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_quit)
        try:
            try:
                await self.start()
            except (BackendError, PortInUse) as exc:
                log.error("%s", exc)
                await self.shutdown()
                await self._tell_start_failed(str(exc))
                return EXIT_START_FAILED
            freeze_startup_objects()
            await self.wait_for_quit()
            log.info("Shutting down")
        finally:
            await self.shutdown()
        return EXIT_OK

    async def _tell_start_failed(self, message: str) -> None:
        """Show why start-up failed, where there is a screen to show it on."""
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QMessageBox

        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Agentic Desktop could not start", message)
        closed = asyncio.get_running_loop().create_future()
        box.finished.connect(lambda _result: closed.done() or closed.set_result(None))
        box.open()
        await closed


def create_qt_app() -> QApplication:
    """The QApplication, styled, that does not quit by itself when its last window closes."""
    from PySide6.QtWidgets import QApplication

    from agentic_desktop.resources import icon, style_sheet

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qt_app, QApplication)
    qt_app.setApplicationName("Agentic Desktop")
    qt_app.setOrganizationName("Agentic Desktop")
    qt_app.setDesktopFileName("agentic-desktop")
    qt_app.setWindowIcon(icon("app"))
    qt_app.setStyleSheet(style_sheet())
    # Quitting is ours to decide: with a tray, closing the window keeps the app running.
    qt_app.setQuitOnLastWindowClosed(False)
    return qt_app


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, open the window with the API inside, and run until quit."""
    settings = parse("agentic-desktop", "Open the Agentic Desktop window, with the API inside.", argv)
    listener = configure_logging(settings)
    import qasync

    from server.runtime import tune_interpreter

    tune_interpreter()

    from agentic_desktop.loop import BatchedQEventLoop

    qt_app = create_qt_app()
    loop = BatchedQEventLoop(qt_app) if settings.qt_loop == "batched" else qasync.QEventLoop(qt_app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            return loop.run_until_complete(DesktopApp(settings, qt_app).run())
    finally:
        asyncio.set_event_loop(None)
        listener.stop()


if __name__ == "__main__":
    sys.exit(main())

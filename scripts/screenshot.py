"""Render every panel of the window offscreen to PNGs (for the README and for looking at changes).

Usage: QT_QPA_PLATFORM=offscreen python scripts/screenshot.py OUT_DIR
It runs the real app against the fake Ollama on loopback, in a throwaway data dir.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from agentic_desktop.app import DesktopApp, create_qt_app
from agentic_desktop.loop import BatchedQEventLoop
from agentic_desktop.main_window import SECTIONS
from server.config import Settings
from tests.fakes.ollama import FakeOllamaThread


async def capture(out: Path, ollama_url: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=data_dir, port=0, ollama_host=ollama_url)
        desktop = DesktopApp(settings, create_qt_app())
        await desktop.start()
        try:
            window = desktop.window
            assert window is not None
            window.resize(1100, 720)
            for key, _, _ in SECTIONS:
                window.show_section(key)
                await asyncio.sleep(0.05)  # let Qt lay out and paint the panel
                window.grab().save(str(out / f"{key}.png"))
        finally:
            await desktop.shutdown()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    qt_app = create_qt_app()
    loop = BatchedQEventLoop(qt_app)
    with FakeOllamaThread() as fake, loop:
        loop.run_until_complete(capture(out, fake.url))
    print(f"saved to {out}")


if __name__ == "__main__":
    main()

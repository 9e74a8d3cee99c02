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
from server.services.agents import AgentDraft
from server.services.task_types import GenerateInput, SummarizeInput
from tests.fakes.ollama import FakeOllama, FakeOllamaThread

SYSTEM_SAMPLES = 30


async def populate(desktop: DesktopApp, fake: FakeOllama) -> None:
    """A few agents and tasks in every state, so the panels show what an operator would see."""
    backend = desktop.backend
    assert backend is not None
    summarizer = await backend.agents.create(
        AgentDraft(
            name="Summarizer",
            description="Short summaries of long reports",
            model_name="llama3.2:latest",
            config={"temperature": 0.3, "system_prompt": "Be concise."},
        )
    )
    await backend.agents.create(
        AgentDraft(name="Mail triage", description="Sorts the inbox by urgency", model_name="qwen2.5:7b")
    )
    fake.replies.extend(["The GPU box ran 41 jobs overnight; two failed on out-of-memory errors."])
    done = await backend.tasks.run(
        summarizer.id, SummarizeInput(type="summarize", text="Night report. " * 40)
    )
    while not (await backend.tasks.get(done.id)).finished:
        await asyncio.sleep(0.05)
    fake.token_delay = 0.05
    fake.replies.extend([" ".join(["token"] * 400)])
    await backend.tasks.run(summarizer.id, GenerateInput(type="generate", prompt="Write the weekly report"))
    await asyncio.sleep(1.0)  # let the slow task get going, for a progress bar that is not empty


async def capture(out: Path, fake: FakeOllama) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=data_dir, port=0, ollama_host=fake.url)
        desktop = DesktopApp(settings, create_qt_app())
        await desktop.start()
        try:
            window = desktop.window
            assert window is not None
            window.panels["system"].set_window(60)  # type: ignore[attr-defined]
            metrics = desktop.backend.metrics  # type: ignore[union-attr]
            while "cpu.usage_percent" not in metrics.metric_names():
                await asyncio.sleep(0.2)
            while len(metrics.history("cpu.usage_percent", 60)) < SYSTEM_SAMPLES:
                await asyncio.sleep(0.5)  # charts with some history to look at
            await populate(desktop, fake)
            window.resize(1100, 720)
            tasks = window.panels["tasks"]
            running = [task for task in await desktop.backend.tasks.list() if task.status == "running"]  # type: ignore[union-attr]
            if running:
                tasks.select_task(running[0].id)  # type: ignore[attr-defined]
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
        loop.run_until_complete(capture(out, fake))
    print(f"saved to {out}")


if __name__ == "__main__":
    main()

"""Several boxes on one database: a box that starts fails only the tasks it was running itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert

from server.backend import INSTANCE_ID_FILE, Backend
from server.bus import utcnow
from server.db.models import TaskRow
from server.services.agents import AgentDraft

if TYPE_CHECKING:
    from server.config import Settings


async def test_a_restart_leaves_other_boxes_running_tasks_alone(settings: Settings) -> None:
    first = Backend(settings)
    await first.start()
    try:
        agent = await first.agents.create(AgentDraft(name="A", model_name="llama3.2:latest"))
        me = (settings.data_dir / INSTANCE_ID_FILE).read_text().strip()
        rows = [
            {
                "id": f"task-{owner}",
                "agent_id": agent.id,
                "task_type": "generate",
                "status": "running",
                "input": {"type": "generate", "prompt": "x"},
                "progress": 0,
                "created_at": utcnow(),
                "owner": owner,
            }
            for owner in (me, "another-box")
        ]
        async with first.sessions.begin() as session:
            await session.execute(insert(TaskRow), rows)
    finally:
        await first.stop()
    second = Backend(settings)
    await second.start()
    try:
        mine = await second.tasks.get(f"task-{me}")
        theirs = await second.tasks.get("task-another-box")
    finally:
        await second.stop()
    assert mine.status == "failed"
    assert "The app stopped while this task was running" in (mine.error or "")
    assert theirs.status == "running"

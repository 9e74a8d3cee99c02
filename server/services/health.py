"""Is the backend up, and is everything it depends on ready?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from server import __version__
from server.bus import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from server.services.llm import OllamaGateway


class Health(BaseModel):
    """The process is up and serving (the spec's health answer, field for field)."""

    status: Literal["healthy"]
    app_name: str
    version: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Check:
    """One dependency's readiness."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """Whether every dependency answers, one check each."""

    ready: bool
    checks: tuple[Check, ...]

    @property
    def problems(self) -> str:
        """The failed checks in words."""
        return "; ".join(check.detail for check in self.checks if not check.ok)


class HealthService:
    """Answers liveness from the process itself and readiness from its dependencies."""

    def __init__(
        self,
        app_name: str,
        check_database: Callable[[], Awaitable[str | None]],
        llm: OllamaGateway,
    ) -> None:
        self._app_name = app_name
        self._check_database = check_database
        self._llm = llm

    def health(self) -> Health:
        """Liveness: answering at all means healthy."""
        return Health(status="healthy", app_name=self._app_name, version=__version__, timestamp=utcnow())

    async def readiness(self) -> ReadinessReport:
        """Check the database and Ollama now."""
        db_problem = await self._check_database()
        status = await self._llm.probe()
        checks = (
            Check("database", db_problem is None, db_problem or "database answers"),
            Check("ollama", status.reachable, status.detail),
        )
        return ReadinessReport(ready=all(check.ok for check in checks), checks=checks)

"""What happened: the events services publish on the bus (past tense, one per kind of change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.bus import Event

if TYPE_CHECKING:
    from server.services.agents import Agent
    from server.services.chat_models import ChatSession
    from server.services.ingest import IngestRun
    from server.services.logs import LogEntry
    from server.services.metrics_models import SystemSample
    from server.services.security import Incident
    from server.services.tasks import Task


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiStarted(Event):
    """The HTTP API is listening at ``url``."""

    url: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OllamaStatusChanged(Event):
    """Ollama became reachable or unreachable (or its model count changed)."""

    host: str
    reachable: bool
    models_available: int
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelsChanged(Event):
    """A model was pulled or deleted."""

    model: str
    change: str  # "pulled" or "deleted"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPullProgressed(Event):
    """A model download moved on; ``done`` with ``error`` set when it failed."""

    model: str
    status: str
    completed: int | None = None
    total: int | None = None
    done: bool = False
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentChanged(Event):
    """An agent was created or updated, or deleted (``deleted``)."""

    agent: Agent
    deleted: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatSessionChanged(Event):
    """A chat session was created, changed (title, status, a new reply, the wizard's draft) or
    deleted (``deleted``)."""

    session: ChatSession
    deleted: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretChanged(Event):
    """A secret was created, updated, deleted or decrypted (never carries the value)."""

    agent_id: str
    secret_key: str
    action: str
    actor: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskChanged(Event):
    """A task was queued or changed state."""

    task: Task


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskProgressed(Event):
    """A running task reports progress (0-100) and what it is doing."""

    task_id: str
    agent_id: str
    progress: int
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LogRecorded(Event):
    """A log entry was written."""

    entry: LogEntry


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricsSampled(Event):
    """A new system sample (CPU, memory, disk, network, GPUs)."""

    sample: SystemSample


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceAlert(Event):
    """A resource crossed its alert threshold (``active``), or came back below it."""

    key: str
    subject: str
    value: float
    threshold: float
    unit: str
    active: bool

    @property
    def message(self) -> str:
        if self.active:
            return (
                f"{self.subject} at {self.value:g}{self.unit} (alert threshold {self.threshold:g}{self.unit})"
            )
        return f"{self.subject} back to {self.value:g}{self.unit} (below {self.threshold:g}{self.unit})"


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentChanged(Event):
    """A security incident was recorded or resolved."""

    incident: Incident


@dataclass(frozen=True, kw_only=True, slots=True)
class SecurityLevelChanged(Event):
    """The security level was switched."""

    level: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelCallFinished(Event):
    """One model call through the router ended, well or not (what model performance is made of)."""

    model: str
    host_id: str
    kind: str  # "chat", "generate" or "embed"
    purpose: str  # what the call was for: "chat", "task", "wizard", "openai", "content", "embedding", ...
    ok: bool
    error: str | None = None
    first_token_s: float | None = None  # streamed calls: seconds until the first token
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_second: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class HostStateChanged(Event):
    """An Ollama host became healthy, degraded or down (or was added or removed), and why."""

    host_id: str
    url: str
    state: str  # "healthy", "degraded" or "down"
    previous: str | None  # None when the host was just added
    reason: str
    removed: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RoutingDecision(Event):
    """The router chose a host for a model call (or found none); sampled to keep the bus cheap."""

    model: str | None
    purpose: str
    host_id: str | None
    reason: str
    candidates: int
    attempt: int = 1  # 2 and more: a retry after a host failed before the first token
    queued_s: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadProgressed(Event):
    """A stream download through the outbound HTTP client moved on, finished or failed."""

    download_id: str
    url: str
    destination: str  # relative to the data dir's downloads folder
    bytes_done: int
    total_bytes: int | None  # None when the server sent no Content-Length
    done: bool = False
    ok: bool = True  # with done: whether the file was written
    sha256: str | None = None  # set on the final event of a successful download
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestProgressed(Event):
    """An ingest run of a content source moved on: ``done`` of ``total`` fetched items handled."""

    source_id: str
    run_id: str
    done: int
    total: int
    new: int
    changed: int
    failed: int


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestFinished(Event):
    """An ingest run ended (succeeded, partial or failed); ``run`` has its counts and failures."""

    run: IngestRun

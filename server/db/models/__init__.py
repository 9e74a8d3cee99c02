"""ORM models, one module per domain; importing this package registers them all."""

from server.db.models.agents import AgentRow
from server.db.models.chat import ChatMessageRow, ChatSessionRow
from server.db.models.content import ContentItemRow, ContentSourceRow, IngestRunRow
from server.db.models.hosts import OllamaHostRow
from server.db.models.http import HttpRequestRow
from server.db.models.model_performance import ModelPerformanceRow
from server.db.models.secrets import SecretAuditRow, SecretRow, VaultMetaRow
from server.db.models.security import IncidentRow
from server.db.models.tasks import LogRow, TaskRow
from server.db.models.users import RevokedTokenRow, UserRow

__all__ = [
    "AgentRow",
    "ChatMessageRow",
    "ChatSessionRow",
    "ContentItemRow",
    "ContentSourceRow",
    "HttpRequestRow",
    "IncidentRow",
    "IngestRunRow",
    "LogRow",
    "ModelPerformanceRow",
    "OllamaHostRow",
    "RevokedTokenRow",
    "SecretAuditRow",
    "SecretRow",
    "TaskRow",
    "UserRow",
    "VaultMetaRow",
]

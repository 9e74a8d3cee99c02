"""ORM models, one module per domain; importing this package registers them all."""

from server.db.models.agents import AgentRow
from server.db.models.chat import ChatMessageRow, ChatSessionRow
from server.db.models.secrets import SecretAuditRow, SecretRow, VaultMetaRow
from server.db.models.security import IncidentRow
from server.db.models.tasks import LogRow, TaskRow
from server.db.models.users import RevokedTokenRow, UserRow

__all__ = [
    "AgentRow",
    "ChatMessageRow",
    "ChatSessionRow",
    "IncidentRow",
    "LogRow",
    "RevokedTokenRow",
    "SecretAuditRow",
    "SecretRow",
    "TaskRow",
    "UserRow",
    "VaultMetaRow",
]

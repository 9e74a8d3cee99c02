"""Chat requests and answers (the spec's chat endpoints, and streaming as server-sent events)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.services.agents import Agent
from server.services.chat_models import (
    ChatMessage,
    ChatModels,
    ChatReply,
    ChatSend,
    ChatSession,
    ChatSessionDraft,
    ChatSessionPatch,
    ChatStats,
    ChatTemplate,
    PerformanceMetrics,
)

__all__ = [
    "ChatMessage",
    "ChatMessagesQuery",
    "ChatModels",
    "ChatReply",
    "ChatSendIn",
    "ChatSession",
    "ChatSessionCreateIn",
    "ChatSessionDeleted",
    "ChatSessionListQuery",
    "ChatSessionUpdateIn",
    "ChatStats",
    "ChatStatusIn",
    "ChatTemplates",
    "PerformanceMetrics",
    "WizardFinalized",
]


class ChatSessionCreateIn(ChatSessionDraft):
    """A new session: ``general`` chat or ``agent_creation`` wizard."""

    model_config = ConfigDict(extra="forbid")


class ChatSessionUpdateIn(ChatSessionPatch):
    """Rename a session, change its model, or merge keys into its config."""

    model_config = ConfigDict(extra="forbid")


class ChatStatusIn(BaseModel):
    """The session's new status; only ``active`` sessions take messages."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "completed", "archived"]


class ChatSendIn(ChatSend):
    """A message; ``stream: true`` answers as server-sent events instead of one JSON object."""

    model_config = ConfigDict(extra="forbid")

    stream: bool = Field(False, description="Answer as text/event-stream: token events, then the message")


class ChatSessionListQuery(BaseModel):
    """Filters and paging for the session list (most recently active first)."""

    session_type: Literal["general", "agent_creation"] | None = None
    status: Literal["active", "completed", "archived"] | None = None
    user_id: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class ChatMessagesQuery(BaseModel):
    """Paging for a session's messages (oldest first)."""

    limit: int = Field(1000, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


class ChatTemplates(BaseModel):
    """The built-in templates (``config.template`` of a new session names one)."""

    templates: list[ChatTemplate]


class ChatSessionDeleted(BaseModel):
    """Confirmation of a deletion."""

    message: str
    session_id: str


class WizardFinalized(BaseModel):
    """The agent the wizard created, and the session that now records it."""

    session: ChatSession
    agent: Agent
    required_secrets: list[str] = Field(description="Secret keys to store for the agent before it runs")

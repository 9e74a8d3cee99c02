"""What chat is made of: sessions, messages, replies with their performance metrics, stream events,
and the arithmetic behind them (metrics from Ollama's timings, fitting a conversation in a context)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from server.services.llm import Generation

SessionType = Literal["general", "agent_creation"]
SessionStatus = Literal["active", "completed", "archived"]
Role = Literal["system", "user", "assistant"]

NS = 1_000_000_000
CHARS_PER_TOKEN = 4  # Ollama does not tokenize for clients; ~4 characters a token for English text
MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators of a chat template, per message
DEFAULT_REPLY_TOKENS = 1024


class ChatSession(BaseModel):
    """A conversation as the API and the window show it."""

    id: str
    session_type: SessionType
    model_name: str
    user_id: str | None
    title: str
    status: SessionStatus
    config: dict[str, Any]
    agent_id: str | None = Field(description="The agent an agent-creation session created, once finalized")
    draft: dict[str, Any] | None = Field(
        description="Agent-creation sessions: the wizard's current draft "
        "(``agent``, ``problems``, ``valid``, ``attempts``)"
    )
    created_at: datetime
    updated_at: datetime


class ChatSessionDraft(BaseModel):
    """What a new session needs; everything has a default."""

    session_type: SessionType = "general"
    model_name: str | None = Field(
        None, min_length=1, max_length=200, description="An installed model; the default model when left out"
    )
    user_id: str | None = Field(None, max_length=100)
    title: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="system_prompt, temperature, max_tokens, num_ctx, top_p, ...; ``template`` names a "
        "template from /chat/templates whose config this is laid over",
    )


class ChatSessionPatch(BaseModel):
    """Changes to a session; fields left out stay as they are (``config`` keys are merged)."""

    title: str | None = Field(None, min_length=1, max_length=200)
    model_name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None


class ChatSend(BaseModel):
    """A message to the session's model."""

    message: str = Field(min_length=1, max_length=200_000)
    model_name: str | None = Field(None, min_length=1, max_length=200, description="This reply only")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description='Kept with the message. In agent-creation sessions ``{"wizard": "draft"}`` asks for '
        "a draft now",
    )


class ChatMessage(BaseModel):
    """One message of a session."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    session_id: str
    role: Role
    content: str
    model: str | None
    performance_metrics: dict[str, Any] | None
    metadata: dict[str, Any] = Field(validation_alias="meta")
    created_at: datetime

    @computed_field(description="created_at again (the web client's name)")  # type: ignore[prop-decorator]
    @property
    def timestamp(self) -> datetime:
        return self.created_at


class PerformanceMetrics(BaseModel):
    """The spec's eleven figures for one reply, from Ollama's own timings."""

    model_config = ConfigDict(extra="forbid")

    response_time_seconds: float = Field(description="Ollama's total time for the reply")
    load_time_seconds: float = Field(description="Time spent loading the model")
    prompt_eval_time_seconds: float = Field(description="Time spent reading the prompt")
    generation_time_seconds: float = Field(description="Time spent generating the reply")
    prompt_tokens: int
    response_tokens: int
    total_tokens: int
    tokens_per_second: float = Field(description="response_tokens / generation_time_seconds")
    context_length_chars: int = Field(description="Characters of the conversation sent to the model")
    model_name: str
    timestamp: str = Field(description="When the reply finished, ISO 8601 UTC with milliseconds")


def iso_ms(moment: datetime) -> str:
    """``2024-01-01T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def performance_metrics(generation: Generation, context_chars: int, finished: datetime) -> PerformanceMetrics:
    """The metrics of one reply: every time is Ollama's own (nanoseconds → seconds)."""
    return PerformanceMetrics(
        response_time_seconds=round(generation.total_ns / NS, 3),
        load_time_seconds=round(generation.load_ns / NS, 3),
        prompt_eval_time_seconds=round(generation.prompt_eval_ns / NS, 3),
        generation_time_seconds=round(generation.eval_ns / NS, 3),
        prompt_tokens=generation.prompt_tokens,
        response_tokens=generation.completion_tokens,
        total_tokens=generation.prompt_tokens + generation.completion_tokens,
        tokens_per_second=round(generation.tokens_per_second, 2),
        context_length_chars=context_chars,
        model_name=generation.model,
        timestamp=iso_ms(finished),
    )


class WizardDraft(BaseModel):
    """The wizard's current draft agent and what is wrong with it, in words."""

    agent: dict[str, Any] | None = Field(description="The draft agent schema (null before the first draft)")
    problems: list[str] = Field(description="Why the draft cannot be created yet; empty when it can")
    valid: bool
    attempts: int = Field(description="Model answers it took to reach this draft")


class ChatReply(BaseModel):
    """The answer to a message: the spec's four fields, plus the stored messages and the draft."""

    session_id: str
    response: str
    model: str
    performance_metrics: PerformanceMetrics
    message: ChatMessage = Field(description="The stored assistant message")
    user_message: ChatMessage = Field(description="The stored user message")
    tokens_used: int = Field(description="total_tokens again (the web client's name)")
    draft: WizardDraft | None = Field(None, description="Agent-creation sessions: the draft after this turn")


class ChatStats(BaseModel):
    """Figures about one session."""

    session_id: str
    message_count: int
    user_messages: int
    assistant_messages: int
    total_tokens: int
    prompt_tokens: int
    response_tokens: int
    average_tokens_per_second: float | None
    average_response_time_seconds: float | None
    duration_seconds: float = Field(description="From the session's creation to its last message")
    last_activity: datetime
    models_used: list[str]


class ChatModels(BaseModel):
    """Models that can chat, and the one used when a session names none."""

    models: list[str]
    default_model: str | None


class ChatTemplate(BaseModel):
    """A starting point for a session: its type and config (``config.template`` names it)."""

    id: str
    name: str
    description: str
    session_type: SessionType
    config: dict[str, Any]


# -- stream events --


@dataclass(frozen=True, slots=True)
class ReplyToken:
    """A piece of the assistant's reply."""

    text: str


@dataclass(frozen=True, slots=True)
class WizardProgress:
    """The wizard is working on the draft (``stage``: drafting, retrying, validated, failed)."""

    stage: str
    attempt: int
    message: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The reply is complete and stored."""

    reply: ChatReply


ChatEvent = ReplyToken | WizardProgress | ReplyDone


# -- fitting a conversation into the model's context --


def estimate_tokens(text: str) -> int:
    """A conservative guess of how many tokens ``text`` is."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def fit_context(
    system: Mapping[str, Any] | None, turns: Sequence[Mapping[str, Any]], budget_tokens: int
) -> tuple[list[dict[str, Any]], int]:
    """The messages to send: the system prompt, then as many of the newest ``turns`` as fit in
    ``budget_tokens``, dropping the oldest first. The last turn (the new message) is always kept.

    Returns the messages and how many turns were left out.
    """
    used = estimate_tokens(str(system["content"])) if system else 0
    kept: list[dict[str, Any]] = []
    for turn in reversed(turns):
        cost = estimate_tokens(str(turn["content"]))
        if kept and used + cost > budget_tokens:
            break
        kept.append(dict(turn))
        used += cost
    kept.reverse()
    # A reply without the question it answers confuses models: never start on an assistant turn.
    while len(kept) > 1 and kept[0]["role"] == "assistant":
        kept.pop(0)
    messages = ([dict(system)] if system else []) + kept
    return messages, len(turns) - len(kept)


def context_budget(context_length: int, reply_tokens: int | None) -> int:
    """Tokens the prompt may use: the context minus room for the reply (at most half of it)."""
    reserve = min(reply_tokens or DEFAULT_REPLY_TOKENS, context_length // 2)
    return max(1, context_length - reserve)


class MarkerFilter:
    """Removes a marker (e.g. ``[[DRAFT]]``) from streamed text without ever showing part of it.

    Text that could be the start of the marker is held back until the next piece decides.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.found = False
        self._held = ""

    def feed(self, text: str) -> str:
        """The part of ``text`` that can be shown now."""
        buffer = self._held + text
        if self.marker in buffer:
            self.found = True
            buffer = buffer.replace(self.marker, "")
        for keep in range(min(len(self.marker) - 1, len(buffer)), 0, -1):
            if self.marker.startswith(buffer[-keep:]):
                self._held = buffer[-keep:]
                return buffer[:-keep]
        self._held = ""
        return buffer

    def finish(self) -> str:
        """What was held back at the end (it was not the marker after all)."""
        held, self._held = self._held, ""
        return held

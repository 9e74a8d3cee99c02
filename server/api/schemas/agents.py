"""Agent requests and answers (the spec's create body, flat or with ``config``)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from server.services.agents import Agent, AgentDraft, AgentPatch
from server.services.secrets import KEY_PATTERN, MAX_VALUE_CHARS, SecretDraft

__all__ = ["Agent", "AgentCreateIn", "AgentDeleted", "AgentListQuery", "AgentSecretIn", "AgentUpdateIn"]

# The web client sends these at the top level; the spec nests them in ``config``. Both are accepted.
FLAT_CONFIG_KEYS = ("temperature", "max_tokens", "system_prompt")


def _fold_flat_config(data: Any) -> Any:
    if isinstance(data, dict) and any(key in data for key in FLAT_CONFIG_KEYS):
        data = dict(data)
        config = dict(data.get("config") or {})
        for key in FLAT_CONFIG_KEYS:
            if key in data:
                config.setdefault(key, data.pop(key))
        data["config"] = config
    return data


class AgentSecretIn(BaseModel):
    """A secret stored with a new agent (``key``/``value`` as in the spec; ``secret_key``/``secret_value``
    as the secrets endpoints name them are accepted too)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, validation_alias=AliasChoices("key", "secret_key"))
    value: str = Field(
        min_length=1,
        max_length=MAX_VALUE_CHARS,
        validation_alias=AliasChoices("value", "secret_value"),
        json_schema_extra={"writeOnly": True},
    )
    description: str = Field("", max_length=1000)

    def draft(self) -> SecretDraft:
        return SecretDraft(secret_key=self.key, secret_value=self.value, description=self.description)


class AgentCreateIn(AgentDraft):
    """A static agent (``model_name`` + ``config``) or a dynamic one (``agent_type`` + ``config``)."""

    model_config = ConfigDict(extra="forbid")

    secrets: list[AgentSecretIn] | None = Field(
        None,
        max_length=100,
        description="Secrets stored encrypted with the agent, in the same transaction (all or nothing)",
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_config(cls, data: Any) -> Any:
        return _fold_flat_config(data)


class AgentUpdateIn(AgentPatch):
    """Fields to change; absent or null ones stay as they are. ``config`` keys are merged."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _flat_config(cls, data: Any) -> Any:
        return _fold_flat_config(data)


class AgentListQuery(BaseModel):
    """Filters and paging for the agent list."""

    active_only: bool = False
    agent_type: str | None = None
    include_dynamic: bool = True
    search: str | None = Field(None, max_length=200, description="Text in the name or description")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AgentDeleted(BaseModel):
    """Confirmation of a deletion."""

    message: str
    agent_id: str

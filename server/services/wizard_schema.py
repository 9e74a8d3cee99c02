"""The agent schema the wizard drafts: its shape (a pydantic model and the JSON schema handed to
Ollama's structured output) and the spec's complexity limits, each broken rule said in plain words."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.services.secrets import KEY_PATTERN
from server.services.security_policy import BLOCKED_TOOL_TYPES as SPEC_BLOCKED_TOOL_TYPES
from server.services.security_policy import SchemaLimits

# The spec's "Schema Complexity Limits" and "Blocked Tool Types" (the moderate level's; the security
# service checks the level in force as well).
_LIMITS = SchemaLimits()
MAX_DATA_MODELS = _LIMITS.max_data_models
MAX_FIELDS_PER_MODEL = _LIMITS.max_fields_per_model
MAX_PIPELINE_STEPS = _LIMITS.max_pipeline_steps
MAX_TOOLS = _LIMITS.max_tools
MAX_NESTING_DEPTH = _LIMITS.max_nesting_depth
MAX_FIELD_NAME = _LIMITS.max_field_name_length
BLOCKED_TOOL_TYPES = frozenset(SPEC_BLOCKED_TOOL_TYPES)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
AGENT_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
FIELD_TYPES = ("string", "text", "integer", "number", "boolean", "datetime", "json", "array", "object")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DraftField(_Lenient):
    """A field of a data model; ``object`` fields may have sub-fields."""

    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    fields: list[DraftField] = Field(default_factory=list)


class DraftDataModel(_Lenient):
    """A table the agent keeps its results in."""

    name: str
    description: str = ""
    fields: list[DraftField] = Field(default_factory=list)


class DraftStep(_Lenient):
    """One step of the processing pipeline."""

    name: str
    tool: str | None = None
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class DraftTool(_Lenient):
    """A tool the agent may use (``type`` says what kind)."""

    name: str
    type: str
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class DraftSecret(_Lenient):
    """A credential the agent needs; the operator stores its value, the wizard never does."""

    key: str
    description: str = ""


class AgentBlueprint(_Lenient):
    """A complete agent as the wizard drafts it."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=10_000)
    agent_type: str = Field(min_length=1, max_length=100)
    model_name: str = Field(min_length=1, max_length=200)
    system_prompt: str = Field("", max_length=100_000)
    config: dict[str, Any] = Field(default_factory=dict)
    data_models: list[DraftDataModel] = Field(default_factory=list)
    processing_pipeline: list[DraftStep] = Field(default_factory=list)
    tools: list[DraftTool] = Field(default_factory=list)
    required_secrets: list[DraftSecret] = Field(default_factory=list)


def _field_schema(level: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": list(FIELD_TYPES)},
        "description": {"type": "string"},
        "required": {"type": "boolean"},
    }
    if level < MAX_NESTING_DEPTH:
        properties["fields"] = {"type": "array", "items": _field_schema(level + 1)}
    return {"type": "object", "properties": properties, "required": ["name", "type"]}


def draft_json_schema(models: list[str]) -> dict[str, Any]:
    """The JSON schema Ollama must follow (``format``); the model must be one that is installed."""
    model_name: dict[str, Any] = {"type": "string"}
    if models:
        model_name["enum"] = list(models)
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "agent_type": {"type": "string"},
            "model_name": model_name,
            "system_prompt": {"type": "string"},
            "config": {
                "type": "object",
                "properties": {"temperature": {"type": "number"}, "max_tokens": {"type": "integer"}},
            },
            "data_models": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "fields": {"type": "array", "items": _field_schema(1)},
                    },
                    "required": ["name", "fields"],
                },
            },
            "processing_pipeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "tool": {"type": "string"},
                        "description": {"type": "string"},
                        "config": {"type": "object"},
                    },
                    "required": ["name"],
                },
            },
            "tools": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string"},
                        "description": {"type": "string"},
                        "config": {"type": "object"},
                    },
                    "required": ["name", "type"],
                },
            },
            "required_secrets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"key": {"type": "string"}, "description": {"type": "string"}},
                    "required": ["key"],
                },
            },
        },
        "required": [
            "name",
            "description",
            "agent_type",
            "model_name",
            "system_prompt",
            "data_models",
            "processing_pipeline",
            "tools",
            "required_secrets",
        ],
    }


LIMITS_TEXT = (
    f"at most {MAX_DATA_MODELS} data models; at most {MAX_FIELDS_PER_MODEL} fields per data model; "
    f"at most {MAX_PIPELINE_STEPS} pipeline steps; at most {MAX_TOOLS} tools; JSON nested at most "
    f"{MAX_NESTING_DEPTH} levels deep (sub-fields and config objects included); data model and field "
    f"names are identifiers (letters, digits, underscores, not starting with a digit) of at most "
    f"{MAX_FIELD_NAME} characters; tool types {', '.join(sorted(BLOCKED_TOOL_TYPES))} are not allowed; "
    "every pipeline step's tool is one of the tools; secret keys are names like imap_password"
)


def json_depth(value: Any) -> int:
    """Levels of nesting: a scalar is 0, ``{"a": 1}`` is 1, ``{"a": {"b": 1}}`` is 2."""
    if isinstance(value, dict):
        return 1 + max((json_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(item) for item in value), default=0)
    return 0


def _field_depth(field: DraftField) -> int:
    return 1 + max((_field_depth(child) for child in field.fields), default=0)


def _describe_pydantic(error: ValidationError) -> list[str]:
    problems = []
    for issue in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in issue["loc"]) or "the draft"
        problems.append(f"{where}: {issue['msg']}")
    return problems


def _check_identifier(what: str, name: str, problems: list[str]) -> None:
    if len(name) > MAX_FIELD_NAME:
        problems.append(f"{what} '{name[:40]}…' is {len(name)} characters long; at most {MAX_FIELD_NAME}.")
    if not IDENTIFIER.match(name):
        problems.append(
            f"{what} '{name}' is not a valid identifier: use letters, digits and underscores, "
            "not starting with a digit."
        )


def _check_fields(model: str, fields: list[DraftField], level: int, problems: list[str]) -> None:
    seen: set[str] = set()
    for field in fields:
        _check_identifier(f"Field name in data model '{model}'", field.name, problems)
        if field.name.lower() in seen:
            problems.append(f"Data model '{model}' has the field '{field.name}' twice.")
        seen.add(field.name.lower())
        if field.type not in FIELD_TYPES:
            problems.append(
                f"Field '{model}.{field.name}' has the unknown type '{field.type}'; "
                f"use one of {', '.join(FIELD_TYPES)}."
            )
        if level + _field_depth(field) - 1 > MAX_NESTING_DEPTH:
            problems.append(
                f"Field '{model}.{field.name}' nests sub-fields deeper than {MAX_NESTING_DEPTH} levels."
            )
        else:
            _check_fields(model, field.fields, level + 1, problems)


def check_limits(draft: AgentBlueprint, installed: list[str]) -> list[str]:
    """Every way ``draft`` breaks the spec's limits or cannot be created, in plain words."""
    problems: list[str] = []
    if not AGENT_TYPE.match(draft.agent_type):
        problems.append(f"The agent type '{draft.agent_type}' must be an identifier such as email_processor.")
    if installed and draft.model_name not in installed and f"{draft.model_name}:latest" not in installed:
        problems.append(
            f"The model '{draft.model_name}' is not installed; use one of: {', '.join(installed)}."
        )
    if len(draft.data_models) > MAX_DATA_MODELS:
        problems.append(f"The draft has {len(draft.data_models)} data models; at most {MAX_DATA_MODELS}.")
    names: set[str] = set()
    for model in draft.data_models:
        _check_identifier("Data model name", model.name, problems)
        if model.name.lower() in names:
            problems.append(f"Two data models are named '{model.name}'.")
        names.add(model.name.lower())
        if len(model.fields) > MAX_FIELDS_PER_MODEL:
            problems.append(
                f"Data model '{model.name}' has {len(model.fields)} fields; at most {MAX_FIELDS_PER_MODEL}."
            )
        if not model.fields:
            problems.append(f"Data model '{model.name}' has no fields.")
        _check_fields(model.name, model.fields, 1, problems)
    if len(draft.processing_pipeline) > MAX_PIPELINE_STEPS:
        problems.append(
            f"The pipeline has {len(draft.processing_pipeline)} steps; at most {MAX_PIPELINE_STEPS}."
        )
    if len(draft.tools) > MAX_TOOLS:
        problems.append(f"The draft has {len(draft.tools)} tools; at most {MAX_TOOLS}.")
    for tool in draft.tools:
        if tool.type.strip().lower() in BLOCKED_TOOL_TYPES:
            problems.append(
                f"Tool '{tool.name}' is of the blocked type '{tool.type}' "
                f"({', '.join(sorted(BLOCKED_TOOL_TYPES))} are not allowed)."
            )
        if json_depth(tool.config) > MAX_NESTING_DEPTH:
            problems.append(f"Tool '{tool.name}' has config nested deeper than {MAX_NESTING_DEPTH} levels.")
    tool_names = {tool.name for tool in draft.tools}
    for step in draft.processing_pipeline:
        if step.tool and step.tool not in tool_names:
            problems.append(
                f"Pipeline step '{step.name}' uses the tool '{step.tool}', which is not among the tools."
            )
        if json_depth(step.config) > MAX_NESTING_DEPTH:
            problems.append(
                f"Pipeline step '{step.name}' has config nested deeper than {MAX_NESTING_DEPTH} levels."
            )
    temperature = draft.config.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        problems.append(f"The temperature {temperature!r} must be a number from 0 to 2.")
    max_tokens = draft.config.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or not 1 <= max_tokens <= 1_000_000):
        problems.append(f"max_tokens {max_tokens!r} must be a whole number from 1 to 1,000,000.")
    if json_depth(draft.config) > MAX_NESTING_DEPTH:
        problems.append(f"The agent's config is nested deeper than {MAX_NESTING_DEPTH} levels.")
    for secret in draft.required_secrets:
        if not re.match(KEY_PATTERN, secret.key):
            problems.append(f"The secret key '{secret.key}' is not a valid name (e.g. imap_password).")
    return problems


def parse_draft(
    text: str, installed: list[str]
) -> tuple[AgentBlueprint | None, dict[str, Any] | None, list[str]]:
    """Read the model's answer: the draft (when it has the right shape), the raw JSON object (when
    it is one), and every problem found."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, None, [f"The answer was not valid JSON ({exc.msg} at character {exc.pos})."]
    if not isinstance(data, dict):
        return None, None, ["The answer was JSON but not an object with the agent's fields."]
    try:
        draft = AgentBlueprint.model_validate(data)
    except ValidationError as exc:
        return None, data, _describe_pydantic(exc)
    return draft, data, check_limits(draft, installed)

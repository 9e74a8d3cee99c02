"""What each security level allows: resource limits, schema-complexity limits, rate limits, domains.

``moderate`` is the spec's table; ``strict`` halves what is risky and blocks more; ``lenient`` is for
development: higher limits, and suspicious input is recorded but not refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

Level = Literal["strict", "moderate", "lenient"]
LEVELS: tuple[Level, ...] = ("strict", "moderate", "lenient")

DEFAULT_ALLOWED_DOMAINS = (
    "localhost",
    "127.0.0.1",
    "api.openai.com",
    "api.anthropic.com",
    "api.groq.com",
    "huggingface.co",
    "cdn.jsdelivr.net",
)
BLOCKED_TOOL_TYPES = ("system_command", "file_system", "network_scanner")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ResourceLimits(BaseModel):
    """Limits on what running agents may use (times in seconds, sizes in MB unless named bytes)."""

    max_concurrent_agents: int
    max_execution_time: int = Field(description="Per task, seconds")
    max_pipeline_time: int
    max_step_time: int
    max_agent_memory_mb: int
    max_memory_mb: int = Field(description="All agents together")
    max_data_model_memory_mb: int = 1024
    max_table_rows: int = 1_000_000
    max_concurrent_queries: int = 20
    max_query_time: int = 300
    max_external_requests_per_hour: int
    max_request_size_bytes: int = 1_048_576
    max_gpu_memory_mb: int = 24_576
    max_concurrent_gpu_tasks: int = 4


class SchemaLimits(BaseModel):
    """How complex an agent's schema may be."""

    max_data_models: int = 5
    max_fields_per_model: int = 20
    max_pipeline_steps: int = 10
    max_tools: int = 8
    max_nesting_depth: int = 3
    max_field_name_length: int = 63


class RateLimits(BaseModel):
    """Requests allowed per caller."""

    tool_execution_per_hour: int = Field(description="Per tool")
    agent_creation_per_hour: int
    external_requests_per_hour: int
    api_requests_per_minute: int = Field(description="Every other API call (health, ready and docs are free)")


class Policy(BaseModel):
    """One security level's rules."""

    level: Level
    resource_limits: ResourceLimits
    schema_limits: SchemaLimits
    rate_limits: RateLimits
    block_malicious_input: bool = Field(
        description="Refuse suspicious input (400); when false it is only recorded"
    )
    allowed_domains: list[str]
    blocked_tool_types: list[str]


def policy_for(level: Level, allowed_domains: list[str] | None = None) -> Policy:
    """The rules of ``level``; ``allowed_domains`` replaces the default list when given."""
    domains = list(allowed_domains) if allowed_domains else list(DEFAULT_ALLOWED_DOMAINS)
    if level == "strict":
        return Policy(
            level=level,
            resource_limits=ResourceLimits(
                max_concurrent_agents=4,
                max_execution_time=900,
                max_pipeline_time=300,
                max_step_time=120,
                max_agent_memory_mb=4096,
                max_memory_mb=65_536,
                max_external_requests_per_hour=250,
            ),
            schema_limits=SchemaLimits(
                max_data_models=3, max_fields_per_model=12, max_pipeline_steps=6, max_tools=4
            ),
            rate_limits=RateLimits(
                tool_execution_per_hour=50,
                agent_creation_per_hour=5,
                external_requests_per_hour=250,
                api_requests_per_minute=300,
            ),
            block_malicious_input=True,
            allowed_domains=domains,
            blocked_tool_types=[*BLOCKED_TOOL_TYPES, "web_browser", "code_interpreter"],
        )
    if level == "lenient":
        return Policy(
            level=level,
            resource_limits=ResourceLimits(
                max_concurrent_agents=8,
                max_execution_time=3600,
                max_pipeline_time=1800,
                max_step_time=600,
                max_agent_memory_mb=16_384,
                max_memory_mb=131_072,
                max_external_requests_per_hour=10_000,
            ),
            schema_limits=SchemaLimits(
                max_data_models=10, max_fields_per_model=40, max_pipeline_steps=20, max_tools=16
            ),
            rate_limits=RateLimits(
                tool_execution_per_hour=1000,
                agent_creation_per_hour=100,
                external_requests_per_hour=10_000,
                api_requests_per_minute=6000,
            ),
            block_malicious_input=False,
            allowed_domains=domains,
            blocked_tool_types=list(BLOCKED_TOOL_TYPES),
        )
    return Policy(
        level="moderate",
        resource_limits=ResourceLimits(
            max_concurrent_agents=8,
            max_execution_time=1800,
            max_pipeline_time=600,
            max_step_time=300,
            max_agent_memory_mb=8192,
            max_memory_mb=131_072,
            max_external_requests_per_hour=1000,
        ),
        schema_limits=SchemaLimits(),
        rate_limits=RateLimits(
            tool_execution_per_hour=100,
            agent_creation_per_hour=10,
            external_requests_per_hour=1000,
            api_requests_per_minute=1200,
        ),
        block_malicious_input=True,
        allowed_domains=domains,
        blocked_tool_types=list(BLOCKED_TOOL_TYPES),
    )


def field_depth(fields: Any) -> int:
    """How deeply fields nest: top-level fields are 1, the fields of an object field 2, and so on."""
    nested = _named(fields)
    if not nested:
        return 0
    return 1 + max(field_depth(field.get("fields", field.get("properties", []))) for field in nested)


def _named(items: Any) -> list[dict[str, Any]]:
    """A list of dicts from a list, or from a ``{name: spec}`` mapping."""
    if isinstance(items, dict):
        return [{"name": name, **(spec if isinstance(spec, dict) else {})} for name, spec in items.items()]
    if isinstance(items, list):
        return [item if isinstance(item, dict) else {"name": item} for item in items]
    return []


def schema_problems(config: dict[str, Any], policy: Policy) -> list[str]:
    """Why an agent's schema (``data_models``, ``pipeline``/``processing_pipeline``, ``tools``)
    breaks ``policy``, in plain words; empty when it is within limits."""
    limits = policy.schema_limits
    problems: list[str] = []
    models = _named(config.get("data_models", []))
    if len(models) > limits.max_data_models:
        problems.append(f"{len(models)} data models; at most {limits.max_data_models} are allowed")
    for model in models:
        name = model.get("name", "?")
        fields = _named(model.get("fields", []))
        if len(fields) > limits.max_fields_per_model:
            problems.append(
                f"data model '{name}' has {len(fields)} fields; "
                f"at most {limits.max_fields_per_model} are allowed"
            )
        for field in fields:
            field_name = str(field.get("name", ""))
            if len(field_name) > limits.max_field_name_length:
                problems.append(
                    f"field name '{field_name[:20]}…' in '{name}' is {len(field_name)} characters; "
                    f"at most {limits.max_field_name_length}"
                )
            elif not IDENTIFIER.match(field_name):
                problems.append(f"field name '{field_name}' in '{name}' is not a valid identifier")
        depth = field_depth(model.get("fields", []))
        if depth > limits.max_nesting_depth:
            problems.append(
                f"data model '{name}' nests fields {depth} levels deep; at most {limits.max_nesting_depth}"
            )
    pipeline = config.get("processing_pipeline", config.get("pipeline", []))
    steps = pipeline.get("steps", []) if isinstance(pipeline, dict) else pipeline
    if isinstance(steps, list) and len(steps) > limits.max_pipeline_steps:
        problems.append(f"{len(steps)} pipeline steps; at most {limits.max_pipeline_steps} are allowed")
    tools = _named(config.get("tools", []))
    if len(tools) > limits.max_tools:
        problems.append(f"{len(tools)} tools; at most {limits.max_tools} are allowed")
    for tool in tools:
        kind = str(tool.get("type", tool.get("name", "")))
        if kind in policy.blocked_tool_types:
            problems.append(f"tool type '{kind}' is blocked at the {policy.level} security level")
    return problems

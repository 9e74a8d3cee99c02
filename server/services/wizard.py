"""The agent creation wizard: asks what the agent must do, drafts a complete agent schema through
Ollama's structured output, checks it against the spec's limits (feeding problems back to the model
a bounded number of times), and registers the finished agent through the agents service."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from server.services.agents import AgentConfig, AgentDraft
from server.services.chat_models import WizardDraft, WizardProgress, context_budget, fit_context
from server.services.errors import InvalidInput
from server.services.llm import collect
from server.services.wizard_schema import LIMITS_TEXT, AgentBlueprint, draft_json_schema, parse_draft

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from server.services.agents import Agent, AgentService
    from server.services.llm import Router

DRAFT_MARKER = "[[DRAFT]]"
MAX_DRAFT_ATTEMPTS = 3  # the first answer and two corrections
DRAFT_TEMPERATURE = 0.2

CONVERSATION_PROMPT = f"""You are the agent creation wizard of Agentic Desktop, a control center \
for a home AI lab running Ollama. You help the operator define a new AI agent by conversation.

Ask short clarifying questions (at most three at a time) until you know: what the agent must do, \
its inputs and outputs, what data it should keep (data models and their fields), the steps it \
should follow, the tools or integrations it needs, and the credentials those need. Never invent \
credentials; name the secrets the operator must store instead. Do not write JSON yourself.

When you know enough to draft the agent, or the operator asks for the draft or for a change to it, \
summarise the agent in a few bullet points and end your reply with the line {DRAFT_MARKER} \
(the app then drafts the agent's schema and shows it to the operator).

Limits every agent must respect: {LIMITS_TEXT}."""

DRAFT_PROMPT = f"""You write agent schemas for Agentic Desktop as JSON. From the conversation, write \
the complete agent: name (short, human-readable), description, agent_type (a snake_case \
identifier such as email_processor), model_name (one of the installed models), system_prompt \
(the instructions the agent runs with), config (temperature 0-2, max_tokens), data_models (each \
with fields: name, type, description, required), processing_pipeline (ordered steps, each naming \
the tool it uses), tools (name, type, description, config) and required_secrets (key and \
description of each credential the operator must store; never values).

Rules: {LIMITS_TEXT}. Answer with the JSON object only."""


def conversation_prompt(config: dict[str, Any]) -> str:
    """The wizard's system prompt for a session (a template adds its guidance and parameters)."""
    prompt = CONVERSATION_PROMPT
    if config.get("guidance"):
        prompt += f"\n\nFocus: {config['guidance']}"
    if config.get("custom_parameters"):
        prompt += f"\n\nThe operator's preferences: {json.dumps(config['custom_parameters'])}"
    if config.get("description"):
        prompt += f"\n\nThe operator's first description of the agent: {config['description']}"
    return prompt


def _feedback(problems: Sequence[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        f"That draft cannot be used:\n{listed}\n"
        "Fix every problem and answer again with the complete corrected JSON object."
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def summary(draft: WizardDraft) -> str:
    """What the operator reads in the chat after a drafting round (Markdown)."""
    agent = draft.agent or {}
    if draft.valid:
        counts = ", ".join(
            _count(len(agent.get(key) or []), what)
            for key, what in (
                ("data_models", "data model"),
                ("processing_pipeline", "pipeline step"),
                ("tools", "tool"),
            )
        )
        secrets = [
            str(item.get("key")) for item in agent.get("required_secrets") or [] if isinstance(item, dict)
        ]
        needs = (
            f" It needs these secrets, which you store after creating it: {', '.join(secrets)}."
            if secrets
            else ""
        )
        return (
            f"**Draft ready:** {agent.get('name')} (`{agent.get('agent_type')}`, model "
            f"`{agent.get('model_name')}`) with {counts}.{needs} Tell me what to change, or create the agent."
        )
    listed = "\n".join(f"- {problem}" for problem in draft.problems)
    return (
        f"**I could not produce a valid agent** after {_count(draft.attempts, 'attempt')}. "
        "The problems:\n\n"
        f"{listed}\n\nTell me how to change the agent (for example fewer fields or a different tool), "
        "and I will draft it again."
    )


def agent_config(blueprint: AgentBlueprint, session_id: str | None = None) -> dict[str, Any]:
    """The config of the agent ``blueprint`` describes: its parameters, its schema (data models,
    pipeline, tools) and the secret keys it needs."""
    extra = {
        key: value
        for key, value in blueprint.config.items()
        if key not in ("temperature", "max_tokens", "system_prompt")
    }
    basics = AgentConfig.model_validate(
        {
            "temperature": blueprint.config.get("temperature", 0.7),
            "max_tokens": blueprint.config.get("max_tokens", 1024),
            "system_prompt": blueprint.system_prompt,
        }
    ).model_dump()
    config = {
        **extra,
        **basics,
        "data_models": [model.model_dump() for model in blueprint.data_models],
        "processing_pipeline": [step.model_dump() for step in blueprint.processing_pipeline],
        "tools": [tool.model_dump() for tool in blueprint.tools],
        "required_secrets": [secret.model_dump() for secret in blueprint.required_secrets],
    }
    if session_id is not None:
        config["wizard_session_id"] = session_id
    return config


class WizardService:
    """Drafts and registers agents for ``agent_creation`` chat sessions.

    ``schema_check(config)`` (the security policy's) may add problems beyond the spec's limits,
    e.g. the stricter limits of the ``strict`` security level.
    """

    def __init__(
        self,
        llm: Router,
        agents: AgentService,
        schema_check: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> None:
        self._llm = llm
        self._agents = agents
        self._schema_check = schema_check

    def check(
        self, text: str, installed: list[str]
    ) -> tuple[AgentBlueprint | None, dict[str, Any] | None, list[str]]:
        """Parse and check one answer of the model (see ``parse_draft``), with the policy's check."""
        blueprint, raw, problems = parse_draft(text, installed)
        if blueprint is not None and not problems and self._schema_check is not None:
            problems = [
                f"{problem[:1].upper()}{problem[1:]}."
                for problem in self._schema_check(agent_config(blueprint))
            ]
        return blueprint, raw, problems

    async def draft(
        self,
        model: str,
        conversation: Sequence[dict[str, Any]],
        *,
        current: WizardDraft | None,
        installed: list[str],
        context_length: int,
        config: dict[str, Any],
    ) -> AsyncIterator[WizardProgress | WizardDraft]:
        """Draft the agent from ``conversation``: progress as it goes, then the resulting draft.

        Each answer is parsed and checked; its problems go back to the model, up to
        ``MAX_DRAFT_ATTEMPTS`` answers in all. A failed round keeps the last answer that was a JSON
        object (or the previous draft) so the operator sees what was tried.
        """
        system = DRAFT_PROMPT
        if installed:
            system += f"\n\nInstalled models: {', '.join(installed)}. Prefer {model}."
        if config.get("guidance"):
            system += f"\n\nFocus: {config['guidance']}"
        request = "Write the complete agent schema now as JSON."
        if current is not None and current.agent is not None:
            request = (
                f"The current draft is:\n{json.dumps(current.agent)}\n\n"
                "Apply what the operator asked for since, and write the complete agent schema as JSON."
            )
        turns = [*conversation, {"role": "user", "content": request}]
        budget = context_budget(context_length, None)
        messages, _ = fit_context({"role": "system", "content": system}, turns, budget)
        options: dict[str, Any] = {"temperature": DRAFT_TEMPERATURE}
        if config.get("num_ctx"):
            options["num_ctx"] = config["num_ctx"]
        schema = draft_json_schema(installed)
        kept = current.agent if current is not None else None
        problems: list[str] = []
        for attempt in range(1, MAX_DRAFT_ATTEMPTS + 1):
            yield WizardProgress(
                stage="drafting" if attempt == 1 else "retrying",
                attempt=attempt,
                message="Drafting the agent…"
                if attempt == 1
                else f"Correcting the draft (attempt {attempt})…",
            )
            generation = await collect(
                self._llm.chat_stream(model, messages, options=options, format=schema, purpose="wizard")
            )
            blueprint, raw, problems = self.check(generation.text, installed)
            if raw is not None:
                kept = blueprint.model_dump() if blueprint is not None else raw
            if blueprint is not None and not problems:
                yield WizardProgress(stage="validated", attempt=attempt, message="The draft is valid.")
                yield WizardDraft(agent=kept, problems=[], valid=True, attempts=attempt)
                return
            messages = [
                *messages,
                {"role": "assistant", "content": generation.text},
                {"role": "user", "content": _feedback(problems)},
            ]
        yield WizardProgress(
            stage="failed", attempt=MAX_DRAFT_ATTEMPTS, message="The draft still has problems."
        )
        yield WizardDraft(agent=kept, problems=problems, valid=False, attempts=MAX_DRAFT_ATTEMPTS)

    async def register(self, draft: WizardDraft, installed: list[str], session_id: str) -> Agent:
        """Create the agent ``draft`` describes (a dynamic agent of its ``agent_type``, whose config
        holds the schema and the secret keys it needs)."""
        if draft.agent is None:
            raise InvalidInput(
                "There is no draft yet: describe the agent to the wizard and let it draft one first"
            )
        blueprint, _, problems = self.check(json.dumps(draft.agent), installed)
        if blueprint is None or problems:
            listed = "; ".join(problems)
            raise InvalidInput(f"The draft cannot be created yet: {listed}. Ask the wizard to fix it.")
        return await self._agents.create(
            AgentDraft(
                name=blueprint.name.strip(),
                description=blueprint.description,
                model_name=blueprint.model_name,
                agent_type=blueprint.agent_type,
                config=agent_config(blueprint, session_id),
            )
        )

"""The four task types (generate, chat, summarize, analyze): their inputs, prompts and outputs."""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from server.services.errors import AgenticError, DependencyDown

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from server.services.agents import Agent
    from server.services.llm import Chunk, Generation, Router


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateInput(_Input):
    """Complete a prompt."""

    type: Literal["generate"]
    prompt: str = Field(min_length=1, max_length=500_000)
    system: str | None = Field(None, max_length=100_000, description="Overrides the agent's system prompt")


class ChatTurn(BaseModel):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=500_000)


class ChatInput(_Input):
    """Answer the last message of a conversation."""

    type: Literal["chat"]
    messages: list[ChatTurn] = Field(min_length=1, max_length=1000)


class SummarizeInput(_Input):
    """Summarize a text."""

    type: Literal["summarize"]
    text: str = Field(min_length=1, max_length=500_000)
    length: Literal["short", "medium", "long"] = "medium"


class AnalyzeInput(_Input):
    """Analyze a text for sentiment, topics, entities, or in general."""

    type: Literal["analyze"]
    text: str = Field(min_length=1, max_length=500_000)
    analysis_type: Literal["sentiment", "topics", "entities", "general"] = "general"


TaskInput = Annotated[GenerateInput | ChatInput | SummarizeInput | AnalyzeInput, Field(discriminator="type")]
TASK_INPUT: TypeAdapter[TaskInput] = TypeAdapter(TaskInput)

SUMMARY_LENGTH = {
    "short": "in one or two sentences",
    "medium": "in one paragraph of three to five sentences",
    "long": "in several paragraphs that cover every key point",
}

# Ollama's structured output: the reply must match these JSON schemas.
ANALYSIS_SCHEMA: dict[str, dict[str, Any]] = {
    "sentiment": {
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral", "mixed"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "explanation": {"type": "string"},
        },
        "required": ["sentiment", "confidence", "explanation"],
    },
    "topics": {
        "type": "object",
        "properties": {"topics": {"type": "array", "items": {"type": "string"}}},
        "required": ["topics"],
    },
    "entities": {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}, "type": {"type": "string"}},
                    "required": ["text", "type"],
                },
            }
        },
        "required": ["entities"],
    },
}
ANALYSIS_TASK = {
    "sentiment": (
        "Classify the sentiment of the text; give your confidence from 0 to 1 and a one-sentence explanation."
    ),
    "topics": "List the main topics of the text, most important first, as short noun phrases.",
    "entities": (
        "List the named entities in the text (people, organisations, places, products, dates)"
        " with their type."
    ),
    "general": "Analyze the text: its purpose, main points, tone and anything notable.",
}


class TaskFailed(AgenticError):
    """The model's answer cannot be used; the message says why."""


class Outcome(BaseModel):
    """What a task produced, and what it cost."""

    output: dict[str, Any]
    model_usage: dict[str, Any]


def model_usage(generation: Generation, started: float, digest: str | None) -> dict[str, Any]:
    """The spec's ``model_usage`` block, from Ollama's own counters.

    ``model_version`` is the model's digest (Ollama has no version numbers); ``performance_score``
    is the share of the task's model time spent generating, not loading or reading the prompt.
    """
    return {
        "primary_model": generation.model,
        "model_version": digest[:12] if digest else None,
        "processing_time_ms": round((time.monotonic() - started) * 1000),
        "tokens_used": generation.prompt_tokens + generation.completion_tokens,
        "performance_score": round(generation.eval_ns / generation.total_ns, 3)
        if generation.total_ns
        else None,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "tokens_per_second": round(generation.tokens_per_second, 2),
    }


class TaskExecutor:
    """Turns a task input into model calls through the gateway, reporting progress as tokens arrive."""

    def __init__(self, llm: Router) -> None:
        self._llm = llm

    async def execute(
        self, agent: Agent, model: str, task: TaskInput, progress: Callable[[int, str], None]
    ) -> Outcome:
        """Run ``task`` with ``agent``'s settings on ``model``."""
        started = time.monotonic()
        installed = {entry.name: entry.digest for entry in await self._llm.list_models()}
        digest = installed.get(model) or installed.get(f"{model}:latest")
        options = agent.ollama_options()
        limit = int(options.get("num_predict") or 0)
        system = agent.system_prompt
        output: dict[str, Any]
        if isinstance(task, GenerateInput):
            chunks = self._llm.generate_stream(
                model, task.prompt, system=task.system or system, options=options, purpose="task"
            )
            generation = await self._follow(chunks, limit, progress)
            output = {"type": "generate", "response": generation.text}
        elif isinstance(task, ChatInput):
            messages = [turn.model_dump() for turn in task.messages]
            if system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system})
            chunks = self._llm.chat_stream(model, messages, options=options, purpose="task")
            generation = await self._follow(chunks, limit, progress)
            output = {
                "type": "chat",
                "response": generation.text,
                "message": {"role": "assistant", "content": generation.text},
            }
        elif isinstance(task, SummarizeInput):
            prompt = (
                f"Summarize the following text {SUMMARY_LENGTH[task.length]}. "
                "Answer with the summary only.\n\n" + task.text
            )
            chunks = self._llm.generate_stream(model, prompt, system=system, options=options, purpose="task")
            generation = await self._follow(chunks, limit, progress)
            summary = generation.text.strip()
            output = {
                "type": "summarize",
                "summary": summary,
                "length": task.length,
                "compression_ratio": round(len(task.text) / max(1, len(summary)), 2),
            }
        else:
            output, generation = await self._analyze(model, task, system, options, limit, progress)
        return Outcome(output=output, model_usage=model_usage(generation, started, digest))

    async def _analyze(
        self,
        model: str,
        task: AnalyzeInput,
        system: str | None,
        options: dict[str, Any],
        limit: int,
        progress: Callable[[int, str], None],
    ) -> tuple[dict[str, Any], Generation]:
        schema = ANALYSIS_SCHEMA.get(task.analysis_type)
        prompt = f"{ANALYSIS_TASK[task.analysis_type]}\n\nText:\n{task.text}"
        if schema is not None:
            prompt += "\n\nAnswer in JSON."
        chunks = self._llm.generate_stream(
            model, prompt, system=system, options=options, format=schema, purpose="task"
        )
        generation = await self._follow(chunks, limit, progress)
        if schema is None:
            return {
                "type": "analyze",
                "analysis_type": "general",
                "analysis": generation.text.strip(),
            }, generation
        try:
            result = json.loads(generation.text)
            missing = [key for key in schema["required"] if key not in result]
        except (json.JSONDecodeError, TypeError):
            missing = None
        if missing is None or missing:
            what = "was not JSON" if missing is None else f"lacks {', '.join(missing)}"
            raise TaskFailed(
                f"The model's {task.analysis_type} analysis {what}: {generation.text[:300]!r}. "
                "Try again or use a model that follows JSON schemas well."
            )
        return {"type": "analyze", "analysis_type": task.analysis_type, "result": result}, generation

    @staticmethod
    async def _follow(
        chunks: AsyncIterator[Chunk], limit: int, progress: Callable[[int, str], None]
    ) -> Generation:
        """Collect a streamed reply, reporting progress (tokens so far against the agent's limit)."""
        from server.services.llm import Generation

        parts: list[str] = []
        tokens = 0
        progress(5, "Waiting for the model")
        async with contextlib.aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                if chunk.done:
                    progress(100, f"Generated {chunk.completion_tokens} tokens")
                    return Generation.from_chunks("".join(parts), chunk)
                parts.append(chunk.text)
                tokens += 1
                if tokens % 16 == 1:
                    share = tokens / limit if limit else tokens / (tokens + 200)
                    progress(min(95, 10 + int(85 * share)), f"Generated {tokens} tokens")
        raise DependencyDown("Ollama ended the reply without its final message: is it still running?")


def parse_task_input(data: object) -> TaskInput:
    """Validate a task's ``input``; raises pydantic's ValidationError."""
    return TASK_INPUT.validate_python(data)

"""Bodies of the OpenAI-compatible ``/v1`` routes, in OpenAI's own field names and shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenAIErrorBody(BaseModel):
    """What went wrong, as OpenAI's clients read it."""

    message: str
    type: str = Field(description="invalid_request_error, authentication_error, rate_limit_error, ...")
    param: str | None = None
    code: str | None = Field(description="model_not_found, invalid_api_key, ... (null when none applies)")


class OpenAIErrorResponse(BaseModel):
    """Every error under ``/v1``: OpenAI's shape, not the rest of the API's."""

    error: OpenAIErrorBody


class TextPart(BaseModel):
    """One part of a message's content; only text parts are understood."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    """One message of the conversation (``developer`` is taken as ``system``)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = Field(None, description="A string or a list of text parts")

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(False, description="Send one more chunk with the usage before [DONE]")


class ChatCompletionIn(BaseModel):
    """OpenAI's chat completion request; fields not listed here are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=300, description="An installed model or agent:<name>")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=10_000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, description="Ollama's num_predict")
    max_completion_tokens: int | None = Field(None, ge=1, description="max_tokens under its newer name")
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences")
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stream: bool = False
    stream_options: StreamOptions | None = None

    def ollama_options(self) -> dict[str, object]:
        """The request's Ollama options (left-out values are ``None``: the agent's apply)."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "num_predict": self.max_completion_tokens or self.max_tokens,
            "stop": stop or None,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    """Token counts as Ollama reported them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The model name as requested")
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Unix time: the model's modification, or the agent's creation")
    owned_by: str = Field(description="ollama for installed models, agentic-desktop for agents")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class EmbeddingsIn(BaseModel):
    """OpenAI's embeddings request."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=300)
    input: str | list[str] = Field(description="A text or a list of texts (at most 2048)")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 bytes (what the openai client asks for)"
    )

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingOut(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingsUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: EmbeddingsUsage

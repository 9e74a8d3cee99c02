"""Settings: CLI flags > environment > ``config.toml`` in the data dir > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "config.toml"
DATA_DIR_ENV = "AGENTIC_DATA_DIR"


def default_data_dir() -> Path:
    """The platform's per-user data dir (``~/.local/share/agentic-desktop`` on Linux)."""
    return Path(platformdirs.user_data_dir("agentic-desktop", appauthor=False))


def _aliases(field: str, *extra: str) -> AliasChoices:
    """Accept ``AGENTIC_<FIELD>``, the spec's own names in ``extra``, and the bare field name."""
    return AliasChoices(f"AGENTIC_{field.upper()}", *extra, field)


class Settings(BaseSettings):
    """Everything the backend and the window can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTIC_",
        populate_by_name=True,
        extra="ignore",
        case_sensitive=False,
    )

    host: str = Field("127.0.0.1", validation_alias=_aliases("host"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=_aliases("port"))
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias=_aliases("data_dir"))
    api_key: SecretStr | None = Field(None, validation_alias=_aliases("api_key", "API_KEY"))
    ollama_host: str = Field(
        "http://127.0.0.1:11434", validation_alias=_aliases("ollama_host", "OLLAMA_HOST")
    )
    ollama_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds before a call to Ollama counts as failed.",
        validation_alias=_aliases("ollama_timeout"),
    )
    ollama_probe_interval: float = Field(
        10.0,
        gt=0,
        description="Seconds between Ollama reachability probes.",
        validation_alias=_aliases("ollama_probe_interval"),
    )
    jwt_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="Signs login tokens; every box sharing one database needs the same (default: "
        "generated into the data dir's jwt-secret file).",
        validation_alias=_aliases("jwt_secret"),
    )
    admin_user: str = Field("admin", min_length=1, validation_alias=_aliases("admin_user"))
    admin_password: SecretStr | None = Field(None, validation_alias=_aliases("admin_password"))
    database_url: str | None = Field(None, validation_alias=_aliases("database_url"))
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_aliases("cors_origins")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_aliases("log_level", "LOG_LEVEL")
    )
    security_level: Literal["strict", "moderate", "lenient"] = Field(
        "moderate", validation_alias=_aliases("security_level", "SECURITY_LEVEL")
    )
    allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Domains agents may reach (comma-separated in ALLOWED_DOMAINS); empty: the spec's list.",
        validation_alias=_aliases("allowed_domains", "ALLOWED_DOMAINS"),
    )
    vault_backend: Literal["auto", "keyring", "file"] = Field(
        "auto",
        description="Where the secrets vault keeps its master key: the OS keyring, a 0600 file in "
        "the data dir, or auto (the keyring where one exists, else the file).",
        validation_alias=_aliases("vault_backend"),
    )
    token_ttl_minutes: int = Field(
        24 * 60,
        gt=0,
        description="Lifetime of a login token.",
        validation_alias=_aliases("token_ttl_minutes"),
    )
    app_name: str = Field("Agentic Desktop", validation_alias=_aliases("app_name"))
    default_model: str | None = Field(
        None,
        description="Model for agents without one (default: the first installed)",
        validation_alias=_aliases("default_model"),
    )
    ollama_generate_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds a generation may wait for Ollama's next token.",
        validation_alias=_aliases("ollama_generate_timeout"),
    )
    ollama_max_concurrent: int = Field(
        4,
        ge=1,
        le=1024,
        description="Model calls the settings' Ollama host takes at once before the router queues.",
        validation_alias=_aliases("ollama_max_concurrent"),
    )
    router_queue_size: int = Field(
        100,
        ge=0,
        description="Model calls that may wait when every Ollama host is busy; more get a 429.",
        validation_alias=_aliases("router_queue_size"),
    )
    router_queue_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a model call waits for a free host before it gets a 429.",
        validation_alias=_aliases("router_queue_timeout"),
    )
    router_breaker_threshold: int = Field(
        5,
        ge=1,
        description="Failures in a row that open a host's circuit breaker.",
        validation_alias=_aliases("router_breaker_threshold"),
    )
    router_breaker_reset: float = Field(
        30.0,
        gt=0,
        description="Seconds an open circuit breaker waits before a trial call.",
        validation_alias=_aliases("router_breaker_reset"),
    )
    task_timeout: float = Field(
        1800.0,
        gt=0,
        description="Seconds a task may run before it fails.",
        validation_alias=_aliases("task_timeout"),
    )
    max_concurrent_tasks: int = Field(
        8,
        ge=1,
        le=64,
        description="Tasks that run at once; more wait in order.",
        validation_alias=_aliases("max_concurrent_tasks"),
    )
    metrics_interval: float = Field(
        1.0,
        ge=0.1,
        le=60,
        description="Seconds between system samples.",
        validation_alias=_aliases("metrics_interval"),
    )
    web_rate_per_host: float = Field(
        2.0,
        gt=0,
        le=100,
        description="Requests a second the web connector sends to any one host (feeds, pages, robots.txt).",
        validation_alias=_aliases("web_rate_per_host"),
    )
    alert_gpu_temperature_c: float = Field(85.0, validation_alias=_aliases("alert_gpu_temperature_c"))
    alert_memory_percent: float = Field(90.0, gt=0, le=100, validation_alias=_aliases("alert_memory_percent"))
    alert_disk_percent: float = Field(90.0, gt=0, le=100, validation_alias=_aliases("alert_disk_percent"))
    ws_idle_timeout: float = Field(
        90.0,
        gt=0,
        description="Seconds a WebSocket may stay silent (no ping) before it is closed.",
        validation_alias=_aliases("ws_idle_timeout"),
    )
    qt_loop: Literal["batched", "qasync"] = Field(
        "batched",
        description="The window's event loop: qasync with a batched ready queue, or plain qasync "
        "(slower under API load; for diagnosing a suspected loop problem).",
        validation_alias=_aliases("qt_loop"),
    )
    web_root: Path | None = Field(
        None,
        description="A built web client (the folder with index.html, e.g. dist/) to serve at /.",
        validation_alias=_aliases("web_root"),
    )
    # -- the outbound HTTP client (connectors, webhooks, /api/v1/http/*) --
    http_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and networks (CIDR) outside calls may reach, comma-separated; empty: any "
        "destination not denied.",
        validation_alias=_aliases("http_allow"),
    )
    http_deny: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and networks (CIDR) outside calls may never reach, comma-separated "
        "(link-local/metadata addresses are always denied unless allowed by network).",
        validation_alias=_aliases("http_deny"),
    )
    http_timeout: float = Field(30.0, gt=0, le=600, validation_alias=_aliases("http_timeout"))
    http_max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description="Tries of an idempotent request.",
        validation_alias=_aliases("http_max_attempts"),
    )
    http_backoff_initial: float = Field(
        0.5,
        ge=0,
        description="Seconds before the first retry.",
        validation_alias=_aliases("http_backoff_initial"),
    )
    http_backoff_max: float = Field(
        10.0,
        ge=0,
        description="Longest backoff between retries.",
        validation_alias=_aliases("http_backoff_max"),
    )
    http_max_retry_wait: float = Field(
        30.0,
        ge=0,
        description="Longest Retry-After / rate-limit reset honoured; a longer one ends the retries.",
        validation_alias=_aliases("http_max_retry_wait"),
    )
    http_rate_limit_per_minute: float = Field(
        120.0,
        gt=0,
        description="Requests per minute per host.",
        validation_alias=_aliases("http_rate_limit_per_minute"),
    )
    http_breaker_threshold: int = Field(5, ge=1, validation_alias=_aliases("http_breaker_threshold"))
    http_breaker_reset: float = Field(30.0, gt=0, validation_alias=_aliases("http_breaker_reset"))
    http_max_response_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Bytes of a response body /http/request returns; the rest is cut (truncated: true).",
        validation_alias=_aliases("http_max_response_bytes"),
    )
    http_download_max_bytes: int = Field(
        4 * 1024**3,
        ge=1,
        description="Largest file /http/stream-download writes.",
        validation_alias=_aliases("http_download_max_bytes"),
    )
    embedding_model: str = Field(
        "nomic-embed-text",
        min_length=1,
        description="The Ollama model that turns text into vectors for semantic search.",
        validation_alias=_aliases("embedding_model"),
    )
    embedding_batch_size: int = Field(
        32,
        ge=1,
        le=1024,
        description="Texts per /api/embed call.",
        validation_alias=_aliases("embedding_batch_size"),
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http://host:port) to keep vectors in, shared between machines; "
        "unset: an embedded store in the data dir.",
        validation_alias=_aliases("chroma_url"),
    )
    chunk_size: int = Field(
        1000,
        ge=100,
        le=100_000,
        description="Characters per chunk when long texts are indexed.",
        validation_alias=_aliases("chunk_size"),
    )
    chunk_overlap: int = Field(
        100,
        ge=0,
        le=50_000,
        description="Characters repeated between neighbouring chunks.",
        validation_alias=_aliases("chunk_overlap"),
    )

    content_max_item_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest content item (bytes) that is extracted and stored; larger ones are refused.",
        validation_alias=_aliases("content_max_item_bytes"),
    )
    content_cache_entries: int = Field(
        1000,
        ge=1,
        description="Content processing results kept in memory (least recently used go first).",
        validation_alias=_aliases("content_cache_entries"),
    )
    content_batch_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Items of one content batch processed at once.",
        validation_alias=_aliases("content_batch_concurrency"),
    )
    content_model: str | None = Field(
        None,
        description="Model for content operations (summarize, entities, ...); default: the default model.",
        validation_alias=_aliases("content_model"),
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(part).strip().rstrip("/") for part in value if str(part).strip()]
        return value

    @field_validator("http_allow", "http_deny", mode="before")
    @classmethod
    def _split_destinations(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("web_root", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("web_root", mode="after")
    @classmethod
    def _built_client(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        folder = value.expanduser().resolve()
        if not folder.is_dir():
            raise ValueError(
                f"web client folder {folder} does not exist; build the client (npm run build) "
                "and point --web-root / AGENTIC_WEB_ROOT / web_root at its output folder (dist)"
            )
        if not (folder / "index.html").is_file():
            raise ValueError(
                f"web client folder {folder} has no index.html; point it at the built client's "
                "output folder (dist), not at its sources"
            )
        return folder

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or SQLite in the data dir."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'agentic.db'}"

    @property
    def config_file(self) -> Path:
        """Where the optional config file lives."""
        return self.data_dir / CONFIG_FILE_NAME

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init kwargs) win over the environment, which wins over the data dir's file."""
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        from_flags = next(
            (value for key, value in init_kwargs.items() if key.lower() in ("data_dir", "agentic_data_dir")),
            None,
        )
        data_dir = from_flags or os.environ.get(DATA_DIR_ENV) or default_data_dir()
        config_file = Path(data_dir).expanduser() / CONFIG_FILE_NAME
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file))

    @classmethod
    def from_cli(cls, flags: dict[str, Any]) -> Settings:
        """Build settings with the flags that were given (``None`` means not given)."""
        return cls(**{key: value for key, value in flags.items() if value not in (None, [])})

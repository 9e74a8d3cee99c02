"""The Backend: builds and owns the engine, the event bus and the services; start() / stop()."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import text

from server.bus import EventBus, utcnow
from server.config_file import set_config_value
from server.db import migrate
from server.db.engine import display_url, make_engine, make_sessions
from server.services.agents import AgentService
from server.services.auth import AuthService
from server.services.chat import ChatService
from server.services.connectors._common import USER_AGENT
from server.services.connectors.registry import ConnectorRegistry, vault_resolver
from server.services.content import ContentService
from server.services.gpus import NvmlGpus
from server.services.health import HealthService
from server.services.http_client import OutboundHttp
from server.services.ingest import IngestService
from server.services.keyfiles import read_or_create
from server.services.llm import HostStore, Router
from server.services.logs import LogService
from server.services.metrics import MetricsService, Thresholds
from server.services.model_performance import PerformanceStore
from server.services.model_registry import ModelRegistry
from server.services.models import ModelService
from server.services.secrets import SecretsService, VaultError
from server.services.security import SecurityService
from server.services.semantic import SemanticService
from server.services.semantic_store import VectorStore
from server.services.task_types import TaskExecutor
from server.services.tasks import TaskService
from server.services.users import UserService
from server.services.vault_keys import KeyStoreError, choose_store
from server.services.vector_process import ProcessVectorStore
from server.services.wizard import WizardService

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from datetime import datetime
    from typing import Any

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from server.config import Settings
    from server.events import ResourceAlert

log = logging.getLogger(__name__)
T = TypeVar("T")

API_KEY_FILE = "api-key"
JWT_SECRET_FILE = "jwt-secret"
INSTANCE_ID_FILE = "instance-id"  # names this box on the tasks it runs (several boxes, one database)


class BackendError(RuntimeError):
    """The backend could not start; the message says why and what to do."""


class _Started(Generic[T]):
    """A backend attribute that exists between start() and stop(); reading it otherwise is a bug."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = f"_{name}"

    def __get__(self, backend: Backend, owner: type | None = None) -> T:
        value = backend.__dict__.get(self._attribute)
        if value is None:
            raise RuntimeError("Backend not started")
        return value  # type: ignore[no-any-return]


class Backend:
    """Everything behind the API and the window, with one lifetime."""

    engine: _Started[AsyncEngine] = _Started()
    sessions: _Started[async_sessionmaker[AsyncSession]] = _Started()
    auth: _Started[AuthService] = _Started()
    llm: _Started[Router] = _Started()  # the router over the Ollama hosts (``router`` too)
    health: _Started[HealthService] = _Started()
    logs: _Started[LogService] = _Started()
    agents: _Started[AgentService] = _Started()
    models: _Started[ModelService] = _Started()
    tasks: _Started[TaskService] = _Started()
    metrics: _Started[MetricsService] = _Started()
    secrets: _Started[SecretsService] = _Started()
    chat: _Started[ChatService] = _Started()
    security: _Started[SecurityService] = _Started()
    users: _Started[UserService] = _Started()
    semantic: _Started[SemanticService] = _Started()
    connectors: _Started[ConnectorRegistry] = _Started()
    content: _Started[ContentService] = _Started()
    ingest: _Started[IngestService] = _Started()
    model_performance: _Started[PerformanceStore] = _Started()
    model_registry: _Started[ModelRegistry] = _Started()
    http: _Started[OutboundHttp] = _Started()  # the guarded outbound HTTP client

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.started_at: datetime | None = None
        self._started_monotonic = 0.0
        self._background: set[asyncio.Task[None]] = set()
        self.api_key_generated = False
        self._api_key = ""

    @property
    def uptime_seconds(self) -> float:
        """Seconds since start() finished (0 before)."""
        return time.monotonic() - self._started_monotonic if self.started_at else 0.0

    async def start(self) -> None:
        """Open the database (migrating it), load keys, start services and background work.

        A failure part-way releases whatever was already opened before it propagates.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        data_dir = settings.data_dir
        try:
            await asyncio.to_thread(data_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"Cannot create the data dir {data_dir}: {exc.strerror}") from exc

        try:
            self._engine = make_engine(settings.resolved_database_url)
            await migrate.upgrade(self._engine)
        except Exception as exc:
            raise BackendError(
                f"Cannot open the database at {display_url(settings.resolved_database_url)}: {exc}"
            ) from exc
        self._sessions = make_sessions(self._engine)

        if settings.api_key is not None:
            api_key = settings.api_key.get_secret_value()
        else:
            api_key, self.api_key_generated = await asyncio.to_thread(read_or_create, data_dir / API_KEY_FILE)
            if self.api_key_generated:
                log.warning(
                    "Generated an API key (saved in %s); it is shown in the window's Settings",
                    data_dir / API_KEY_FILE,
                )
        self._api_key = api_key
        if settings.jwt_secret is not None:
            jwt_secret = settings.jwt_secret.get_secret_value()
        else:
            jwt_secret, _ = await asyncio.to_thread(read_or_create, data_dir / JWT_SECRET_FILE, 48)
        self._auth = AuthService(
            self._sessions,
            api_key=api_key,
            jwt_secret=jwt_secret,
            token_ttl=timedelta(minutes=settings.token_ttl_minutes),
            data_dir=data_dir,
        )
        self._users = UserService(self._sessions, self._auth)
        admin_password = settings.admin_password
        await self._auth.ensure_operator(
            settings.admin_user, admin_password.get_secret_value() if admin_password else None
        )

        try:
            store, why = await asyncio.to_thread(choose_store, settings.vault_backend, data_dir)
            self._secrets = secrets = SecretsService(self._sessions, self.bus, store)
            await secrets.open()
        except (KeyStoreError, VaultError) as exc:
            raise BackendError(f"The secrets vault cannot open: {exc}") from exc
        log.info("Secrets vault: master key in %s (%s)", store.location, why)
        self._http = OutboundHttp(settings, self._sessions, self.bus, api_key=api_key, secrets=secrets)
        # Feeds and pages go through the guarded client: the destination policy (allow/deny lists,
        # no metadata addresses, never the app's own API), per-host breaker, retries.
        self._connector_http = self._http.client(timeout=20.0, headers={"User-Agent": USER_AGENT})
        self._connectors = ConnectorRegistry(
            http_client=self._connector_http,
            resolve_secret=vault_resolver(secrets),
            web_rate_per_second=settings.web_rate_per_host,
        )

        self._llm = llm = Router(
            self.bus,
            default_url=settings.ollama_host,
            timeout=settings.ollama_timeout,
            generate_timeout=settings.ollama_generate_timeout,
            queue_size=settings.router_queue_size,
            queue_timeout=settings.router_queue_timeout,
            breaker_threshold=settings.router_breaker_threshold,
            breaker_reset=settings.router_breaker_reset,
            default_max_concurrent=settings.ollama_max_concurrent,
            store=HostStore(
                self._sessions,
                encrypt=lambda value: secrets.fernet.encrypt(value.encode()).decode(),
                decrypt=lambda value: secrets.fernet.decrypt(value.encode()).decode(),
            ),
        )
        await llm.load()
        await llm.probe()
        self.spawn(llm.watch(settings.ollama_probe_interval), name="ollama-watch")
        self._health = HealthService(settings.app_name, self.check_database, llm)
        self._logs = logs = LogService(self._sessions, self.bus)
        self.spawn(logs.run(), name="log-writer")
        self._agents = agents = AgentService(self._sessions, self.bus, llm)
        config_file = settings.config_file
        self._security = security = SecurityService(
            self._sessions,
            self.bus,
            logs,
            level=settings.security_level,
            allowed_domains=settings.allowed_domains or None,
            save_level=lambda level: set_config_value(config_file, "security_level", level),
            agents=agents,
        )
        security.vault = lambda: {"backend": secrets.backend, "location": secrets.store.location}
        agents.on_before_create(security.enforce_schema)
        self._models = models = ModelService(llm, self.bus, logs, self.spawn, settings.default_model)
        self._tasks = TaskService(
            self._sessions,
            self.bus,
            agents,
            models,
            logs,
            TaskExecutor(llm),
            resolve_secrets=secrets.resolve,
            security=security,
            max_concurrent=min(
                settings.max_concurrent_tasks, security.policy.resource_limits.max_concurrent_agents
            ),
            timeout=settings.task_timeout,
            owner=(await asyncio.to_thread(read_or_create, data_dir / INSTANCE_ID_FILE, 12))[0],
        )
        await self._tasks.start()
        wizard = WizardService(llm, agents, schema_check=security.check_schema)
        self._chat = ChatService(self._sessions, self.bus, llm, models, agents, wizard)
        # chromadb opens on the first semantic call (in a thread), never at start-up.
        self._semantic = SemanticService(
            llm,
            # Embedded: chromadb in a child process (its native calls hold the GIL for long
            # stretches and would stall the window's loop); a Chroma server: its HTTP client here.
            VectorStore(url=settings.chroma_url)
            if settings.chroma_url
            else ProcessVectorStore(path=data_dir / "chroma"),
            embedding_model=settings.embedding_model,
            batch_size=settings.embedding_batch_size,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            default_model=models.default_model,
        )
        self._model_performance = performance = PerformanceStore(self._sessions, self.bus)
        await performance.load()
        self.spawn(performance.run(), name="model-performance")
        self._model_registry = ModelRegistry(llm, performance)
        security.running_agents = self._tasks.running_agent_ids
        self._metrics = MetricsService(
            self.bus,
            NvmlGpus(),
            disk_path=data_dir,
            interval=settings.metrics_interval,
            thresholds=Thresholds(
                gpu_temperature_c=settings.alert_gpu_temperature_c,
                memory_percent=settings.alert_memory_percent,
                disk_percent=settings.alert_disk_percent,
            ),
            on_alert=self._on_resource_alert,
        )
        self.spawn(self._metrics.run(), name="metrics-sampler")

        self._content = content = ContentService(
            self._sessions,
            self.bus,
            llm,
            default_model=self._models.default_model,
            index=self._semantic,  # new and changed items become searchable
            max_item_bytes=settings.content_max_item_bytes,
            cache_entries=settings.content_cache_entries,
            batch_concurrency=settings.content_batch_concurrency,
            model=settings.content_model,
        )
        self._semantic.get_item = content.get  # quality scores read the stored item
        self._ingest = IngestService(self._sessions, self.bus, content, self._connectors)
        await self._ingest.start()  # last: schedules may fire from here on

        self.started_at = utcnow()
        self._started_monotonic = time.monotonic()
        log.info("Backend started (data dir %s)", data_dir)

    def _on_resource_alert(self, alert: ResourceAlert) -> None:
        """A threshold crossed: a log line, and a RESOURCE_EXCEEDED incident when it starts."""
        self.logs.record("warning" if alert.active else "info", alert.message, source="system")
        if alert.active:
            self.spawn(self._record_alert(alert), name="resource-alert-incident")

    async def _record_alert(self, alert: ResourceAlert) -> None:
        await self.security.record(
            "RESOURCE_EXCEEDED",
            alert.message,
            details={"resource": alert.key, "value": alert.value, "threshold": alert.threshold},
        )

    @property
    def router(self) -> Router:
        """The router over the Ollama hosts (the same object as ``llm``)."""
        return self.llm

    @property
    def api_key(self) -> str:
        """The key clients send as ``Authorization: Bearer``."""
        assert self._api_key, "Backend not started"
        return self._api_key

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background until stop(); failures are logged, never lost."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Background task %s failed", task.get_name(), exc_info=task.exception())

    async def check_database(self) -> str | None:
        """``None`` when the database answers, else what is wrong."""
        try:
            async with self.sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001  (any driver error means "not ready")
            return f"database error: {exc}"
        return None

    async def stop(self) -> None:
        """Stop tasks and background work, close clients and the database. Safe to call twice."""
        if self.__dict__.get("_ingest") is not None:
            await self._ingest.stop()
        if self.__dict__.get("_tasks") is not None:
            await self._tasks.stop()
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.__dict__.get("_connectors") is not None:
            await self._connectors.close()
        if self.__dict__.get("_connector_http") is not None:
            await self._connector_http.aclose()
            self._connector_http = None
        if self.__dict__.get("_http") is not None:
            await self._http.close()
        if self.__dict__.get("_semantic") is not None:
            await self._semantic.close()
        if self.__dict__.get("_llm") is not None:
            await self._llm.close()
        if self.__dict__.get("_engine") is not None:
            await self._engine.dispose()
        for name, attribute in vars(Backend).items():
            if isinstance(attribute, _Started):
                self.__dict__[f"_{name}"] = None
        self.started_at = None
        log.info("Backend stopped")

"""The model registry: every host's models with their capabilities, and choosing a model for a task.

The registry reads each host through the ``HostDirectory`` (the router, or ``SingleHostDirectory``
while there is one host): installed models (``/api/tags``), loaded ones (``/api/ps``) and what
``/api/show`` says about each (capabilities, context length, quantization). ``/api/show`` answers
are cached per (host, model, digest), so a refresh only asks about models that are new or changed.

``select`` never touches the network: it scores the cached models with the recorded performance
(``PerformanceStore``) and answers in well under a millisecond for dozens of models.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from server.bus import utcnow
from server.services.errors import AgenticError, DependencyDown, FieldError, NotFound
from server.services.host_directory import HostView
from server.services.model_performance import ALL, ModelStats

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from server.services.host_directory import HostDirectory, HostState
    from server.services.llm import InstalledModel, ModelDetails, OllamaGateway
    from server.services.model_performance import PerformanceStore

log = logging.getLogger(__name__)

Priority = Literal["speed", "quality", "balanced"]

MAX_AGE = 30.0  # seconds a listing may serve what the last refresh read
FALLBACKS = 5
# Ollama's capability names -> the registry's ("completion" is what Ollama calls a text model).
CAPABILITY_NAMES = {"completion": "text"}
VISION_CONTENT = {"image", "images", "video", "vision"}
EMBEDDING_TASKS = {"embedding", "embeddings", "embed", "semantic_search", "similarity"}
# How much of the score is speed vs quality for each priority.
SPEED_WEIGHT: dict[str, float] = {"speed": 0.75, "balanced": 0.5, "quality": 0.2}
PREFERRED_MODEL_BONUS = 0.3
PREFERRED_HOST_BONUS = 0.1
LOADED_BONUS = 0.05


def capabilities_of(details: ModelDetails) -> tuple[str, ...]:
    """The model's capabilities in the registry's words (text, vision, embedding, tools, ...)."""
    names = {CAPABILITY_NAMES.get(name, name) for name in details.capabilities}
    return tuple(sorted(names))


_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMBT]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1e-9, "K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}


def parameters_billions(parameter_size: str | None, size_bytes: int) -> float:
    """Parameters in billions from Ollama's "3.2B" / "137M", else guessed from the file size."""
    match = _SIZE.match(parameter_size or "")
    if match:
        try:
            return float(match.group(1)) * _SCALE[match.group(2).upper()]
        except ValueError:
            pass
    return size_bytes / 0.6e9 if size_bytes else 0.0  # ~4.5 bits per weight (Q4)


def size_prior(billions: float) -> float:
    """0..1 from the parameter count on a log scale: bigger is slower and (usually) better."""
    return min(1.0, math.log2(1.0 + billions) / math.log2(71.0))


@dataclass(frozen=True, slots=True)
class ModelHost:
    """Where a model is installed."""

    id: str
    url: str
    state: HostState
    loaded: bool


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """One model as the hosts that have it describe it."""

    name: str
    hosts: tuple[ModelHost, ...]
    capabilities: tuple[str, ...]
    context_length: int | None
    family: str | None
    parameter_size: str | None
    quantization_level: str | None
    size: int
    digest: str
    modified_at: datetime | None
    parameters_b: float
    loaded: bool = False  # on at least one host
    size_prior: float = 0.0  # 0..1: log-scaled parameter count (70B and up: 1), the quality prior


@dataclass(frozen=True, slots=True)
class HostReport:
    """What one host said at the last refresh."""

    id: str
    url: str
    state: HostState
    reason: str
    ok: bool
    models: int
    loaded: int


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What a refresh found and what changed since the previous one."""

    refreshed_at: datetime
    hosts: tuple[HostReport, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    total: int
    shown: int  # /api/show calls made (the rest came from the cache)

    @property
    def failed_hosts(self) -> tuple[HostReport, ...]:
        return tuple(host for host in self.hosts if not host.ok)


@dataclass(frozen=True, slots=True)
class Requirements:
    """Hard requirements of a selection: a model that misses one is not a candidate."""

    capabilities: frozenset[str] = frozenset()
    min_context_length: int | None = None
    max_size_bytes: int | None = None
    max_parameters_b: float | None = None
    min_performance_score: float | None = None


@dataclass(frozen=True, slots=True)
class SelectionRequest:
    """What the caller needs a model for."""

    task_type: str = "general"
    content_type: str = "text"
    priority: Priority = "balanced"
    requirements: Requirements = field(default_factory=Requirements)
    preferred_models: tuple[str, ...] = ()
    preferred_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Score:
    """How one candidate scored, and from what."""

    model: str
    score: float
    speed: float
    quality: float
    reliability: float
    bonus: float
    basis: str  # what the figures came from: "task_type", "overall" or "prior"
    stats: ModelStats | None


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen model, the ordered fallbacks and why."""

    selected: RegisteredModel
    fallbacks: tuple[RegisteredModel, ...]
    reason: str
    scores: tuple[Score, ...]
    required_capabilities: tuple[str, ...]
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class ModelReport:
    """One model: where it is installed (``None``: nowhere reachable) and its recorded figures."""

    name: str
    model: RegisteredModel | None
    overall: ModelStats
    by_task_type: list[ModelStats]


@dataclass(slots=True)
class _HostState:
    """What the registry last read from one host."""

    view: HostView
    ok: bool = False
    error: str | None = None
    models: dict[str, InstalledModel] = field(default_factory=dict)
    loaded: frozenset[str] = frozenset()


class ModelRegistry:
    """The union of every host's models with capabilities; model selection over it."""

    def __init__(
        self, directory: HostDirectory, performance: PerformanceStore, *, max_age: float = MAX_AGE
    ) -> None:
        self._directory = directory
        self._performance = performance
        self._max_age = max_age
        self._hosts: dict[str, _HostState] = {}
        self._shown: dict[tuple[str, str, str], ModelDetails] = {}  # (host, model, digest)
        self._models: dict[str, RegisteredModel] = {}
        self._refreshed_at: datetime | None = None
        self._refreshed_monotonic = -math.inf
        self._refresh_lock = asyncio.Lock()
        self.last_report: RefreshReport | None = None
        self._current_cache: tuple[object, list[RegisteredModel]] | None = None

    # -- reading the hosts --

    async def refresh(self) -> RefreshReport:
        """Read every host again (tags, ps; show for new or changed models) and report what changed.

        A caller arriving while a refresh runs waits for it and shares its report.
        """
        if self._refresh_lock.locked():
            async with self._refresh_lock:
                if self.last_report is not None:
                    return self.last_report
        async with self._refresh_lock:
            return await self._refresh()

    async def ensure_fresh(self) -> None:
        """Refresh when the last one is older than ``max_age`` (or there was none)."""
        if time.monotonic() - self._refreshed_monotonic > self._max_age:
            await self.refresh()

    async def _refresh(self) -> RefreshReport:
        views = self._directory.views()
        states = await asyncio.gather(*(self._read_host(view) for view in views))
        previous = self._models
        self._hosts = {state.view.id: state for state in states}
        shown_before = len(self._shown)
        await self._show_new_models(states)
        shown = len(self._shown) - shown_before
        self._models = self._build()
        # Forget what was shown of models gone from hosts that answered (a host that did not
        # keeps its cache: when it comes back its models need no new /api/show).
        live = {
            (host, name, model.digest)
            for host, state in self._hosts.items()
            for name, model in state.models.items()
        }
        answered = {host for host, state in self._hosts.items() if state.ok}
        self._shown = {k: v for k, v in self._shown.items() if k in live or k[0] not in answered}
        self._refreshed_at = utcnow()
        self._refreshed_monotonic = time.monotonic()
        report = RefreshReport(
            refreshed_at=self._refreshed_at,
            hosts=tuple(self._host_report(state) for state in states),
            added=tuple(sorted(set(self._models) - set(previous))),
            removed=tuple(sorted(set(previous) - set(self._models))),
            changed=tuple(
                sorted(
                    name
                    for name, model in self._models.items()
                    if name in previous and _changed(previous[name], model)
                )
            ),
            total=len(self._models),
            shown=shown,
        )
        self.last_report = report
        for host in report.failed_hosts:
            log.warning("Model registry: host %s (%s) not read: %s", host.id, host.url, host.reason)
        return report

    async def _read_host(self, view: HostView) -> _HostState:
        state = _HostState(view=view)
        try:
            gateway = self._directory.gateway(view.id)
            installed, running = await asyncio.gather(gateway.list_models(), gateway.running())
        except KeyError:
            state.error = f"unknown host {view.id}"
            return state
        except AgenticError as exc:  # down, refused, ...: said in words by the gateway
            state.error = str(exc)
            return state
        state.ok = True
        state.models = {model.name: model for model in installed}
        state.loaded = frozenset(model.name for model in running)
        return state

    async def _show_new_models(self, states: Sequence[_HostState]) -> None:
        wanted = [
            (state.view.id, name, model.digest)
            for state in states
            for name, model in state.models.items()
            if (state.view.id, name, model.digest) not in self._shown
        ]
        if not wanted:
            return
        results = await asyncio.gather(
            *(self._directory.gateway(host).show(name) for host, name, _ in wanted), return_exceptions=True
        )
        for key, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, DependencyDown | NotFound):
                    raise result
                log.warning("Model registry: /api/show of %s on %s failed: %s", key[1], key[0], result)
                continue
            self._shown[key] = result

    def _build(self) -> dict[str, RegisteredModel]:
        """The union over the hosts that answered; a host that did not contributes nothing."""
        where: dict[str, list[tuple[_HostState, InstalledModel]]] = {}
        for state in self._hosts.values():
            if not state.ok:
                continue
            for name, model in state.models.items():
                where.setdefault(name, []).append((state, model))
        models: dict[str, RegisteredModel] = {}
        for name, places in sorted(where.items()):
            details = next(
                (
                    self._shown[(state.view.id, name, model.digest)]
                    for state, model in places
                    if (state.view.id, name, model.digest) in self._shown
                ),
                None,
            )
            installed = places[0][1]
            billions = parameters_billions(installed.parameter_size, installed.size)
            models[name] = RegisteredModel(
                name=name,
                hosts=tuple(
                    ModelHost(
                        id=state.view.id,
                        url=state.view.url,
                        state=state.view.state,
                        loaded=name in state.loaded,
                    )
                    for state, _ in places
                ),
                capabilities=capabilities_of(details) if details else (),
                context_length=details.context_length if details else None,
                family=(details.family if details else None) or installed.family,
                parameter_size=(details.parameter_size if details else None) or installed.parameter_size,
                quantization_level=(details.quantization_level if details else None)
                or installed.quantization_level,
                size=installed.size,
                digest=installed.digest,
                modified_at=installed.modified_at,
                parameters_b=billions,
                loaded=any(name in state.loaded for state, _ in places),
                size_prior=size_prior(billions),
            )
        return models

    @staticmethod
    def _host_report(state: _HostState) -> HostReport:
        view = state.view
        if state.ok:
            return HostReport(
                id=view.id,
                url=view.url,
                state=view.state,
                reason=view.reason,
                ok=True,
                models=len(state.models),
                loaded=len(state.loaded),
            )
        return HostReport(
            id=view.id,
            url=view.url,
            state="down",
            reason=state.error or view.reason,
            ok=False,
            models=0,
            loaded=0,
        )

    # -- listing --

    def _current(self) -> tuple[list[RegisteredModel], dict[str, HostState]]:
        """The cached models, less the hosts the directory now says are down (no network).

        Recomputed only when a refresh or a host's state changed it.
        """
        states = {view.id: view.state for view in self._directory.views()}
        key = (id(self._models), tuple(states.items()))
        if self._current_cache is not None and self._current_cache[0] == key:
            return self._current_cache[1], states
        result = []
        for model in self._models.values():
            hosts = tuple(
                host if states.get(host.id, host.state) == host.state else _with_state(host, states[host.id])
                for host in model.hosts
                if host.id in states and states[host.id] != "down"
            )
            if hosts:
                result.append(model if hosts == model.hosts else _with_hosts(model, hosts))
        self._current_cache = (key, result)
        return result, states

    async def available(self) -> tuple[list[RegisteredModel], list[HostReport], datetime | None]:
        """The union of the reachable hosts' models (refreshed when older than ``max_age``)."""
        await self.ensure_fresh()
        models, _ = self._current()
        views = {view.id: view for view in self._directory.views()}
        hosts = []
        for host_id, state in self._hosts.items():
            report = self._host_report(state)
            view = views.get(host_id)
            if report.ok and view is not None and view.state == "down":
                # Down since the refresh: the directory knows better than the cache.
                report = HostReport(
                    id=report.id,
                    url=report.url,
                    state="down",
                    reason=view.reason,
                    ok=False,
                    models=0,
                    loaded=0,
                )
            hosts.append(report)
        return models, hosts, self._refreshed_at

    async def model(self, name: str) -> RegisteredModel | None:
        """One model of the union, or ``None`` when no reachable host has it."""
        await self.ensure_fresh()
        return next((model for model in self._current()[0] if model.name == name), None)

    # -- performance --

    def stats(self, name: str) -> ModelStats:
        """One model's recorded figures over every task type (zero counts when never called)."""
        return self._performance.stats(name)

    def performance(self, *, task_type: str | None = None, model: str | None = None) -> list[ModelStats]:
        """Recorded figures per (model, task type), most requested first."""
        return self._performance.all_stats(task_type=task_type, model=model)

    async def model_stats(self, name: str) -> ModelReport:
        """Where a model is and its figures; ``NotFound`` when it is neither installed nor ever called."""
        model = await self.model(name)
        if model is None and name not in self._performance.models():
            raise NotFound(f"Model '{name}' is not installed on any reachable host and has no recorded calls")
        return ModelReport(
            name=name,
            model=model,
            overall=self._performance.stats(name),
            by_task_type=self._performance.by_task_type(name),
        )

    # -- selection --

    async def select(self, request: SelectionRequest) -> Selection:
        """The best model for ``request``, with ordered fallbacks and the reason, from cached state.

        Raises ``FieldError`` (422) naming the requirement no model meets, ``DependencyDown`` (503)
        when no host answered at all.
        """
        if self._refreshed_at is None:
            await self.refresh()  # only the very first selection reads the hosts
        started = time.perf_counter()
        models, _ = self._current()
        if not models:
            _, hosts, _ = await self.available()
            if all(not host.ok for host in hosts):
                reasons = "; ".join(f"{host.id}: {host.reason}" for host in hosts) or "no hosts configured"
                raise DependencyDown(f"No Ollama host is reachable, so no model can be selected ({reasons})")
            raise FieldError(("task_type",), "No model is installed on any reachable host: pull one first")
        needed = set(request.requirements.capabilities)
        if request.content_type.lower() in VISION_CONTENT:
            needed.add("vision")
        if request.task_type.lower() in EMBEDDING_TASKS:
            needed.add("embedding")
        if "embedding" not in needed:
            needed.add("text")  # a generation task needs a model that generates
        snapshot = self._performance.snapshot()
        candidates = self._filter(models, needed, request.requirements, snapshot)
        scores = sorted(
            (self._score(model, request, snapshot) for model in candidates),
            key=lambda score: (-score.score, score.model),
        )
        by_name = {model.name: model for model in candidates}
        best = scores[0]
        fallbacks = tuple(by_name[score.model] for score in scores[1 : 1 + FALLBACKS])
        return Selection(
            selected=by_name[best.model],
            fallbacks=fallbacks,
            reason=self._reason(by_name[best.model], best, request, needed, len(candidates)),
            scores=tuple(scores),
            required_capabilities=tuple(sorted(needed)),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _filter(
        self,
        models: list[RegisteredModel],
        needed: set[str],
        requirements: Requirements,
        snapshot: dict[tuple[str, str], ModelStats],
    ) -> list[RegisteredModel]:
        checks: list[tuple[tuple[str, ...], str, object]] = []
        for capability in sorted(needed):
            checks.append(
                (
                    ("requirements", "capabilities"),
                    f"the capability '{capability}'",
                    lambda m, c=capability: c in m.capabilities,
                )
            )
        if requirements.min_context_length is not None:
            limit = requirements.min_context_length
            checks.append(
                (
                    ("requirements", "min_context_length"),
                    f"a context length of at least {limit} tokens",
                    lambda m: m.context_length is not None and m.context_length >= limit,
                )
            )
        if requirements.max_size_bytes is not None:
            most = requirements.max_size_bytes
            checks.append(
                (
                    ("requirements", "max_size_bytes"),
                    f"a size of at most {most} bytes",
                    lambda m: m.size <= most,
                )
            )
        if requirements.max_parameters_b is not None:
            most_b = requirements.max_parameters_b
            checks.append(
                (
                    ("requirements", "max_parameters_b"),
                    f"at most {most_b:g}B parameters",
                    lambda m: m.parameters_b <= most_b,
                )
            )
        if requirements.min_performance_score is not None:
            floor = requirements.min_performance_score

            def good_enough(model: RegisteredModel) -> bool:
                stats = snapshot.get((model.name, ALL))
                score = stats.performance_score if stats else None
                return score is not None and score >= floor

            checks.append(
                (
                    ("requirements", "min_performance_score"),
                    f"a recorded performance score of at least {floor:g}",
                    good_enough,
                )
            )
        candidates = models
        for loc, words, check in checks:
            passing = [model for model in candidates if check(model)]  # type: ignore[operator]
            if not passing:
                alone = [model for model in models if check(model)]  # type: ignore[operator]
                if alone:
                    message = (
                        f"No model meets {words} together with the other requirements "
                        f"(models with it alone: {', '.join(m.name for m in alone[:10])})"
                    )
                else:
                    message = f"No installed model meets {words} (checked {len(models)} models)"
                raise FieldError(loc, message)
            candidates = passing
        return candidates

    def _score(
        self, model: RegisteredModel, request: SelectionRequest, snapshot: dict[tuple[str, str], ModelStats]
    ) -> Score:
        stats = snapshot.get((model.name, request.task_type))
        basis = "task_type"
        if stats is None or stats.requests == 0:
            stats = snapshot.get((model.name, ALL))
            basis = "overall"
        if stats is None or stats.requests == 0:
            stats, basis = None, "prior"
        # Priors from the model's size: bigger is slower and (usually) better.
        quality = model.size_prior
        speed = 1.0 - quality
        reliability = 1.0
        if stats is not None:
            reliability = (stats.successes + 1) / (stats.requests + 1)
            tps, latency = stats.tokens_per_second, stats.mean_latency_s
            if tps is not None and latency is not None:
                measured = (tps / (tps + 30.0) + 1.0 / (1.0 + latency / 5.0)) / 2
                speed = 0.3 * speed + 0.7 * measured
            elif tps is not None:
                speed = 0.3 * speed + 0.7 * tps / (tps + 30.0)
            elif latency is not None:
                speed = 0.3 * speed + 0.7 / (1.0 + latency / 5.0)
        weight = SPEED_WEIGHT[request.priority]
        bonus = LOADED_BONUS if model.loaded else 0.0
        if request.preferred_models and model.name in request.preferred_models:
            bonus += PREFERRED_MODEL_BONUS
        if request.preferred_hosts and any(host.id in request.preferred_hosts for host in model.hosts):
            bonus += PREFERRED_HOST_BONUS
        return Score(
            model=model.name,
            score=(weight * speed + (1.0 - weight) * quality) * reliability + bonus,
            speed=speed,
            quality=quality,
            reliability=reliability,
            bonus=bonus,
            basis=basis,
            stats=stats,
        )

    @staticmethod
    def _reason(
        model: RegisteredModel, score: Score, request: SelectionRequest, needed: set[str], candidates: int
    ) -> str:
        parts = [
            f"{model.name} scored highest of {candidates} model{'s' if candidates != 1 else ''} with "
            f"{', '.join(sorted(needed))} for a {request.priority} {request.task_type} task"
        ]
        if score.basis == "prior":
            parts.append(f"no calls recorded yet, so judged by size ({model.parameter_size or 'unknown'})")
        elif score.stats is not None:
            what = f"'{request.task_type}' calls" if score.basis == "task_type" else "calls of any task type"
            rate = score.stats.success_rate or 0.0
            parts.append(f"from {score.stats.requests} recorded {what} ({rate:.0%} succeeded)")
        if model.name in request.preferred_models:
            parts.append("a preferred model")
        if model.loaded:
            parts.append("already loaded on " + ", ".join(h.id for h in model.hosts if h.loaded))
        return "; ".join(parts)


def _with_state(host: ModelHost, state: HostState) -> ModelHost:
    return ModelHost(id=host.id, url=host.url, state=state, loaded=host.loaded)


def _with_hosts(model: RegisteredModel, hosts: tuple[ModelHost, ...]) -> RegisteredModel:
    return RegisteredModel(
        name=model.name,
        hosts=hosts,
        capabilities=model.capabilities,
        context_length=model.context_length,
        family=model.family,
        parameter_size=model.parameter_size,
        quantization_level=model.quantization_level,
        size=model.size,
        digest=model.digest,
        modified_at=model.modified_at,
        parameters_b=model.parameters_b,
        loaded=any(host.loaded for host in hosts),
        size_prior=model.size_prior,
    )


def _changed(before: RegisteredModel, after: RegisteredModel) -> bool:
    return (before.digest, before.capabilities, tuple(h.id for h in before.hosts)) != (
        after.digest,
        after.capabilities,
        tuple(h.id for h in after.hosts),
    )


class SingleHostDirectory:
    """A ``HostDirectory`` over one gateway: the app's one Ollama host until the router exists.

    ``views()`` answers from the gateway's last status and from the models ``probe()`` last read.
    """

    def __init__(self, gateway: OllamaGateway, host_id: str = "default") -> None:
        self._gateway = gateway
        self.host_id = host_id
        self._models: tuple[str, ...] = ()
        self._loaded: tuple[str, ...] = ()

    async def probe(self) -> HostView:
        """Read the host's installed and loaded models now."""
        try:
            installed, running = await asyncio.gather(self._gateway.list_models(), self._gateway.running())
        except DependencyDown:
            self._models, self._loaded = (), ()
        else:
            self._models = tuple(model.name for model in installed)
            self._loaded = tuple(model.name for model in running)
        return self.views()[0]

    def views(self) -> list[HostView]:
        status = self._gateway.status
        if status.checked_at is None:
            state: HostState = "degraded"
            reason = "not checked yet"
        else:
            state = "healthy" if status.reachable else "down"
            reason = status.detail
        return [
            HostView(
                id=self.host_id,
                url=self._gateway.host,
                state=state,
                reason=reason,
                models=self._models if state != "down" else (),
                loaded=self._loaded if state != "down" else (),
            )
        ]

    def gateway(self, host_id: str) -> OllamaGateway:
        if host_id != self.host_id:
            raise KeyError(host_id)
        return self._gateway

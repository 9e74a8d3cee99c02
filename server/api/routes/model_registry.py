"""The model registry: every host's models with capabilities, selection, recorded performance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.model_registry import (
    AvailableModelOut,
    AvailableModelsOut,
    HostReportOut,
    ModelHostOut,
    ModelInfoOut,
    ModelStatsOut,
    PerformanceListOut,
    PerformanceOut,
    PerformanceQuery,
    RefreshOut,
    ScoreOut,
    SelectIn,
    SelectOut,
)
from server.services.model_registry import Requirements, SelectionRequest

if TYPE_CHECKING:
    from aiohttp import web

    from server.services.model_performance import ModelStats
    from server.services.model_registry import HostReport, RegisteredModel

routes = RouteRegistry(tags=("models",))

# Model names hold ':' and may hold '/' (library/x:latest): the segment takes the rest of the path.
MODEL = "{model_name:.+}"
GB = 1_000_000_000


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def performance_out(stats: ModelStats) -> PerformanceOut:
    return PerformanceOut(
        model_name=stats.model,
        task_type=stats.task_type,
        total_requests=stats.requests,
        successful_requests=stats.successes,
        failed_requests=stats.failures,
        success_rate=None if stats.success_rate is None else round(stats.success_rate, 4),
        average_response_time_ms=_ms(stats.mean_latency_s),
        p50_response_time_ms=_ms(stats.p50_latency_s),
        p95_response_time_ms=_ms(stats.p95_latency_s),
        average_first_token_ms=_ms(stats.mean_first_token_s),
        average_tokens_per_second=(
            None if stats.tokens_per_second is None else round(stats.tokens_per_second, 2)
        ),
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        performance_score=stats.performance_score,
        last_error=stats.last_error,
        last_used=stats.last_called_at,
        last_updated=stats.updated_at,
    )


def _hosts(model: RegisteredModel) -> list[ModelHostOut]:
    return [ModelHostOut(id=h.id, url=h.url, state=h.state, loaded=h.loaded) for h in model.hosts]


def _report(host: HostReport) -> HostReportOut:
    return HostReportOut(
        id=host.id,
        url=host.url,
        state=host.state,
        reason=host.reason,
        ok=host.ok,
        models=host.models,
        loaded=host.loaded,
    )


@routes.get(
    "/api/v1/models/available",
    summary="Every host's models with capabilities",
    auth=True,
    response=AvailableModelsOut,
)
async def available_models(request: web.Request) -> AvailableModelsOut:
    """The union of the reachable hosts' models: where each is installed and loaded, its
    capabilities from ``/api/show`` and its recorded performance. A host that does not answer is
    listed in ``hosts`` with the reason, and its models are left out."""
    registry = request.app[BACKEND].model_registry
    models, hosts, refreshed_at = await registry.available()
    return AvailableModelsOut(
        models=[
            AvailableModelOut(
                name=m.name,
                hosts=_hosts(m),
                loaded=m.loaded,
                capabilities=list(m.capabilities),
                context_length=m.context_length,
                family=m.family,
                parameter_size=m.parameter_size,
                quantization_level=m.quantization_level,
                size=m.size,
                digest=m.digest,
                modified_at=m.modified_at,
                performance=performance_out(registry.stats(m.name)),
            )
            for m in models
        ],
        hosts=[_report(host) for host in hosts],
        total=len(models),
        refreshed_at=refreshed_at,
    )


@routes.post(
    "/api/v1/models/refresh", summary="Read every host's models again", auth=True, response=RefreshOut
)
async def refresh_models(request: web.Request) -> RefreshOut:
    """Re-reads every host (installed, loaded; ``/api/show`` only for new or changed models) and
    says what changed and which hosts did not answer."""
    report = await request.app[BACKEND].model_registry.refresh()
    failed = report.failed_hosts
    status = "failed" if failed and len(failed) == len(report.hosts) else "partial" if failed else "refreshed"
    return RefreshOut(
        status=status,
        refreshed_at=report.refreshed_at,
        total=report.total,
        added=list(report.added),
        removed=list(report.removed),
        changed=list(report.changed),
        failed_hosts=[_report(host) for host in failed],
        hosts=[_report(host) for host in report.hosts],
        show_calls=report.shown,
    )


@routes.post(
    "/api/v1/models/select",
    summary="Choose a model for a task",
    auth=True,
    body=SelectIn,
    response=SelectOut,
    errors=(422, 503),
)
async def select_model(request: web.Request, body: SelectIn) -> SelectOut:
    """Scores the installed models from their capabilities and recorded performance (for this
    task type when recorded, else overall, else by size) and answers the best with ordered
    fallbacks. A requirement no model meets is a 422 naming it."""
    wanted = body.requirements
    capabilities = set(wanted.capabilities)
    for flag, capability in (
        (wanted.vision_capable, "vision"),
        (wanted.tools_capable, "tools"),
        (wanted.embedding_capable, "embedding"),
    ):
        if flag:
            capabilities.add(capability)
    gigabytes = int(wanted.max_size_gb * GB) if wanted.max_size_gb is not None else None
    sizes = [size for size in (wanted.max_size_bytes, gigabytes) if size is not None]
    contexts = [n for n in (wanted.min_context_length, body.max_tokens) if n]
    registry = request.app[BACKEND].model_registry
    selection = await registry.select(
        SelectionRequest(
            task_type=body.task_type,
            content_type=body.content_type,
            priority=body.priority,
            requirements=Requirements(
                capabilities=frozenset(capabilities),
                min_context_length=max(contexts) if contexts else None,
                max_size_bytes=min(sizes) if sizes else None,
                max_parameters_b=wanted.max_parameters_b,
                min_performance_score=wanted.min_performance_score,
            ),
            preferred_models=tuple(body.preferred_models),
            preferred_hosts=tuple(body.preferred_hosts),
        )
    )
    model = selection.selected
    best = selection.scores[0]
    return SelectOut(
        selected_model=model.name,
        model_info=ModelInfoOut(
            name=model.name,
            capabilities=list(model.capabilities),
            hosts=_hosts(model),
            context_length=model.context_length,
            parameter_size=model.parameter_size,
            quantization_level=model.quantization_level,
            size=model.size,
            performance_score=best.stats.performance_score if best.stats else None,
            average_response_time_ms=_ms(best.stats.mean_latency_s) if best.stats else None,
        ),
        fallback_models=[fallback.name for fallback in selection.fallbacks],
        selection_reason=selection.reason,
        required_capabilities=list(selection.required_capabilities),
        scores=[
            ScoreOut(
                model=s.model,
                score=round(s.score, 4),
                speed=round(s.speed, 4),
                quality=round(s.quality, 4),
                reliability=round(s.reliability, 4),
                bonus=round(s.bonus, 4),
                basis=s.basis,  # type: ignore[arg-type]
            )
            for s in selection.scores[: 1 + len(selection.fallbacks)]
        ],
        candidates=len(selection.scores),
        selection_time_ms=round(selection.elapsed_ms, 3),
    )


@routes.get(
    "/api/v1/models/performance",
    summary="Recorded performance per model and task type",
    auth=True,
    query=PerformanceQuery,
    response=PerformanceListOut,
)
async def model_performance(request: web.Request, query: PerformanceQuery) -> PerformanceListOut:
    """Requests, success rate, latency (mean, p50, p95), first-token time and tokens/s from the
    outcomes of real calls, per (model, task type), most requested first."""
    found = request.app[BACKEND].model_registry.performance(task_type=query.task_type, model=query.model)
    return PerformanceListOut(metrics=[performance_out(s) for s in found[: query.limit]], total=len(found))


@routes.get(
    f"/api/v1/models/{MODEL}/stats",
    summary="One model's statistics",
    auth=True,
    response=ModelStatsOut,
    errors=(404,),
)
async def model_stats(request: web.Request) -> ModelStatsOut:
    """Where the model is installed, and its recorded figures overall and per task type (zero
    counts for a model never called). 404 for a model neither installed nor ever called."""
    details = await request.app[BACKEND].model_registry.model_stats(request.match_info["model_name"])
    return ModelStatsOut(
        model_name=details.name,
        installed=details.model is not None,
        hosts=_hosts(details.model) if details.model is not None else [],
        overall=performance_out(details.overall),
        by_task_type=[performance_out(s) for s in details.by_task_type],
    )

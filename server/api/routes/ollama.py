"""Ollama models: list, names, health, details, pull (with progress) and delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.ollama import (
    ModelDeletedOut,
    ModelDetailsOut,
    ModelNamesOut,
    ModelOut,
    ModelShowOut,
    ModelsOut,
    OllamaHealthOut,
    PullOut,
    PullStateOut,
)
from server.services.errors import DependencyDown

if TYPE_CHECKING:
    from aiohttp import web

    from server.backend import Backend
    from server.services.llm import OllamaStatus

routes = RouteRegistry(tags=("ollama",))

# Model names may hold slashes (hf.co/org/model:tag), so the last path segment takes the rest.
MODEL = "{model_name:.+}"


@routes.get(
    "/api/v1/ollama/models", summary="Installed models with metadata", response=ModelsOut, errors=(503,)
)
async def list_models(request: web.Request) -> ModelsOut:
    models = await request.app[BACKEND].models.installed()
    return ModelsOut(
        models=[
            ModelOut(
                name=m.name,
                size=m.size,
                modified_at=m.modified_at,
                digest=m.digest,
                details=ModelDetailsOut(
                    family=m.family,
                    parameter_size=m.parameter_size,
                    quantization_level=m.quantization_level,
                    format=m.format,
                ),
            )
            for m in models
        ]
    )


@routes.get(
    "/api/v1/ollama/models/names", summary="Installed model names", response=ModelNamesOut, errors=(503,)
)
async def list_model_names(request: web.Request) -> ModelNamesOut:
    return ModelNamesOut(models=await request.app[BACKEND].models.names())


async def reachability(backend: Backend, status: OllamaStatus) -> tuple[OllamaStatus, str | None]:
    """Ollama's status and default model; a failure while asking for the model updates the status."""
    default = None
    if status.reachable:
        try:
            default = await backend.models.default_model()
        except DependencyDown:
            status = backend.llm.status
    return status, default


@routes.get("/api/v1/ollama/health", summary="Is Ollama answering", response=OllamaHealthOut)
async def ollama_health(request: web.Request) -> OllamaHealthOut:
    """Always 200: ``status`` says healthy or unhealthy and ``detail`` says why."""
    backend = request.app[BACKEND]
    status, default = await reachability(backend, await backend.llm.probe())
    return OllamaHealthOut(
        status="healthy" if status.reachable else "unhealthy",
        models_available=status.models_available if status.reachable else 0,
        default_model=default,
        host=status.host,
        detail=status.detail,
    )


@routes.get(
    f"/api/v1/ollama/show/{MODEL}", summary="Details of one model", response=ModelShowOut, errors=(404, 503)
)
async def show_model(request: web.Request) -> ModelShowOut:
    """Capabilities, context length, quantization and parameters, from Ollama's ``/api/show``."""
    details = await request.app[BACKEND].models.show(request.match_info["model_name"])
    return ModelShowOut(
        name=details.name,
        capabilities=list(details.capabilities),
        context_length=details.context_length,
        family=details.family,
        parameter_size=details.parameter_size,
        quantization_level=details.quantization_level,
        parameters=details.parameters,
        template=details.template,
        modified_at=details.modified_at,
    )


@routes.post(
    f"/api/v1/ollama/models/pull/{MODEL}",
    summary="Pull (download) a model",
    auth=True,
    response=PullOut,
    status=202,
    errors=(409,),
)
async def pull_model(request: web.Request) -> PullOut:
    """Starts the download and answers at once. Progress goes to ``/ws/logs`` (source ``ollama``)
    and ``GET /api/v1/ollama/pulls``; a failure (e.g. an unknown name) is logged there too."""
    name = request.match_info["model_name"]
    request.app[BACKEND].models.start_pull(name)
    return PullOut(
        status="pulling",
        message=f"Pulling {name}: follow it in the log or at /api/v1/ollama/pulls",
        model_name=name,
    )


@routes.get("/api/v1/ollama/pulls", summary="Downloads in progress", response=list[PullStateOut])
async def list_pulls(request: web.Request) -> list[PullStateOut]:
    return [
        PullStateOut(
            model_name=p.model,
            status=p.status,
            completed=p.completed,
            total=p.total,
            percent=p.percent,
            started_at=p.started_at,
        )
        for p in request.app[BACKEND].models.pulls()
    ]


@routes.delete(
    f"/api/v1/ollama/pulls/{MODEL}", summary="Cancel a download", auth=True, status=204, errors=(404,)
)
async def cancel_pull(request: web.Request) -> None:
    request.app[BACKEND].models.cancel_pull(request.match_info["model_name"])


@routes.delete(
    f"/api/v1/ollama/models/{MODEL}",
    summary="Delete a model",
    auth=True,
    response=ModelDeletedOut,
    errors=(404, 503),
)
async def delete_model(request: web.Request) -> ModelDeletedOut:
    name = request.match_info["model_name"]
    await request.app[BACKEND].models.delete(name)
    return ModelDeletedOut(status="deleted", model_name=name)

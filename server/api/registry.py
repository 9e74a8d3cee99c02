"""Routes declared once with their pydantic models: validation, serialization and OpenAPI."""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from server.api.auth import authenticate
from server.api.errors import RequestValidationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Endpoint = Callable[..., Awaitable[Any]]

PATH_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
JSON = "application/json"


@dataclass(frozen=True, slots=True, eq=False)
class RouteSpec:
    """One operation of the API, as declared next to its handler."""

    method: str
    path: str
    endpoint: Endpoint
    summary: str
    tags: tuple[str, ...]
    auth: bool
    body: type[BaseModel] | None
    form: bool
    query: type[BaseModel] | None
    response: Any
    status: int
    errors: tuple[int, ...]
    media_type: str
    # Other media types the same operation may answer with (e.g. ``text/event-stream`` when the
    # body asks for a stream): media type -> OpenAPI media type object.
    alternatives: dict[str, Any] | None = None

    @property
    def openapi_path(self) -> str:
        """The path with any ``{name:regex}`` reduced to ``{name}``."""
        return PATH_PARAM.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        """Names of the ``{placeholders}`` in the path."""
        return PATH_PARAM.findall(self.path)

    @property
    def description(self) -> str:
        """The handler's docstring."""
        return inspect.cleandoc(self.endpoint.__doc__ or "")

    @property
    def operation_id(self) -> str:
        """A stable, unique name for the operation."""
        return self.endpoint.__name__


def _list_fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        for arg in (annotation, *typing.get_args(annotation)):
            if typing.get_origin(arg) in (list, set, tuple):
                names.add(field.alias or name)
    return names


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    """Validate the query string against ``model`` (repeated keys fill list fields)."""
    multi = _list_fields(model)
    data: dict[str, Any] = {
        key: request.query.getall(key) if key in multi else request.query[key] for key in request.query
    }
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError("query", exc) from None


async def parse_body(spec: RouteSpec, request: web.Request) -> BaseModel:
    """Validate the JSON (or form) body against the route's model."""
    assert spec.body is not None
    try:
        if spec.form:
            form = await request.post()
            return spec.body.model_validate({key: str(value) for key, value in form.items()})
        return spec.body.model_validate_json(await request.read() or b"null")
    except ValidationError as exc:
        raise RequestValidationError("body", exc) from None


class RouteRegistry:
    """Collects the routes of one domain; ``install`` adds them to an application."""

    def __init__(self, *, tags: tuple[str, ...] = ()) -> None:
        self.tags = tags
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        auth: bool = False,
        body: type[BaseModel] | None = None,
        form: bool = False,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        media_type: str = JSON,
        tags: tuple[str, ...] | None = None,
        alternatives: dict[str, Any] | None = None,
    ) -> Callable[[Endpoint], Endpoint]:
        """Declare an operation; the decorated handler gets ``body``/``query`` already validated."""

        def decorate(endpoint: Endpoint) -> Endpoint:
            self.specs.append(
                RouteSpec(
                    method=method.upper(),
                    path=path,
                    endpoint=endpoint,
                    summary=summary,
                    tags=tags if tags is not None else self.tags,
                    auth=auth,
                    body=body,
                    form=form,
                    query=query,
                    response=response,
                    status=status,
                    errors=errors,
                    media_type=media_type,
                    alternatives=alternatives,
                )
            )
            return endpoint

        return decorate

    def get(self, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("DELETE", path, **kwargs)

    def install(self, app: web.Application) -> None:
        """Register every declared route on ``app``."""
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, make_handler(spec))


def _adapter_for(response: Any) -> TypeAdapter[Any] | None:
    """A TypeAdapter for responses that are not a plain model (``list[Model]``, ...)."""
    if response is None or (isinstance(response, type) and issubclass(response, BaseModel)):
        return None
    return TypeAdapter(response)


def render(result: Any, status: int, adapter: TypeAdapter[Any] | None) -> web.StreamResponse:
    """Serialize what an endpoint returned (a response passes through untouched)."""
    if isinstance(result, web.StreamResponse):
        return result
    if result is None and status == 204:
        return web.Response(status=204)
    if isinstance(result, BaseModel):
        body = result.model_dump_json().encode()
    elif adapter is not None:
        body = adapter.dump_json(result)
    else:
        body = orjson.dumps(result, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return web.Response(body=body, status=status, content_type=JSON)


def make_handler(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for ``spec``: parse, call the endpoint, serialize.

    Routes declared with ``auth=True`` authenticate first (401 before the body is even read).
    """
    adapter = _adapter_for(spec.response)

    async def handler(request: web.Request) -> web.StreamResponse:
        if spec.auth:
            await authenticate(request)
        kwargs: dict[str, Any] = {}
        if spec.query is not None:
            kwargs["query"] = parse_query(spec.query, request)
        if spec.body is not None:
            kwargs["body"] = await parse_body(spec, request)
        return render(await spec.endpoint(request, **kwargs), spec.status, adapter)

    return handler

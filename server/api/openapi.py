"""OpenAPI 3.1 generated from the same route specs and pydantic models that validate requests."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.api.schemas.common import ErrorResponse, ValidationErrorResponse
from server.api.schemas.openai_compat import OpenAIErrorResponse

if TYPE_CHECKING:
    from collections.abc import Iterable

    from server.api.registry import RouteSpec

REF_TEMPLATE = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]

ERROR_TEXT = {
    400: "The request cannot be carried out",
    401: "Missing, invalid, expired or revoked credentials",
    403: "Authenticated, but not allowed",
    404: "Not found",
    409: "Conflicts with what exists",
    413: "Request body over 1 MB",
    422: "The request does not match its schema",
    429: "Too many requests (see Retry-After)",
    503: "A dependency (Ollama, the database) is not answering",
}

SECURITY_SCHEMES = {
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key (AGENTIC_API_KEY, or the generated one shown in Settings) "
        "or a login token from POST /api/v1/auth/login.",
    },
    "OAuth2Password": {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}},
    },
}


def _model_uses(spec: RouteSpec) -> Iterable[tuple[type[BaseModel], Mode]]:
    if spec.body is not None:
        yield spec.body, "validation"
    if spec.query is not None:
        yield spec.query, "validation"
    yield from ((model, "serialization") for model in _response_models(spec.response))


def _response_models(response: Any) -> list[type[BaseModel]]:
    if isinstance(response, type) and issubclass(response, BaseModel):
        return [response]
    return [arg for arg in typing.get_args(response) if isinstance(arg, type) and issubclass(arg, BaseModel)]


def _response_schema(response: Any, refs: dict[tuple[type[BaseModel], Mode], Any]) -> dict[str, Any]:
    if isinstance(response, type) and issubclass(response, BaseModel):
        return dict(refs[(response, "serialization")])
    origin = typing.get_origin(response)
    if origin is list:
        (item,) = typing.get_args(response)
        return {"type": "array", "items": _response_schema(item, refs)}
    if origin is dict:
        _, value = typing.get_args(response)
        return {"type": "object", "additionalProperties": _response_schema(value, refs)}
    return {}


def _query_parameters(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop["description"]
        param["schema"] = prop
        params.append(param)
    return params


def _json_error(
    model: type[BaseModel], text: str, refs: dict[tuple[type[BaseModel], Mode], Any]
) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": refs[(model, "serialization")]}}}


def build_openapi(
    specs: Iterable[RouteSpec], *, title: str, version: str, description: str
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for ``specs``."""
    specs = list(specs)
    uses = {
        (ErrorResponse, "serialization"),
        (ValidationErrorResponse, "serialization"),
        (OpenAIErrorResponse, "serialization"),
    }
    for spec in specs:
        uses.update(_model_uses(spec))
    refs, top = models_json_schema(
        sorted(uses, key=lambda use: (use[0].__name__, use[1])), ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "operationId": spec.operation_id,
            "summary": spec.summary,
            "tags": list(spec.tags),
        }
        if spec.description:
            operation["description"] = spec.description
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in spec.path_params
        ]
        if spec.query is not None:
            parameters += _query_parameters(spec.query, schemas)
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            media = "application/x-www-form-urlencoded" if spec.form else "application/json"
            operation["requestBody"] = {
                "required": True,
                "content": {media: {"schema": refs[(spec.body, "validation")]}},
            }

        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "Successful response"}
        if spec.status != 204:
            schema = _response_schema(spec.response, refs) if spec.response is not None else {}
            if spec.media_type != "application/json":
                schema = {"type": "string"}
            ok["content"] = {spec.media_type: {"schema": schema}, **(spec.alternatives or {})}
        responses[str(spec.status)] = ok
        error_codes = set(spec.errors)
        if spec.auth:
            error_codes.add(401)
            operation["security"] = [{"BearerAuth": []}, {"OAuth2Password": []}]
        if spec.body is not None:
            error_codes.add(413)
        # The OpenAI-compatible routes answer errors in OpenAI's shape, 422s included.
        openai = spec.path.startswith("/v1/")
        for code in sorted(error_codes):
            model = OpenAIErrorResponse if openai else ErrorResponse
            responses[str(code)] = _json_error(model, ERROR_TEXT.get(code, "Error"), refs)
        if spec.body is not None or spec.query is not None:
            model = OpenAIErrorResponse if openai else ValidationErrorResponse
            responses["422"] = _json_error(model, ERROR_TEXT[422], refs)
        operation["responses"] = responses
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }

"""Every error leaves the API as ``{"detail": ..., "status_code": N}``; the core middleware uses this."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from server.api.keys import REQUEST_ID
from server.services.errors import (
    AgenticError,
    Conflict,
    DependencyDown,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
)
from server.services.openai_compat import ModelNotFound

if TYPE_CHECKING:
    from pydantic import ValidationError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024

STATUS: dict[type[AgenticError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    DependencyDown: 503,
}

# Headers of aiohttp's own HTTP errors worth keeping on the JSON version.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class RequestValidationError(Exception):
    """A request's body or query did not match its model; ``where`` is ``body`` or ``query``."""

    def __init__(self, where: str, error: ValidationError) -> None:
        super().__init__(str(error))
        self.where = where
        self.error = error

    def detail(self) -> list[dict[str, Any]]:
        """pydantic's error list with FastAPI's ``loc`` prefix; inputs are left out (no echoes)."""
        errors = self.error.errors(include_url=False, include_input=False)
        for item in errors:
            item["loc"] = [self.where, *item["loc"]]
        return errors


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response."""
    body = orjson.dumps({"detail": detail, "status_code": status}, default=str)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def status_for(exc: AgenticError) -> int:
    """The status code of a service error (500 for a branch nobody mapped)."""
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


OPENAI_PREFIX = "/v1/"
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}
OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 503: "service_unavailable"}


def is_openai(request: web.Request) -> bool:
    """Whether the request is for the OpenAI-compatible API (its errors are in OpenAI's shape)."""
    return request.path.startswith(OPENAI_PREFIX)


def openai_error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` as OpenAI's clients read it."""
    return {
        "error": {
            "message": message,
            "type": OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code or OPENAI_CODES.get(status),
        }
    }


def _openai_response(request: web.Request, exc: Exception, ours: web.Response) -> web.Response:
    """``ours`` (an error in this API's shape) reshaped as OpenAI's, same status and headers."""
    detail = orjson.loads(ours.body) if isinstance(ours.body, bytes) else {}
    message, param, code = detail.get("detail"), None, None
    if isinstance(message, list) and message:  # a 422: pydantic's issues; the first one speaks
        first = message[0]
        where = [str(part) for part in first.get("loc", [])[1:]]
        param = ".".join(where) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    if isinstance(exc, ModelNotFound):
        code, param = "model_not_found", "model"
    headers = {name: ours.headers[name] for name in _KEPT_HEADERS if name in ours.headers}
    body = orjson.dumps(openai_error_body(ours.status, str(message), code=code, param=param), default=str)
    return web.Response(body=body, status=ours.status, content_type="application/json", headers=headers)


def error_response(request: web.Request, exc: Exception) -> web.Response:
    """The JSON answer for anything a handler raised; never a 500 for bad input. Under ``/v1``
    the same answer in OpenAI's error shape."""
    ours = _error_response(request, exc)
    return _openai_response(request, exc, ours) if is_openai(request) else ours


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, RequestValidationError):
        return problem(422, exc.detail())
    if isinstance(exc, FieldError):
        issue = {"loc": [exc.where, *exc.field], "msg": str(exc), "type": "value_error"}
        return problem(422, [issue])
    if isinstance(exc, AgenticError):
        headers: dict[str, str] = {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return problem(status_for(exc), str(exc), headers)
    if isinstance(exc, web.HTTPException):
        headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        text = exc.text or ""
        # aiohttp's default text is "<status>: <reason>"; a specific message is worth keeping.
        detail = exc.reason if not text or text.startswith(f"{exc.status}: ") else text
        return problem(exc.status, detail, headers)
    request_id = request.get(REQUEST_ID, "-")
    log.error("Unhandled error in %s %s (request %s)", request.method, request.path, request_id, exc_info=exc)
    return problem(500, f"Internal server error; the server log has details (request id {request_id})")


def body_too_large(request: web.Request) -> web.Response | None:
    """A 413 when the declared body is over the limit, before anything reads it."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        ours = problem(
            413,
            f"Request body of {request.content_length} bytes is over the limit of "
            f"{MAX_BODY_BYTES} bytes (1 MB)",
        )
        return _openai_response(request, InvalidInput(""), ours) if is_openai(request) else ours
    return None

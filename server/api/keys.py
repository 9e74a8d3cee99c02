"""Typed keys for what the aiohttp application and its requests carry."""

from __future__ import annotations

from aiohttp import web

BACKEND = web.AppKey["Backend"]("backend")
METRICS = web.AppKey["ApiMetrics"]("metrics")
OPENAPI = web.AppKey["dict[str, object]"]("openapi")

PRINCIPAL = web.RequestKey["Principal"]("principal")
REQUEST_ID = web.RequestKey[str]("request_id")

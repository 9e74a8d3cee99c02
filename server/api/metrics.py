"""Prometheus metrics of the API, on a registry of the app's own (tests build many apps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from aiohttp import web

    from server.backend import Backend

API_PREFIX = "/api/v1"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """Request counters and latencies, plus process and Ollama gauges."""

    def __init__(self, backend: Backend) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "api_requests",
            "Total API requests",
            ("method", "endpoint", "status_code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "API request latency",
            ("method", "endpoint"),
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        ollama_up = Gauge("ollama_up", "1 when Ollama answered the last probe", registry=self.registry)
        ollama_up.set_function(lambda: 1.0 if backend.llm.status.reachable else 0.0)
        # labels() takes a lock and builds a key on every call, and the route's label costs string
        # work: both are few, so they are cached (this runs for every request on the GUI's loop).
        self._children: dict[tuple[str, object, int], tuple[Any, Any]] = {}

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request and record how long it took."""
        route = request.match_info.route
        key = (request.method, route, status)
        children = self._children.get(key)
        if children is None:
            endpoint = endpoint_label(request)
            children = self._children[key] = (
                self.requests.labels(request.method, endpoint, str(status)),
                self.latency.labels(request.method, endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def endpoint_label(request: web.Request) -> str:
    """The matched route's template without ``/api/v1`` (spec style), never the raw path."""
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    path = resource.canonical
    return path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path

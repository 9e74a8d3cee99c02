"""Asking another box's agentic-server for its system metrics (the Hosts and System panels).

Async httpx, so the window's loop runs on while the other box answers (or does not).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
from pydantic import BaseModel, ValidationError

from server.services.metrics_models import SystemSample

METRICS_PATH = "/api/v1/system/metrics"
HISTORY_PATH = "/api/v1/system/metrics/history"


class HistoryPoint(BaseModel):
    timestamp: datetime
    value: float | None


class History(BaseModel):
    """What ``GET /api/v1/system/metrics/history`` answers (the fields read here)."""

    metric: str
    points: list[HistoryPoint]


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def get_metrics(url: str, token: str | None, *, timeout_s: float) -> httpx.Response:
    """``GET /api/v1/system/metrics`` of the agentic-server at ``url``; raises ``httpx.HTTPError``."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        return await client.get(f"{url.rstrip('/')}{METRICS_PATH}", headers=_headers(token))


async def get_history(
    url: str, token: str | None, metrics: list[str], *, window_s: int, timeout_s: float
) -> dict[str, list[tuple[float, float | None]]]:
    """Each metric's ``(timestamp, value)`` points over the last ``window_s`` seconds, asked for at once.

    A metric the other box does not answer for (unknown there, an error, another shape) is left out:
    the charts then start with the first live sample, as they would without any history.
    """

    async def one(client: httpx.AsyncClient, metric: str) -> History | None:
        try:
            reply = await client.get(
                f"{url.rstrip('/')}{HISTORY_PATH}",
                params={"metric": metric, "window": window_s},
                headers=_headers(token),
            )
            return History.model_validate(reply.json()) if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError, ValidationError):
            return None

    async with httpx.AsyncClient(timeout=timeout_s) as client:
        answers = await asyncio.gather(*(one(client, metric) for metric in metrics))
    return {
        metric: [(point.timestamp.timestamp(), point.value) for point in answer.points]
        for metric, answer in zip(metrics, answers, strict=True)
        if answer is not None
    }


def refusal(reply: httpx.Response) -> str | None:
    """Why a reply holds no metrics (token refused, another status), or None for a 200."""
    if reply.status_code in (401, 403):
        return f"refused the token (HTTP {reply.status_code}): check it"
    if reply.status_code != 200:
        return f"answered HTTP {reply.status_code}"
    return None


def sample_of(reply: httpx.Response) -> SystemSample:
    """The reply's sample; ``ValueError`` saying why when it is not one (a refusal, another shape)."""
    why = refusal(reply)
    if why is not None:
        raise ValueError(why)
    try:
        return SystemSample.model_validate(reply.json())
    except (ValueError, ValidationError) as exc:  # not JSON, or not metrics
        raise ValueError("its answer is not agentic-server metrics") from exc

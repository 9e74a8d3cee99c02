"""System utilization: CPU, memory, disk, network, GPUs, load, swap, and their recent history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.services.metrics_models import (
    CpuMetrics,
    DiskMetrics,
    GpuMetrics,
    LoadAverage,
    MemoryMetrics,
    NetworkMetrics,
    SwapMetrics,
    SystemInfo,
    SystemSample,
)

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("system",))


class HistoryQuery(BaseModel):
    """Which series, over how many seconds (at most the hour the sampler keeps)."""

    metric: str = Field(description="e.g. cpu.usage_percent, memory.usage_percent, gpu.0.temperature_c")
    window: float = Field(600, gt=0, le=3600, description="Seconds back from now")


class HistoryPoint(BaseModel):
    timestamp: datetime
    value: float | None


class HistoryOut(BaseModel):
    """One series from the sampler's ring buffer, oldest first."""

    metric: str
    window_seconds: float
    points: list[HistoryPoint]


async def _sample(request: web.Request) -> SystemSample:
    return await request.app[BACKEND].metrics.latest()


@routes.get("/api/v1/system/metrics", summary="All system utilization metrics", response=SystemSample)
async def all_metrics(request: web.Request) -> SystemSample:
    """CPU, memory, disk, network, GPUs, load average, swap and system information, from the
    sampler's newest sample (taken every ``AGENTIC_METRICS_INTERVAL`` seconds, 1 by default)."""
    return await _sample(request)


@routes.get("/api/v1/system/metrics/cpu", summary="CPU usage, frequency, temperature", response=CpuMetrics)
async def cpu_metrics(request: web.Request) -> CpuMetrics:
    return (await _sample(request)).cpu


@routes.get("/api/v1/system/metrics/memory", summary="Memory", response=MemoryMetrics)
async def memory_metrics(request: web.Request) -> MemoryMetrics:
    return (await _sample(request)).memory


@routes.get("/api/v1/system/metrics/disk", summary="Disk usage and I/O", response=DiskMetrics)
async def disk_metrics(request: web.Request) -> DiskMetrics:
    """Usage of the filesystem holding the data dir, and I/O counters and rates of all disks."""
    return (await _sample(request)).disk


@routes.get("/api/v1/system/metrics/network", summary="Network I/O and speeds", response=NetworkMetrics)
async def network_metrics(request: web.Request) -> NetworkMetrics:
    return (await _sample(request)).network


@routes.get("/api/v1/system/metrics/gpu", summary="NVIDIA GPUs", response=list[GpuMetrics])
async def gpu_metrics(request: web.Request) -> list[GpuMetrics]:
    """An empty list where there is no NVIDIA driver or GPU."""
    return (await _sample(request)).gpu


@routes.get("/api/v1/system/metrics/load", summary="Load average", response=LoadAverage)
async def load_metrics(request: web.Request) -> LoadAverage:
    return (await _sample(request)).load_average


@routes.get("/api/v1/system/metrics/swap", summary="Swap", response=SwapMetrics)
async def swap_metrics(request: web.Request) -> SwapMetrics:
    return (await _sample(request)).swap


@routes.get("/api/v1/system/info", summary="Uptime, processes, boot time", response=SystemInfo)
async def system_info(request: web.Request) -> SystemInfo:
    return (await _sample(request)).system


@routes.get(
    "/api/v1/system/metrics/history",
    summary="Recent values of one metric",
    query=HistoryQuery,
    response=HistoryOut,
)
async def metric_history(request: web.Request, query: HistoryQuery) -> HistoryOut:
    """From the sampler's ring buffer (the last hour). An unknown ``metric`` is a 422 that lists
    the known ones."""
    points = request.app[BACKEND].metrics.history(query.metric, query.window)
    return HistoryOut(
        metric=query.metric,
        window_seconds=query.window,
        points=[HistoryPoint(timestamp=stamp, value=value) for stamp, value in points],
    )

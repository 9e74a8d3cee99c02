"""The system sampler: CPU, memory, disk, network, load, swap and GPUs, once a second, off the loop.

Each sample is taken in a worker thread (psutil and NVML calls block), rates are real per-second
deltas between samples, the last hour of the main series is kept in a ring buffer, every sample is
published (``MetricsSampled``), and crossing an alert threshold publishes ``ResourceAlert`` and
writes a warning to the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from server.bus import utcnow
from server.events import MetricsSampled, ResourceAlert
from server.services.errors import FieldError
from server.services.metrics_models import (
    CoreCount,
    CpuMetrics,
    CpuTimes,
    DiskIo,
    DiskMetrics,
    DiskSpeeds,
    DiskUsage,
    Frequency,
    LoadAverage,
    MemoryMetrics,
    NetworkInterface,
    NetworkIo,
    NetworkMetrics,
    NetworkSpeeds,
    ProcessCount,
    SwapMetrics,
    SystemInfo,
    SystemSample,
    Uptime,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.bus import EventBus
    from server.services.gpus import NvmlGpus

log = logging.getLogger(__name__)

GB = 1024**3
MB = 1024**2
HISTORY_SECONDS = 3600


@dataclass(frozen=True)
class Thresholds:
    """When to raise a resource alert (and, ``hysteresis`` lower, when to clear it)."""

    gpu_temperature_c: float = 85.0
    memory_percent: float = 90.0
    disk_percent: float = 90.0
    hysteresis: float = 5.0


def format_uptime(seconds: float) -> str:
    """``15d 9h 24m``."""
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m"


def _gb(value: float | None) -> float | None:
    return None if value is None else round(value / GB, 2)


def _cpu_temperature() -> float | None:
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return None
    try:
        sensors = read()
    except (OSError, RuntimeError):
        return None
    for chip in ("coretemp", "k10temp", "zenpower", "cpu_thermal", "acpitz"):
        for entry in sensors.get(chip, ()):
            if entry.current:
                return round(float(entry.current), 1)
    return None


def per_second(before: Any, after: Any, elapsed: float, fields: tuple[str, ...]) -> dict[str, float]:
    """Per-second rates of counters between two readings (a counter that went back counts 0)."""
    return {
        field: round(max(0.0, getattr(after, field) - getattr(before, field)) / elapsed, 1)
        for field in fields
    }


def _nearest_existing(path: str) -> str:
    """``path``, or its closest existing parent (the data dir may be removed under a running app;
    the filesystem it was on is still the one to report)."""
    candidate = Path(path)
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    return str(candidate)


def series_of(sample: SystemSample) -> dict[str, float | None]:
    """The values the history keeps, by name (``cpu.usage_percent``, ``gpu.0.temperature_c``, ...)."""
    values: dict[str, float | None] = {
        "cpu.usage_percent": sample.cpu.usage_percent,
        "memory.usage_percent": sample.memory.usage_percent,
        "memory.used_gb": sample.memory.used_gb,
        "swap.usage_percent": sample.swap.usage_percent,
        "disk.read_bytes_per_sec": sample.disk.speeds.read_bytes_per_sec,
        "disk.write_bytes_per_sec": sample.disk.speeds.write_bytes_per_sec,
        "network.recv_bytes_per_sec": sample.network.speeds.bytes_recv_per_sec,
        "network.sent_bytes_per_sec": sample.network.speeds.bytes_sent_per_sec,
        "load.1m": sample.load_average.one,
    }
    for core, percent in enumerate(sample.cpu.per_core_percent):
        values[f"cpu.core.{core}"] = percent
    for gpu in sample.gpu:
        values[f"gpu.{gpu.index}.utilization_percent"] = gpu.utilization.gpu_percent
        values[f"gpu.{gpu.index}.memory_percent"] = gpu.utilization.memory_percent
        values[f"gpu.{gpu.index}.temperature_c"] = gpu.temperature_celsius
        values[f"gpu.{gpu.index}.power_watts"] = gpu.power.usage_watts
    return values


class MetricsService:
    """Samples in the background; answers the API and the System panel from what it holds."""

    def __init__(
        self,
        bus: EventBus,
        gpus: NvmlGpus,
        *,
        disk_path: Path,
        interval: float = 1.0,
        thresholds: Thresholds | None = None,
        on_alert: Callable[[ResourceAlert], None] | None = None,
    ) -> None:
        self._bus = bus
        self._gpus = gpus
        self._disk_path = str(disk_path)
        self.interval = interval
        self.thresholds = thresholds or Thresholds()
        self._on_alert = on_alert
        size = max(2, int(HISTORY_SECONDS / interval))
        self._times: deque[float] = deque(maxlen=size)
        self._series: dict[str, deque[float | None]] = {}
        self._size = size
        self._latest: SystemSample | None = None
        self._previous: tuple[float, Any, Any] | None = None
        self._alerts: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def gpu_unavailable(self) -> str | None:
        """Why there are no GPU figures, when there are none."""
        return self._gpus.unavailable

    # -- sampling --

    def prime(self) -> None:
        """Take the baselines rates and CPU usage are measured against (blocking)."""
        psutil.cpu_percent(percpu=True)
        psutil.cpu_times_percent()
        self._previous = (time.monotonic(), psutil.net_io_counters(), self._disk_counters())

    @staticmethod
    def _disk_counters() -> Any:
        try:
            return psutil.disk_io_counters()
        except (OSError, RuntimeError):
            return None

    def sample_now(self) -> SystemSample:
        """Read everything once (blocking: call it in a thread)."""
        if self._previous is None:
            self.prime()
        assert self._previous is not None
        now = time.monotonic()
        then, net_before, disk_before = self._previous
        elapsed = max(now - then, 1e-3)
        net = psutil.net_io_counters()
        disk_io = self._disk_counters()
        self._previous = (now, net, disk_io)

        per_core = psutil.cpu_percent(percpu=True)
        times = psutil.cpu_times_percent()
        freq = psutil.cpu_freq()
        temperature = _cpu_temperature()
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        usage = psutil.disk_usage(_nearest_existing(self._disk_path))
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        boot = psutil.boot_time()

        disk_rates = (
            per_second(disk_before, disk_io, elapsed, ("read_bytes", "write_bytes"))
            if disk_io and disk_before
            else {"read_bytes": 0.0, "write_bytes": 0.0}
        )
        read_rate, write_rate = disk_rates["read_bytes"], disk_rates["write_bytes"]
        net_rates = per_second(
            net_before, net, elapsed, ("bytes_sent", "bytes_recv", "packets_sent", "packets_recv")
        )
        per_nic = psutil.net_io_counters(pernic=True)
        stats = psutil.net_if_stats()
        mhz = Frequency(
            current=round(freq.current, 1) if freq and freq.current else None,
            min=round(freq.min, 1) if freq and freq.min else None,
            max=round(freq.max, 1) if freq and freq.max else None,
        )
        ghz = Frequency(
            **{key: round(value / 1000, 2) if value else None for key, value in mhz.model_dump().items()}
        )
        return SystemSample(
            timestamp=utcnow(),
            cpu=CpuMetrics(
                usage_percent=round(sum(per_core) / len(per_core), 1) if per_core else 0.0,
                per_core_percent=per_core,
                frequency_ghz=ghz,
                frequency_mhz=mhz,
                temperature_celsius=temperature,
                temperature_fahrenheit=round(temperature * 9 / 5 + 32, 1)
                if temperature is not None
                else None,
                times_percent=CpuTimes(
                    user=times.user,
                    system=times.system,
                    idle=times.idle,
                    iowait=getattr(times, "iowait", None),
                ),
                count=CoreCount(physical=psutil.cpu_count(logical=False), logical=psutil.cpu_count()),
            ),
            memory=MemoryMetrics(
                total_gb=_gb(memory.total) or 0.0,
                available_gb=_gb(memory.available) or 0.0,
                used_gb=_gb(memory.used) or 0.0,
                free_gb=_gb(memory.free) or 0.0,
                usage_percent=memory.percent,
                buffers_gb=_gb(getattr(memory, "buffers", None)),
                cached_gb=_gb(getattr(memory, "cached", None)),
                shared_gb=_gb(getattr(memory, "shared", None)),
            ),
            disk=DiskMetrics(
                usage=DiskUsage(
                    total_gb=_gb(usage.total) or 0.0,
                    used_gb=_gb(usage.used) or 0.0,
                    free_gb=_gb(usage.free) or 0.0,
                    usage_percent=usage.percent,
                ),
                io=DiskIo(
                    read_count=disk_io.read_count,
                    write_count=disk_io.write_count,
                    read_bytes=disk_io.read_bytes,
                    write_bytes=disk_io.write_bytes,
                    read_time_ms=disk_io.read_time,
                    write_time_ms=disk_io.write_time,
                )
                if disk_io
                else None,
                speeds=DiskSpeeds(read_bytes_per_sec=read_rate, write_bytes_per_sec=write_rate),
                path=self._disk_path,
                total_gb=_gb(usage.total) or 0.0,
                used_gb=_gb(usage.used) or 0.0,
                usage_percent=usage.percent,
                read_speed_mbps=round(read_rate / MB, 2),
                write_speed_mbps=round(write_rate / MB, 2),
            ),
            network=NetworkMetrics(
                io=NetworkIo(
                    bytes_sent=net.bytes_sent,
                    bytes_recv=net.bytes_recv,
                    packets_sent=net.packets_sent,
                    packets_recv=net.packets_recv,
                    errin=net.errin,
                    errout=net.errout,
                    dropin=net.dropin,
                    dropout=net.dropout,
                ),
                speeds=NetworkSpeeds(
                    bytes_sent_per_sec=net_rates["bytes_sent"],
                    bytes_recv_per_sec=net_rates["bytes_recv"],
                    packets_sent_per_sec=net_rates["packets_sent"],
                    packets_recv_per_sec=net_rates["packets_recv"],
                ),
                interfaces=[
                    NetworkInterface(
                        name=name,
                        isup=stat.isup,
                        speed_mbps=stat.speed,
                        mtu=stat.mtu,
                        received_mb=round(per_nic[name].bytes_recv / MB, 2) if name in per_nic else 0.0,
                        transmitted_mb=round(per_nic[name].bytes_sent / MB, 2) if name in per_nic else 0.0,
                    )
                    for name, stat in sorted(stats.items())
                ],
                total_received_mb=round(net.bytes_recv / MB, 2),
                total_transmitted_mb=round(net.bytes_sent / MB, 2),
            ),
            gpu=self._gpus.read(),
            load_average=LoadAverage(
                one=round(load[0], 2), five=round(load[1], 2), fifteen=round(load[2], 2)
            ),
            swap=SwapMetrics(
                total_gb=_gb(swap.total) or 0.0,
                used_gb=_gb(swap.used) or 0.0,
                free_gb=_gb(swap.free) or 0.0,
                usage_percent=swap.percent,
                sin=swap.sin,
                sout=swap.sout,
            ),
            system=SystemInfo(
                uptime=Uptime(seconds=int(time.time() - boot), formatted=format_uptime(time.time() - boot)),
                processes=ProcessCount(total_count=len(psutil.pids())),
                boot_time=datetime.fromtimestamp(boot, UTC),
                hostname=socket.gethostname(),
                platform=f"{platform.system()} {platform.release()} ({platform.machine()})",
            ),
        )

    async def sample(self) -> SystemSample:
        """Take a sample in a thread, keep it, publish it and check the thresholds."""
        async with self._lock:
            sample = await asyncio.to_thread(self.sample_now)
            self.keep(sample)
        self._bus.publish(MetricsSampled(sample=sample))
        self.check_alerts(sample)
        return sample

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        await asyncio.to_thread(self.prime)
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.sample()
                except Exception:  # a sensor failing once must not stop the graphs for good
                    log.exception("Taking a system sample failed")
                await asyncio.sleep(max(0.05, self.interval - (time.monotonic() - started)))
        finally:
            await asyncio.to_thread(self._gpus.close)

    async def latest(self) -> SystemSample:
        """The newest sample (taking one when there is none yet)."""
        return self._latest if self._latest is not None else await self.sample()

    # -- history --

    def keep(self, sample: SystemSample) -> None:
        """Record a sample in the history (the sampler does this for each one it takes)."""
        self._latest = sample
        values = series_of(sample)
        for name in values.keys() - self._series.keys():
            self._series[name] = deque([None] * len(self._times), maxlen=self._size)
        self._times.append(sample.timestamp.timestamp())
        for name, series in self._series.items():
            series.append(values.get(name))

    def metric_names(self) -> list[str]:
        """The series the history holds."""
        return sorted(self._series)

    def history(self, metric: str, window: float) -> list[tuple[datetime, float | None]]:
        """``metric``'s values over the last ``window`` seconds, oldest first."""
        series = self._series.get(metric)
        if series is None:
            available = ", ".join(self.metric_names()) or "none yet (the first sample is on its way)"
            raise FieldError(("metric",), f"Unknown metric '{metric}'. Available: {available}", where="query")
        cutoff = time.time() - window
        return [
            (datetime.fromtimestamp(stamp, UTC), value)
            for stamp, value in zip(self._times, series, strict=True)
            if stamp >= cutoff
        ]

    # -- alerts --

    def check_alerts(self, sample: SystemSample) -> None:
        """Raise or clear the alerts ``sample`` crosses."""
        limits = self.thresholds
        checks: list[tuple[str, str, float | None, float, str]] = [
            ("memory", "Memory", sample.memory.usage_percent, limits.memory_percent, "%"),
            ("disk", f"Disk {sample.disk.path}", sample.disk.usage.usage_percent, limits.disk_percent, "%"),
        ]
        checks += [
            (
                f"gpu.{gpu.index}.temperature",
                f"GPU {gpu.index} ({gpu.name})",
                gpu.temperature_celsius,
                limits.gpu_temperature_c,
                " °C",
            )
            for gpu in sample.gpu
        ]
        for key, subject, value, limit, unit in checks:
            if value is None:
                continue
            if key not in self._alerts and value >= limit:
                self._alerts.add(key)
                self._raise(
                    ResourceAlert(
                        key=key, subject=subject, value=value, threshold=limit, unit=unit, active=True
                    )
                )
            elif key in self._alerts and value < limit - limits.hysteresis:
                self._alerts.discard(key)
                self._raise(
                    ResourceAlert(
                        key=key, subject=subject, value=value, threshold=limit, unit=unit, active=False
                    )
                )

    def _raise(self, alert: ResourceAlert) -> None:
        self._bus.publish(alert)
        if self._on_alert is not None:
            self._on_alert(alert)

    def active_alerts(self) -> set[str]:
        """Keys of the alerts raised and not yet cleared."""
        return set(self._alerts)

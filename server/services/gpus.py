"""NVIDIA GPUs through NVML (``nvidia-ml-py``): an empty list, not an error, where there is none."""

from __future__ import annotations

import logging
from typing import Any

from server.services.metrics_models import (
    GpuClocks,
    GpuMemory,
    GpuMetrics,
    GpuPower,
    GpuProcess,
    GpuUtilization,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024


def fahrenheit(celsius: float | None) -> float | None:
    return None if celsius is None else round(celsius * 9 / 5 + 32, 1)


class NvmlGpus:
    """Reads every GPU NVML sees. ``nvml`` is the ``pynvml`` module (tests pass a stand-in).

    NVML is initialised on first use; without a driver or a GPU ``read()`` returns ``[]`` and
    ``unavailable`` says why. Any field a card does not support is ``None``.
    """

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml
        self._started: bool | None = None
        self.unavailable: str | None = None

    def _start(self) -> bool:
        if self._started is None:
            try:
                if self._nvml is None:
                    import pynvml

                    self._nvml = pynvml
                self._nvml.nvmlInit()
            except Exception as exc:  # noqa: BLE001  (any NVMLError, or no library: no NVIDIA GPUs here)
                self._started = False
                self.unavailable = f"No NVIDIA GPU found ({exc})"
                log.info("GPU metrics off: %s", self.unavailable)
            else:
                self._started = True
        return self._started

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """One NVML call; a field this card does not support becomes ``None``."""
        try:
            return getattr(self._nvml, name)(*args, **kwargs)
        except Exception:  # noqa: BLE001  (NVMLError_NotSupported and kin: the field is unknown)
            return None

    def read(self) -> list[GpuMetrics]:
        """Every GPU's current state (blocking: run it off the loop)."""
        if not self._start():
            return []
        count = self._call("nvmlDeviceGetCount") or 0
        return [self._read_one(index) for index in range(count)]

    def _read_one(self, index: int) -> GpuMetrics:
        nvml = self._nvml
        handle = self._call("nvmlDeviceGetHandleByIndex", index)
        name = self._call("nvmlDeviceGetName", handle) or f"GPU {index}"
        if isinstance(name, bytes):
            name = name.decode()
        uuid = self._call("nvmlDeviceGetUUID", handle)
        rates = self._call("nvmlDeviceGetUtilizationRates", handle)
        memory = self._memory(handle)
        temperature = self._call("nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
        graphics = self._call("nvmlDeviceGetClockInfo", handle, getattr(nvml, "NVML_CLOCK_GRAPHICS", 0))
        memory_clock = self._call("nvmlDeviceGetClockInfo", handle, getattr(nvml, "NVML_CLOCK_MEM", 2))
        power = self._call("nvmlDeviceGetPowerUsage", handle)
        limit = self._call("nvmlDeviceGetEnforcedPowerLimit", handle)
        fan = self._call("nvmlDeviceGetFanSpeed", handle)
        processes = self._call("nvmlDeviceGetComputeRunningProcesses", handle) or []
        total_mb = memory.total / MB if memory is not None else None
        used_mb = memory.used / MB if memory is not None else None
        return GpuMetrics(
            index=index,
            name=str(name),
            uuid=uuid.decode() if isinstance(uuid, bytes) else uuid,
            utilization=GpuUtilization(
                gpu_percent=float(rates.gpu) if rates is not None else None,
                memory_percent=round(100 * used_mb / total_mb, 1) if total_mb else None,
                memory_bandwidth_percent=float(rates.memory) if rates is not None else None,
            ),
            memory=GpuMemory(
                total_mb=round(total_mb, 1) if total_mb is not None else None,
                used_mb=round(used_mb, 1) if used_mb is not None else None,
                free_mb=round(memory.free / MB, 1) if memory is not None else None,
            ),
            temperature_celsius=float(temperature) if temperature is not None else None,
            temperature_fahrenheit=fahrenheit(float(temperature)) if temperature is not None else None,
            clocks=GpuClocks(graphics_mhz=graphics, memory_mhz=memory_clock),
            power=GpuPower(
                usage_watts=round(power / 1000, 2) if power is not None else None,
                limit_watts=round(limit / 1000, 2) if limit is not None else None,
            ),
            fan_percent=float(fan) if fan is not None else None,
            processes=[
                GpuProcess(
                    pid=process.pid,
                    used_memory_mb=round(process.usedGpuMemory / MB, 1)
                    if getattr(process, "usedGpuMemory", None) is not None
                    else None,
                )
                for process in processes
            ],
        )

    def _memory(self, handle: Any) -> Any:
        """Memory in use as nvidia-smi counts it: v2 leaves out what the driver reserves (~600 MB on
        an idle H200, which v1 reports as used); drivers or stand-ins without v2 give v1."""
        version = getattr(self._nvml, "nvmlMemory_v2", None)
        if version is not None:
            memory = self._call("nvmlDeviceGetMemoryInfo", handle, version=version)
            if memory is not None:
                return memory
        return self._call("nvmlDeviceGetMemoryInfo", handle)

    def close(self) -> None:
        """Release NVML."""
        if self._started:
            self._call("nvmlShutdown")
            self._started = None

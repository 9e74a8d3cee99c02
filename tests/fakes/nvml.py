"""A stand-in for the pynvml module, for tests and benchmarks on machines without an NVIDIA GPU.

It answers the calls ``server.services.gpus.NvmlGpus`` makes, with the units NVML uses (bytes,
milliwatts, percent), and raises its ``NotSupported`` where real boards lack a sensor.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class FakeNvml:
    """A stand-in for the pynvml module: two GPUs, the second without power readings."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_GRAPHICS = 0
    NVML_CLOCK_MEM = 2
    nvmlMemory_v2 = 0x02000028  # pynvml's struct version tag for nvmlMemory_v2_t

    class NotSupported(Exception):
        pass

    def __init__(self) -> None:
        self.shut_down = False

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None:
        self.shut_down = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return [b"Tesla P40", b"RTX 3090"][handle]

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-{handle}"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=[37, 90][handle], memory=[5, 60][handle])

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> Any:
        """v1 counts the driver's reserved memory as used (as real NVML does); v2 lists it apart."""
        mb = 1024 * 1024
        if version is not None and version == self.nvmlMemory_v2:
            return SimpleNamespace(total=24576 * mb, reserved=300 * mb, used=6144 * mb, free=18132 * mb)
        return SimpleNamespace(total=24576 * mb, used=6444 * mb, free=18132 * mb)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return [26, 81][handle]

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return 1531 if clock == 0 else 3615

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise self.NotSupported
        return 95_530

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return 250_000

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        raise self.NotSupported

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=4242, usedGpuMemory=5000 * 1024 * 1024)] if handle == 0 else []

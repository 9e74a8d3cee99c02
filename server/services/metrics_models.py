"""The shapes of system metrics, field for field as the spec's ``/api/v1/system/metrics`` example.

A few fields beyond the example are added (per-core usage, Celsius for GPUs, disk and network rates,
the flat figures the web client's types read); none of the spec's fields is renamed or removed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Frequency(BaseModel):
    current: float | None
    min: float | None
    max: float | None


class CpuTimes(BaseModel):
    user: float
    system: float
    idle: float
    iowait: float | None = None


class CoreCount(BaseModel):
    physical: int | None
    logical: int | None


class CpuMetrics(BaseModel):
    usage_percent: float
    per_core_percent: list[float]
    frequency_ghz: Frequency
    frequency_mhz: Frequency
    temperature_celsius: float | None
    temperature_fahrenheit: float | None
    times_percent: CpuTimes
    count: CoreCount


class MemoryMetrics(BaseModel):
    total_gb: float
    available_gb: float
    used_gb: float
    free_gb: float
    usage_percent: float
    buffers_gb: float | None
    cached_gb: float | None
    shared_gb: float | None


class DiskUsage(BaseModel):
    total_gb: float
    used_gb: float
    free_gb: float
    usage_percent: float


class DiskIo(BaseModel):
    read_count: int
    write_count: int
    read_bytes: int
    write_bytes: int
    read_time_ms: int
    write_time_ms: int
    read_bytes_per_sec: float | None = Field(
        None, description="speeds.read_bytes_per_sec again (the web client reads it here)"
    )
    write_bytes_per_sec: float | None = Field(
        None, description="speeds.write_bytes_per_sec again (the web client reads it here)"
    )


class DiskSpeeds(BaseModel):
    read_bytes_per_sec: float
    write_bytes_per_sec: float


class DiskMetrics(BaseModel):
    usage: DiskUsage
    io: DiskIo | None
    speeds: DiskSpeeds
    path: str = Field(description="The filesystem measured (the one holding the data dir)")
    total_gb: float
    used_gb: float
    usage_percent: float
    read_speed_mbps: float = Field(description="MB/s read")
    write_speed_mbps: float = Field(description="MB/s written")

    @model_validator(mode="after")
    def _rates_in_io(self) -> DiskMetrics:
        """Mirror the rates into ``io``, where the web client's System Health page looks for them."""
        if self.io is not None and self.io.read_bytes_per_sec is None:
            self.io.read_bytes_per_sec = self.speeds.read_bytes_per_sec
            self.io.write_bytes_per_sec = self.speeds.write_bytes_per_sec
        return self


class NetworkIo(BaseModel):
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errin: int
    errout: int
    dropin: int
    dropout: int


class NetworkSpeeds(BaseModel):
    bytes_sent_per_sec: float
    bytes_recv_per_sec: float
    packets_sent_per_sec: float
    packets_recv_per_sec: float


class NetworkInterface(BaseModel):
    name: str
    isup: bool
    speed_mbps: int
    mtu: int
    received_mb: float
    transmitted_mb: float


class NetworkMetrics(BaseModel):
    io: NetworkIo
    speeds: NetworkSpeeds
    interfaces: list[NetworkInterface]
    total_received_mb: float
    total_transmitted_mb: float


class GpuUtilization(BaseModel):
    gpu_percent: float | None
    memory_percent: float | None = Field(description="Share of the GPU's memory in use")
    memory_bandwidth_percent: float | None = Field(description="How busy the memory bus was (NVML)")


class GpuMemory(BaseModel):
    total_mb: float | None
    used_mb: float | None
    free_mb: float | None


class GpuClocks(BaseModel):
    graphics_mhz: float | None
    memory_mhz: float | None


class GpuPower(BaseModel):
    usage_watts: float | None
    limit_watts: float | None


class GpuProcess(BaseModel):
    pid: int
    used_memory_mb: float | None


class GpuMetrics(BaseModel):
    index: int
    name: str
    uuid: str | None = None
    utilization: GpuUtilization
    memory: GpuMemory
    temperature_celsius: float | None
    temperature_fahrenheit: float | None
    clocks: GpuClocks
    power: GpuPower
    fan_percent: float | None
    processes: list[GpuProcess]


class LoadAverage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    one: float = Field(alias="1m")
    five: float = Field(alias="5m")
    fifteen: float = Field(alias="15m")


class SwapMetrics(BaseModel):
    total_gb: float
    used_gb: float
    free_gb: float
    usage_percent: float
    sin: int
    sout: int


class Uptime(BaseModel):
    seconds: int
    formatted: str


class ProcessCount(BaseModel):
    total_count: int


class SystemInfo(BaseModel):
    uptime: Uptime
    processes: ProcessCount
    boot_time: datetime
    hostname: str
    platform: str


class SystemSample(BaseModel):
    """One sample of everything."""

    timestamp: datetime
    cpu: CpuMetrics
    memory: MemoryMetrics
    disk: DiskMetrics
    network: NetworkMetrics
    gpu: list[GpuMetrics]
    load_average: LoadAverage
    swap: SwapMetrics
    system: SystemInfo

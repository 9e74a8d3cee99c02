"""The System panel over the real backend and bridge, fed samples the test builds; and the Sparkline widget.

The desktop's own sampler takes one real sample at start and the next only 30 s later; each test builds
its samples from that real one, a few seconds apart, keeps them in the history and publishes them on
the bus, as the sampler does. GPUs are fake ones at index 5, so a real GPU on the machine changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, NamedTuple, cast

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from agentic_desktop import background
from agentic_desktop.bridge import BusBridge
from agentic_desktop.panels.system import SystemPanel, nice_ceiling, rate, time_ticks
from agentic_desktop.widgets.sparkline import ACCENT, Sparkline
from server.bus import EventBus
from server.events import MetricsSampled
from server.services.gpus import NvmlGpus
from server.services.metrics import MetricsService
from server.services.metrics_models import (
    GpuClocks,
    GpuMemory,
    GpuMetrics,
    GpuPower,
    GpuUtilization,
    SystemSample,
)
from tests.conftest import API_KEY
from tests.desktop.conftest import wait_until
from tests.fakes.ollama import FakeOllamaThread

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from server.backend import Backend

GPU = 5


@pytest.fixture(autouse=True)
def slow_sampler(isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real sampler stays out of the way: one sample at start, the next after the test has ended."""
    monkeypatch.setenv("AGENTIC_METRICS_INTERVAL", "30")


@pytest.fixture
def base(desktop: DesktopApp, qloop: BatchedQEventLoop) -> SystemSample:
    """The sampler's first real sample (every test sample is a variant of it)."""
    assert desktop.backend is not None
    metrics = desktop.backend.metrics
    wait_until(qloop, lambda: bool(metrics.metric_names()))
    return qloop.run_until_complete(metrics.latest())


@pytest.fixture
def panel(desktop: DesktopApp, base: SystemSample, qtbot: QtBot) -> SystemPanel:
    """A System panel of its own over the desktop's backend and bridge, not shown yet."""
    assert desktop.backend is not None
    assert desktop.bridge is not None
    widget = SystemPanel(desktop.backend, desktop.bridge)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    return widget


def fake_gpu(index: int = GPU, *, utilization: float = 60.0, temperature: float = 65.0) -> GpuMetrics:
    """A GPU as NVML would report it."""
    return GpuMetrics(
        index=index,
        name="NVIDIA GeForce RTX 4090",
        utilization=GpuUtilization(
            gpu_percent=utilization, memory_percent=45.0, memory_bandwidth_percent=20.0
        ),
        memory=GpuMemory(total_mb=24_564.0, used_mb=11_054.0, free_mb=13_510.0),
        temperature_celsius=temperature,
        temperature_fahrenheit=None,
        clocks=GpuClocks(graphics_mhz=2520.0, memory_mhz=10_501.0),
        power=GpuPower(usage_watts=250.0, limit_watts=450.0),
        fan_percent=38.0,
        processes=[],
    )


def variant(
    base: SystemSample,
    after: float,
    *,
    cpu: float = 10.0,
    gpus: Sequence[GpuMetrics] = (),
    cores: int | None = None,
) -> SystemSample:
    """``base`` as if sampled ``after`` seconds later, with the figures given."""
    per_core = [cpu] * cores if cores is not None else base.cpu.per_core_percent
    return base.model_copy(
        update={
            "timestamp": base.timestamp + timedelta(seconds=after),
            "cpu": base.cpu.model_copy(update={"usage_percent": cpu, "per_core_percent": per_core}),
            "gpu": list(gpus),
        },
        deep=True,
    )


def keep(desktop: DesktopApp, samples: Sequence[SystemSample]) -> None:
    """Put samples in the history only (as if taken while nobody was looking)."""
    assert desktop.backend is not None
    for sample in samples:
        desktop.backend.metrics.keep(sample)


def publish(desktop: DesktopApp, sample: SystemSample) -> None:
    """Keep a sample and announce it, as the sampler does."""
    assert desktop.backend is not None
    desktop.backend.metrics.keep(sample)
    desktop.backend.bus.publish(MetricsSampled(sample=sample))


def show(panel: SystemPanel, qloop: BatchedQEventLoop) -> None:
    """Show the panel and wait until it shows the newest sample's values."""
    panel.show()
    wait_until(qloop, lambda: panel.value_labels["cpu.usage_percent"].text() != "—")


def test_charts_are_built_on_first_show_and_filled_from_the_history(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    keep(desktop, [variant(base, k, cpu=20.0 + k) for k in range(1, 31)])
    assert panel.charts == {}  # nothing drawn (nor pyqtgraph paid for) before the operator looks
    assert panel.paused

    show(panel, qloop)

    assert not panel.paused
    assert {"cpu", "memory", "network", "disk"} <= set(panel.charts)
    for series in ("cpu.usage_percent", "memory.usage_percent", "network.recv_bytes_per_sec"):
        assert panel.curve_points(series) == 31, series  # the real sample and the 30 kept
    assert "50.0 %" in panel.value_labels["cpu.usage_percent"].text()  # the newest: 20 + 30
    assert base.system.hostname in panel.header.subtitle.text()
    assert f"up {base.system.uptime.formatted}" in panel.header.subtitle.text()


def test_a_new_sample_adds_a_point_and_updates_the_current_values(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    keep(desktop, [variant(base, 1, gpus=[fake_gpu()])])
    show(panel, qloop)
    before = panel.curve_points("cpu.usage_percent")
    gpu_before = panel.curve_points(f"gpu.{GPU}.utilization_percent")

    publish(desktop, variant(base, 2, cpu=42.0, gpus=[fake_gpu(utilization=88.5, temperature=71.0)]))
    wait_until(qloop, lambda: panel.curve_points("cpu.usage_percent") == before + 1)

    assert panel.curve_points(f"gpu.{GPU}.utilization_percent") == gpu_before + 1
    labels = panel.value_labels
    assert "42.0 %" in labels["cpu.usage_percent"].text()
    assert "88.5 %" in labels[f"gpu.{GPU}.utilization_percent"].text()
    assert "45.0 %" in labels[f"gpu.{GPU}.memory_percent"].text()
    assert "71 °C" in labels[f"gpu.{GPU}.temperature_c"].text()
    assert "250 W" in labels[f"gpu.{GPU}.power_watts"].text()
    assert "power limit 450 W" in labels[f"gpu.{GPU}.thermal"].text()
    assert panel.curve_points(f"gpu.{GPU}.temperature_c") == gpu_before + 1
    assert "10.8 of 24.0 GB memory" in labels[f"gpu.{GPU}"].text()
    _, newest = panel.charts["cpu"].curves["cpu.usage_percent"].getOriginalDataset()
    assert newest[-1] == 42.0


def test_choosing_a_shorter_window_shows_fewer_points(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    keep(desktop, [variant(base, 5 * k) for k in range(1, 101)])  # 500 s, one sample every 5 s
    show(panel, qloop)
    assert panel.window_seconds == 600
    assert panel.curve_points("cpu.usage_percent") == 101

    panel.window_choice.button(60).click()

    assert panel.window_seconds == 60
    assert panel.curve_points("cpu.usage_percent") == 13  # 440 s … 500 s
    assert panel.curve_points("disk.write_bytes_per_sec") == 13
    x_range = panel.charts["cpu"].plot_widget.getPlotItem().viewRange()[0]
    assert x_range[0] == pytest.approx(-60)

    panel.window_choice.button(3600).click()

    assert panel.curve_points("cpu.usage_percent") == 101
    assert panel.window_choice.checkedId() == 3600


def test_keys_1_2_and_3_pick_the_window(panel: SystemPanel, qloop: BatchedQEventLoop, qtbot: QtBot) -> None:
    show(panel, qloop)
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)

    qtbot.keyClick(panel, Qt.Key.Key_1)
    assert panel.window_seconds == 60
    assert panel.window_choice.checkedId() == 60
    qtbot.keyClick(panel, Qt.Key.Key_3)
    assert panel.window_seconds == 3600
    qtbot.keyClick(panel, Qt.Key.Key_2)
    assert panel.window_seconds == 600
    assert "key 1" in panel.window_choice.button(60).toolTip()


def test_a_hidden_panel_stands_still_and_catches_up_when_shown(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    assert desktop.bridge is not None
    show(panel, qloop)
    before = panel.curve_points("cpu.usage_percent")
    panel.hide()
    assert panel.paused

    seen: list[MetricsSampled] = []
    desktop.bridge.metrics_sampled.connect(seen.append)  # connected after the panel: runs after it
    publish(desktop, variant(base, 1, cpu=77.0))
    wait_until(qloop, lambda: len(seen) == 1)
    desktop.bridge.metrics_sampled.disconnect(seen.append)

    assert panel.curve_points("cpu.usage_percent") == before
    assert "77.0 %" not in panel.value_labels["cpu.usage_percent"].text()

    panel.show()

    assert not panel.paused
    assert panel.curve_points("cpu.usage_percent") == before + 1
    assert "77.0 %" in panel.value_labels["cpu.usage_percent"].text()


def test_a_gpu_appearing_gets_its_own_chart(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    keep(desktop, [variant(base, k) for k in range(1, 4)])
    show(panel, qloop)
    assert f"gpu.{GPU}" not in panel.charts

    publish(desktop, variant(base, 4, gpus=[fake_gpu(utilization=12.0)]))
    wait_until(qloop, lambda: f"gpu.{GPU}" in panel.charts)

    chart = panel.charts[f"gpu.{GPU}"]
    assert chart.title.text() == f"GPU {GPU} · RTX 4090"
    assert "NVIDIA GeForce RTX 4090" in chart.title.toolTip()
    assert panel.curve_points(f"gpu.{GPU}.utilization_percent") == 5  # no figures before, then 12 %
    assert "12.0 %" in panel.value_labels[f"gpu.{GPU}.utilization_percent"].text()
    assert panel.curve_points(f"gpu.{GPU}.temperature_c") == 5
    assert panel.curve_points(f"gpu.{GPU}.power_watts") == 5
    assert "65 °C" in panel.value_labels[f"gpu.{GPU}.temperature_c"].text()
    assert "250 W" in panel.value_labels[f"gpu.{GPU}.power_watts"].text()
    assert "power limit 450 W" in panel.value_labels[f"gpu.{GPU}.thermal"].text()
    assert panel.gpu_note.isHidden()

    publish(desktop, variant(base, 5, gpus=[fake_gpu(utilization=13.0)]))
    wait_until(qloop, lambda: panel.curve_points(f"gpu.{GPU}.utilization_percent") == 6)
    assert panel.charts[f"gpu.{GPU}"] is chart  # the chart is kept, not built again


def test_many_cores_get_a_bar_each_instead_of_a_line_each(
    panel: SystemPanel, desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    keep(desktop, [variant(base, 1, cpu=30.0, cores=32)])
    show(panel, qloop)

    assert panel.core_bars is not None
    assert panel.core_bars.values() == [30.0] * 32
    assert list(panel.charts["cpu"].curves) == ["cpu.usage_percent"]


class NoDriver:
    """A stand-in for pynvml on a machine without the NVIDIA driver."""

    def nvmlInit(self) -> None:
        raise OSError("NVML Shared Library Not Found")


class Gpuless(NamedTuple):
    """A bus, a sampler whose NVML finds no driver, and a bridge over that bus."""

    bus: EventBus
    metrics: MetricsService
    bridge: BusBridge


@pytest.fixture
def gpuless(qloop: BatchedQEventLoop, tmp_path: Path) -> Iterator[Gpuless]:
    """A sampler and bridge of their own that see no GPU, whatever this machine has."""
    bus = EventBus()
    lab = Gpuless(bus, MetricsService(bus, NvmlGpus(NoDriver()), disk_path=tmp_path), BusBridge(bus))

    async def start() -> None:
        lab.bridge.start()

    qloop.run_until_complete(start())
    yield lab
    qloop.run_until_complete(background.finish_all())
    qloop.run_until_complete(lab.bridge.stop())


def test_without_a_gpu_the_panel_says_why_until_one_appears(
    gpuless: Gpuless, qloop: BatchedQEventLoop, qtbot: QtBot
) -> None:
    metrics, bridge = gpuless.metrics, gpuless.bridge
    base = qloop.run_until_complete(metrics.sample())
    # The panel reads the metrics, and the router's hosts for its machine chooser (none here).
    backend = cast("Backend", SimpleNamespace(metrics=metrics, router=SimpleNamespace(specs=list)))
    panel = SystemPanel(backend, bridge)
    qtbot.addWidget(panel)
    show(panel, qloop)

    assert not panel.gpu_note.isHidden()
    assert "No NVIDIA GPU found (NVML Shared Library Not Found)" in panel.gpu_note.text()
    assert not [key for key in panel.charts if key.startswith("gpu.")]

    with_gpu = variant(base, 1, gpus=[fake_gpu(0)])
    metrics.keep(with_gpu)
    gpuless.bus.publish(MetricsSampled(sample=with_gpu))
    wait_until(qloop, lambda: "gpu.0" in panel.charts)
    assert panel.gpu_note.isHidden()


@pytest.mark.parametrize(
    ("bytes_per_sec", "text"),
    [
        (0, "0 KB/s"),
        (12_800, "12 KB/s"),
        (1.5 * 1024**2, "1.50 MB/s"),
        (42.25 * 1024**2, "42.2 MB/s"),
        (812 * 1024**2, "812 MB/s"),
        (None, "—"),
    ],
)
def test_rates_read_in_the_units_an_operator_expects(bytes_per_sec: float | None, text: str) -> None:
    assert rate(bytes_per_sec) == text


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.3, 1), (1.2, 2), (3, 5), (7, 10), (42, 50), (180, 200)]
)
def test_rate_charts_scale_in_steps_of_1_2_5(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == ceiling


def test_time_axis_is_labelled_with_units_up_to_now() -> None:
    assert [text for _, text in time_ticks(600)] == ["−8 min", "−6 min", "−4 min", "−2 min", "now"]
    assert time_ticks(60)[0] == (-50.0, "−50 s")


# -- Sparkline --


def accent_pixels(line: Sparkline) -> int:
    """How many pixels of the drawn widget are (close to) the accent colour."""
    image = line.grab().toImage()
    accent = QColor(ACCENT)
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if (
                abs(pixel.red() - accent.red())
                + abs(pixel.green() - accent.green())
                + abs(pixel.blue() - accent.blue())
                < 40
            ):
                count += 1
    return count


def test_sparkline_keeps_the_last_n_values(qtbot: QtBot) -> None:
    line = Sparkline(5)
    qtbot.addWidget(line)
    for value in range(8):
        line.add(float(value))
    assert line.values() == [3.0, 4.0, 5.0, 6.0, 7.0]
    line.add(None)
    assert line.values() == [4.0, 5.0, 6.0, 7.0, None]
    line.set_values([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert line.values() == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert line.height() == 36


def test_sparkline_draws_its_line_in_the_accent_colour(qtbot: QtBot) -> None:
    line = Sparkline(60, value_range=(0, 100))
    qtbot.addWidget(line)
    line.resize(200, 36)
    assert accent_pixels(line) == 0  # nothing to draw yet

    line.set_values([10.0, 80.0, None, 40.0, 120.0, 55.0] * 10)  # gaps and out-of-range values too

    assert accent_pixels(line) > 50


def test_the_sidebar_opens_the_system_panel(desktop: DesktopApp, base: SystemSample) -> None:
    window = desktop.window
    assert window is not None
    window.show_section("system")
    system = window.panels["system"]
    assert isinstance(system, SystemPanel)
    assert not system.paused
    assert "cpu" in system.charts

    window.show_section("dashboard")
    assert system.paused


def test_dashboard_sparklines_move_with_each_sample(
    desktop: DesktopApp, base: SystemSample, qloop: BatchedQEventLoop
) -> None:
    assert desktop.window is not None
    dashboard = desktop.window.panels["dashboard"]
    sparklines = dashboard.sparklines  # type: ignore[attr-defined]
    labels = dashboard.spark_labels  # type: ignore[attr-defined]
    cpu_before = len(sparklines["cpu"].values())

    publish(desktop, variant(base, 1, cpu=37.0))
    wait_until(qloop, lambda: labels["cpu"].text() == "CPU  37 %")
    assert sparklines["cpu"].values()[-1] == 37.0
    assert len(sparklines["cpu"].values()) == min(cpu_before + 1, 60)
    assert labels["gpu"].text() == "GPU  none found"

    publish(desktop, variant(base, 2, gpus=[fake_gpu(utilization=66.0, temperature=70.0)]))
    wait_until(qloop, lambda: labels["gpu"].text() == "GPU  66 % · 70 °C")
    assert sparklines["gpu"].values()[-1] == 66.0


def test_a_stretched_sparkline_spreads_a_short_history_over_its_width(qtbot: QtBot) -> None:
    def drawn_columns(line: Sparkline) -> int:
        image = line.grab().toImage()
        accent = QColor(ACCENT)
        return sum(
            any(
                abs(image.pixelColor(x, y).red() - accent.red())
                + abs(image.pixelColor(x, y).blue() - accent.blue())
                < 40
                for y in range(image.height())
            )
            for x in range(image.width())
        )

    slotted, stretched = (
        Sparkline(50, value_range=(0, 100)),
        Sparkline(50, value_range=(0, 100), stretch=True),
    )
    for line in (slotted, stretched):
        qtbot.addWidget(line)
        line.resize(200, 36)
        line.set_values([20.0, 60.0, 40.0])
    assert drawn_columns(slotted) < 20  # three slots at the right edge
    assert drawn_columns(stretched) > 150  # the same three values across the width


@pytest.fixture
def box_ollama() -> Iterator[FakeOllamaThread]:
    """The Ollama of a second host (the router probes it when the host is added)."""
    runner = FakeOllamaThread()
    with runner:
        yield runner


def test_a_host_with_an_agentic_server_can_be_charted_and_this_machine_again(
    panel: SystemPanel,
    desktop: DesktopApp,
    base: SystemSample,
    qloop: BatchedQEventLoop,
    box_ollama: FakeOllamaThread,
) -> None:
    # The window's own API is an agentic-server: the second host's box is this one, seen through HTTP.
    assert desktop.api is not None
    assert desktop.backend is not None
    router = desktop.backend.router
    qloop.run_until_complete(
        router.add_host("gpu-box-2", box_ollama.fake.url, agentic_url=desktop.api.url, agentic_token=API_KEY)
    )
    keep(desktop, [variant(base, k, cpu=20.0) for k in range(1, 31)])
    show(panel, qloop)
    assert panel.machines() == ["This machine", "gpu-box-2"]
    assert panel.machine is None
    local_points = panel.curve_points("cpu.usage_percent")
    assert local_points == 31

    panel.machine_choice.setCurrentIndex(1)  # as the operator picks it

    # Its hour of history (GET .../metrics/history over HTTP), then a point per poll.
    wait_until(qloop, lambda: panel.curve_points("cpu.usage_percent") == local_points)
    assert panel.curve_points("memory.usage_percent") == local_points
    assert panel.machine == "gpu-box-2"
    assert panel.header.subtitle.text().startswith("gpu-box-2 · ")
    assert "from gpu-box-2" in panel.live_label.text()
    # A new sample on the remote (kept, not announced on this window's bus) reaches the charts by polling.
    keep(desktop, [variant(base, 40, cpu=66.0, gpus=[fake_gpu(utilization=91.0)])])
    wait_until(qloop, lambda: panel.curve_points("cpu.usage_percent") == local_points + 1)
    wait_until(qloop, lambda: f"gpu.{GPU}" in panel.charts)
    assert "66.0 %" in panel.value_labels["cpu.usage_percent"].text()
    assert "91.0 %" in panel.value_labels[f"gpu.{GPU}.utilization_percent"].text()
    assert panel.curve_points(f"gpu.{GPU}.utilization_percent") == local_points + 1  # none, then 91 %
    assert panel.remote_note.isHidden()
    # This window's own samples are not drawn over the remote's.
    publish(desktop, variant(base, 41, cpu=5.0))
    wait_until(qloop, lambda: panel.curve_points("cpu.usage_percent") == local_points + 2)  # polled

    panel.set_machine(None)

    assert panel.machine is None
    assert panel.curve_points("cpu.usage_percent") == local_points + 2  # the local history again
    assert "5.0 %" in panel.value_labels["cpu.usage_percent"].text()
    assert not panel.header.subtitle.text().startswith("gpu-box-2")
    assert "from" not in panel.live_label.text()
    publish(desktop, variant(base, 42, cpu=44.0))
    wait_until(qloop, lambda: "44.0 %" in panel.value_labels["cpu.usage_percent"].text())
    assert panel.curve_points("cpu.usage_percent") == local_points + 3


def test_a_host_whose_agentic_server_is_down_or_wrong_says_so_and_is_retried(
    panel: SystemPanel, desktop: DesktopApp, qloop: BatchedQEventLoop, box_ollama: FakeOllamaThread
) -> None:
    assert desktop.api is not None
    assert desktop.backend is not None
    router = desktop.backend.router
    show(panel, qloop)
    assert panel.machines() == ["This machine"]
    # Added while the panel is on screen: the chooser follows the router's host events.
    qloop.run_until_complete(
        router.add_host("gpu-box-3", "http://127.0.0.3:9", agentic_url="http://127.0.0.3:9")
    )
    qloop.run_until_complete(
        # Its "agentic-server" is an Ollama: it answers, but not with metrics.
        router.add_host("gpu-box-4", box_ollama.fake.url, agentic_url=box_ollama.fake.url)
    )
    wait_until(qloop, lambda: panel.machines() == ["This machine", "gpu-box-3", "gpu-box-4"])

    panel.set_machine("gpu-box-3")
    wait_until(qloop, lambda: panel.remote_note.isVisible())
    assert "gpu-box-3's agentic-server at http://127.0.0.3:9 does not answer" in panel.remote_note.text()
    assert "retrying" in panel.remote_note.text()
    assert panel.curve_points("cpu.usage_percent") == 0  # nothing invented
    assert "No figures from gpu-box-3's agentic-server yet" in panel.gpu_note.text()

    panel.set_machine("gpu-box-4")
    wait_until(qloop, lambda: "gpu-box-4" in panel.remote_note.text())
    wrong = f"gpu-box-4's agentic-server at {box_ollama.fake.url} answered HTTP 404"
    assert wrong in panel.remote_note.text()

    panel.set_machine(None)
    assert panel.remote_note.isHidden()
    assert panel.curve_points("cpu.usage_percent") >= 1

    # A removed host leaves the chooser; were it chosen, the panel goes back to this machine.
    panel.set_machine("gpu-box-4")
    qloop.run_until_complete(router.remove_host("gpu-box-4"))
    wait_until(qloop, lambda: panel.machines() == ["This machine", "gpu-box-3"])
    assert panel.machine is None
    with pytest.raises(ValueError, match="no host 'gpu-box-4'"):
        panel.set_machine("gpu-box-4")

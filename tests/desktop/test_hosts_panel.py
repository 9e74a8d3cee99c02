"""The Hosts panel over the real backend and two fake Ollama hosts on loopback: list, add through the
dialog, a host going down, remove with confirmation, refused input, and host names in the model pickers."""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt

from agentic_desktop.panels.chat import ChatPanel
from agentic_desktop.panels.host_dialogs import AddHostDialog
from agentic_desktop.panels.hosts import HostsPanel
from agentic_desktop.panels.hosts_table import COLUMNS, model_label
from agentic_desktop.panels.models import ModelsPanel
from server.services.host_directory import HostView
from tests.conftest import API_KEY
from tests.desktop.conftest import wait_until
from tests.fakes.ollama import FakeModel, FakeOllama, FakeOllamaThread

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop
    from server.backend import Backend

SECOND_MODELS = ("llama3.2:latest", "mistral:7b")


@pytest.fixture
def second_ollama() -> Iterator[FakeOllamaThread]:
    """Another host: llama3.2 (loaded in memory) and mistral, on its own loopback port."""
    fake = FakeOllama(
        models=[
            FakeModel("llama3.2:latest"),
            FakeModel("mistral:7b", family="llama", parameter_size="7.2B", size=4_113_301_824),
        ],
        loaded={"llama3.2:latest": "2099-01-01T00:00:00Z"},
    )
    runner = FakeOllamaThread(fake)
    with runner:
        yield runner


@pytest.fixture
def panel(desktop: DesktopApp, qloop: BatchedQEventLoop) -> HostsPanel:
    """The window's Hosts panel, on screen."""
    assert desktop.window is not None
    desktop.window.show_section("hosts")
    widget = desktop.window.panels["hosts"]
    assert isinstance(widget, HostsPanel)
    wait_until(qloop, lambda: widget.view_of("default") is not None)
    return widget


def backend_of(desktop: DesktopApp) -> Backend:
    assert desktop.backend is not None
    return desktop.backend


def act(qloop: BatchedQEventLoop, action: Callable[[], object], condition: Callable[[], bool]) -> None:
    """Do ``action`` on the running loop, as a click in the app happens, then run until ``condition()``."""

    async def run() -> None:
        result = action()
        if inspect.isawaitable(result):
            await result

    qloop.run_until_complete(run())
    wait_until(qloop, condition)


def cell(panel: HostsPanel, host_id: str, column: str) -> str:
    row = panel.model.row_of(host_id)
    assert row is not None, f"{host_id} is not listed"
    return str(panel.model.index(row, COLUMNS.index(column)).data())


def open_dialog(panel: HostsPanel, qloop: BatchedQEventLoop) -> AddHostDialog:
    act(qloop, panel.on_add_clicked, lambda: isinstance(panel._dialog, AddHostDialog))
    dialog = panel._dialog
    assert isinstance(dialog, AddHostDialog)
    assert dialog.isVisible()
    return dialog


def add_second(desktop: DesktopApp, qloop: BatchedQEventLoop, url: str, host_id: str = "gpu-box-2") -> None:
    """Register the second host straight through the router (tests of other things start here)."""
    qloop.run_until_complete(backend_of(desktop).router.add_host(host_id, url, max_concurrent_requests=2))


def answer(yes: bool, questions: list[str]) -> Callable[[str, str], Awaitable[bool]]:
    async def confirm(title: str, text: str) -> bool:
        questions.append(f"{title}: {text}")
        return yes

    return confirm


def test_the_settings_host_is_listed_healthy_with_its_models(panel: HostsPanel) -> None:
    assert panel.model.ids() == ["default"]
    assert cell(panel, "default", "State") == "Healthy"
    assert cell(panel, "default", "Models") == "3"
    assert cell(panel, "default", "In flight") == "0 / 4"
    assert cell(panel, "default", "Breaker") == "Closed"
    assert cell(panel, "default", "Why") == ""  # the columns say it; the tooltip has the words
    row = panel.model.row_of("default")
    tip = panel.model.index(row, COLUMNS.index("Why")).data(Qt.ItemDataRole.ToolTipRole)
    assert "3 models installed" in tip
    assert panel.hosts_card.value.text() == "1 of 1"
    selected = panel.selected_host()
    assert selected is not None
    assert selected.id == "default"
    assert "llama3.2:latest" in panel.details.toPlainText()
    # The settings' host cannot be removed here (it is configuration): the button says so.
    assert not panel.remove_button.isEnabled()
    assert "OLLAMA_HOST" in panel.remove_button.toolTip()


def test_a_host_added_in_the_dialog_is_listed_with_its_models(
    desktop: DesktopApp, panel: HostsPanel, qloop: BatchedQEventLoop, second_ollama: FakeOllamaThread
) -> None:
    dialog = open_dialog(panel, qloop)
    dialog.host_id.setText("gpu-box-2")
    dialog.url.setText(second_ollama.fake.url)
    dialog.max_concurrent.setValue(2)
    dialog.weight.setValue(2.0)
    dialog.request_types["chat"].setChecked(True)
    assert dialog.validate(everything=True)
    act(qloop, dialog.on_add_clicked, lambda: panel.view_of("gpu-box-2") is not None)

    assert panel.model.ids() == ["default", "gpu-box-2"]
    assert cell(panel, "gpu-box-2", "State") == "Healthy"
    assert cell(panel, "gpu-box-2", "URL") == second_ollama.fake.url.removeprefix("http://")
    assert cell(panel, "gpu-box-2", "Models") == "2"
    assert cell(panel, "gpu-box-2", "Loaded") == "1 · 2.0 GB"  # the fake's size_vram of llama3.2
    assert cell(panel, "gpu-box-2", "In flight") == "0 / 2"
    assert "weight 2 ·" in panel.details.toPlainText()
    assert panel.selected_host().id == "gpu-box-2"  # type: ignore[union-attr]
    details = panel.details.toPlainText()
    assert "mistral:7b" in details
    assert "takes chat" in details
    assert "Added gpu-box-2" in panel.message.text()
    assert panel.hosts_card.value.text() == "2 of 2"
    spec = next(spec for spec in backend_of(desktop).router.specs() if spec.id == "gpu-box-2")
    assert (spec.max_concurrent_requests, spec.weight, spec.supported_request_types) == (2, 2.0, ("chat",))


def test_a_stopped_host_shows_down_with_the_reason_after_a_probe(
    desktop: DesktopApp,
    panel: HostsPanel,
    qloop: BatchedQEventLoop,
    second_ollama: FakeOllamaThread,
    tmp_path: Path,
) -> None:
    add_second(desktop, qloop, second_ollama.fake.url)
    wait_until(qloop, lambda: panel.view_of("gpu-box-2") is not None)
    second_ollama.call(second_ollama.fake.stop())
    assert panel.select_host("gpu-box-2")
    act(qloop, panel.on_test_clicked, lambda: cell(panel, "gpu-box-2", "State") == "Down")

    reason = cell(panel, "gpu-box-2", "Why")
    assert second_ollama.fake.url in reason or "not reachable" in reason.lower(), reason
    assert panel.message.text().startswith("gpu-box-2 is down:")
    assert panel.message.property("state") == "bad"
    assert cell(panel, "default", "State") == "Healthy"
    assert panel.hosts_card.value.text() == "1 of 2"
    assert panel.hosts_card.detail.text() == "healthy · 1 down"
    assert "Down" in panel.details.toPlainText()

    picture = panel.grab()
    assert not picture.isNull()
    assert picture.save(str(tmp_path / "hosts.png"))
    if target := os.environ.get("HOSTS_SCREENSHOT"):  # for looking at it: HOSTS_SCREENSHOT=/tmp/hosts.png
        panel.grab().save(target)


def test_remove_asks_first_and_then_forgets_the_host(
    desktop: DesktopApp,
    panel: HostsPanel,
    qloop: BatchedQEventLoop,
    second_ollama: FakeOllamaThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_second(desktop, qloop, second_ollama.fake.url)
    wait_until(qloop, lambda: panel.view_of("gpu-box-2") is not None)
    assert panel.select_host("gpu-box-2")
    assert panel.remove_button.isEnabled()
    questions: list[str] = []

    monkeypatch.setattr(panel, "confirm", answer(False, questions))
    qloop.run_until_complete(panel.on_remove_clicked())
    assert panel.model.ids() == ["default", "gpu-box-2"]
    assert "Remove host: Remove the host gpu-box-2" in questions[0]
    assert "new calls go to the other hosts" in questions[0]  # what happens to calls is said

    monkeypatch.setattr(panel, "confirm", answer(True, questions))
    act(qloop, panel.on_remove_clicked, lambda: panel.model.ids() == ["default"])
    assert [spec.id for spec in backend_of(desktop).router.specs()] == ["default"]
    assert panel.message.text() == "Removed gpu-box-2; new calls go to the other hosts."


def test_a_bad_url_is_refused_in_the_dialog_and_nothing_is_added(
    desktop: DesktopApp, panel: HostsPanel, qloop: BatchedQEventLoop
) -> None:
    dialog = open_dialog(panel, qloop)
    dialog.host_id.setText("gpu-box-2")
    dialog.url.setText("gpu-box-2:11434")  # no scheme
    assert not dialog.validate(everything=True)
    assert not dialog.add_button.isEnabled()
    assert dialog.url_error.isVisible()
    assert "http://" in dialog.url_error.text()
    if target := os.environ.get("HOSTS_SCREENSHOT"):
        dialog.grab().save(target.replace(".png", "-dialog.png"))

    dialog.url.setText(desktop.settings.ollama_host)  # the settings' host again
    assert not dialog.validate(everything=True)
    assert "already registered as 'default'" in dialog.url_error.text()

    dialog.host_id.setText("bad id!")
    dialog.url.setText("http://127.0.0.1:9")
    assert not dialog.validate(everything=True)
    assert "letters, digits" in dialog.id_error.text()
    dialog.reject()
    assert panel.model.ids() == ["default"]
    assert [spec.id for spec in backend_of(desktop).router.specs()] == ["default"]


def test_the_services_refusal_is_shown_in_the_dialog(
    desktop: DesktopApp, panel: HostsPanel, qloop: BatchedQEventLoop, second_ollama: FakeOllamaThread
) -> None:
    dialog = open_dialog(panel, qloop)
    dialog.host_id.setText("gpu-box-2")
    dialog.url.setText(second_ollama.fake.url)
    assert dialog.validate(everything=True)
    # Meanwhile someone registers the same id through the API: the router refuses the dialog's try.
    add_second(desktop, qloop, "http://127.0.0.2:1", host_id="gpu-box-2")
    act(qloop, dialog.on_add_clicked, lambda: dialog.form_error.isVisible())
    assert dialog.form_error.text() == "A host with the id 'gpu-box-2' is already registered"
    assert dialog.isVisible()  # left open for a correction
    assert dialog.add_button.isEnabled()
    assert [view.url for view in backend_of(desktop).router.views()][1] == "http://127.0.0.2:1"
    dialog.reject()


def test_the_refresh_timer_runs_only_while_the_panel_is_on_screen(
    desktop: DesktopApp, panel: HostsPanel
) -> None:
    assert panel.timer.isActive()
    assert desktop.window is not None
    desktop.window.show_section("dashboard")
    assert not panel.timer.isActive()
    desktop.window.show_section("hosts")
    assert panel.timer.isActive()


def test_model_pickers_name_the_hosts_that_have_each_model(
    desktop: DesktopApp, qloop: BatchedQEventLoop, second_ollama: FakeOllamaThread
) -> None:
    assert desktop.window is not None
    add_second(desktop, qloop, second_ollama.fake.url)
    chat = desktop.window.panels["chat"]
    assert isinstance(chat, ChatPanel)
    qloop.run_until_complete(chat._load_models())
    picker = chat.model_picker
    entries = {picker.itemData(i): picker.itemText(i) for i in range(picker.count())}
    assert entries["llama3.2:latest"] == "llama3.2:latest — default, gpu-box-2"
    assert entries["qwen2.5:7b"] == "qwen2.5:7b — default"
    assert entries["mistral:7b"] == "mistral:7b — gpu-box-2"
    picker.setCurrentIndex(picker.findData("mistral:7b"))
    assert chat._picked_model() == "mistral:7b"  # the name, not the decorated text

    # The second host goes down: the picker says so without reloading.
    second_ollama.call(second_ollama.fake.stop())
    qloop.run_until_complete(backend_of(desktop).router.test_host("gpu-box-2"))
    wait_until(qloop, lambda: "gpu-box-2 (down)" in picker.itemText(picker.findData("mistral:7b")))

    # The Models panel lists the hosts in a filter and says where pulls go.
    models = desktop.window.panels["models"]
    assert isinstance(models, ModelsPanel)
    assert not models.host_filter.isHidden()
    assert [models.host_filter.itemData(i) for i in range(models.host_filter.count())] == [
        None,
        "default",
        "gpu-box-2",
    ]
    assert "2 Ollama hosts" in models.header.subtitle.text()


def test_one_host_leaves_the_model_names_bare() -> None:
    only = HostView(
        id="default", url="http://x:1", state="healthy", reason="", models=("a:latest",), loaded=()
    )
    assert model_label("a:latest", [only]) == ("a:latest", "a:latest is installed on default")
    assert model_label("a", [only])[1] == "a is installed on default"  # a missing tag means :latest


def test_keyboard_f5_probes_ctrl_n_adds_and_delete_removes(
    desktop: DesktopApp,
    panel: HostsPanel,
    qloop: BatchedQEventLoop,
    qtbot: QtBot,
    second_ollama: FakeOllamaThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_second(desktop, qloop, second_ollama.fake.url)
    wait_until(qloop, lambda: panel.view_of("gpu-box-2") is not None)
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow)
    assert panel.select_host("gpu-box-2")
    panel.table.setFocus()

    second_ollama.call(second_ollama.fake.stop())
    qtbot.keyClick(panel.table, Qt.Key.Key_F5)
    wait_until(qloop, lambda: cell(panel, "gpu-box-2", "State") == "Down")

    questions: list[str] = []
    monkeypatch.setattr(panel, "confirm", answer(True, questions))
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    wait_until(qloop, lambda: panel.model.ids() == ["default"])
    assert len(questions) == 1

    qtbot.keyClick(panel.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    wait_until(qloop, lambda: panel._dialog is not None and panel._dialog.isVisible())
    assert isinstance(panel._dialog, AddHostDialog)
    panel._dialog.reject()


def test_a_hosts_agentic_server_figures_show_in_the_details_or_why_not(
    desktop: DesktopApp, panel: HostsPanel, qloop: BatchedQEventLoop, second_ollama: FakeOllamaThread
) -> None:
    # The window's own API is an agentic-server on this box: register the second host with it.
    assert desktop.api is not None
    router = backend_of(desktop).router
    qloop.run_until_complete(
        router.add_host(
            "gpu-box-2", second_ollama.fake.url, agentic_url=desktop.api.url, agentic_token=API_KEY
        )
    )
    wait_until(qloop, lambda: panel.select_host("gpu-box-2"))
    panel.refresh()
    wait_until(qloop, lambda: "CPU " in panel.details.toPlainText())
    box = next(line for line in panel.details.toPlainText().splitlines() if line.startswith("Box"))
    assert desktop.api.url in box
    assert "memory " in box

    # One whose agentic-server does not answer says so.
    qloop.run_until_complete(
        router.add_host("gpu-box-3", "http://127.0.0.3:9", agentic_url="http://127.0.0.3:9")
    )
    wait_until(qloop, lambda: panel.select_host("gpu-box-3"))
    panel.refresh()
    wait_until(qloop, lambda: "not reachable" in panel.details.toPlainText().split("Box", 1)[-1])

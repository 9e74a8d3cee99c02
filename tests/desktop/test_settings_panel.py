"""Settings panel: the web client folder, chosen and cleared through config.toml."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from agentic_desktop.panels.settings import WebClientField
from server.config import Settings
from tests.desktop.conftest import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from pytestqt.qtbot import QtBot

    from agentic_desktop.app import DesktopApp
    from agentic_desktop.loop import BatchedQEventLoop

EXISTING_CONFIG = '# my settings\nport = 8080\n\n[extra]\nnote = "kept"\n'


def built_client(tmp_path: Path) -> Path:
    folder = tmp_path / "client" / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html>", encoding="utf-8")
    return folder


def web_client_field(desktop: DesktopApp) -> WebClientField:
    assert desktop.window is not None
    field = desktop.window.panels["settings"].web_client  # type: ignore[attr-defined]
    assert isinstance(field, WebClientField)
    return field


def test_choosing_a_folder_writes_config_toml_for_the_next_start(
    desktop: DesktopApp,
    qloop: BatchedQEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = built_client(tmp_path)
    config = desktop.settings.config_file
    config.write_text(EXISTING_CONFIG, encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    field = web_client_field(desktop)
    assert field.folder.text() == "not served"
    assert not field.link.isVisibleTo(field)

    qtbot.mouseClick(field.choose_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: field.status.isVisibleTo(field) and field.choose_button.isEnabled())

    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written == {"port": 8080, "web_root": str(folder.resolve()), "extra": {"note": "kept"}}
    assert config.read_text(encoding="utf-8").startswith("# my settings\n")
    assert "next start" in field.status.text()
    assert str(folder.resolve()) in field.status.text()
    assert field.status.property("state") == "ok"
    # This run still serves what it started with.
    assert field.folder.text() == "not served"
    # And the next start picks it up.
    assert Settings(data_dir=desktop.settings.data_dir).web_root == folder.resolve()


def test_a_folder_without_index_html_is_refused_and_nothing_written(
    desktop: DesktopApp,
    qloop: BatchedQEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = tmp_path / "client"
    sources.mkdir()
    config = desktop.settings.config_file
    config.write_text(EXISTING_CONFIG, encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(sources))
    field = web_client_field(desktop)

    qtbot.mouseClick(field.choose_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: field.status.isVisibleTo(field) and field.choose_button.isEnabled())

    assert "has no index.html" in field.status.text()
    assert field.status.property("state") == "bad"
    assert config.read_text(encoding="utf-8") == EXISTING_CONFIG


def test_cancelling_the_dialog_changes_nothing(
    desktop: DesktopApp, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: "")
    field = web_client_field(desktop)
    qtbot.mouseClick(field.choose_button, Qt.MouseButton.LeftButton)
    assert not field.status.isVisibleTo(field)
    assert field.choose_button.isEnabled()
    assert not desktop.settings.config_file.exists()


def test_clear_removes_web_root_and_keeps_the_rest(
    desktop: DesktopApp, qloop: BatchedQEventLoop, qtbot: QtBot, tmp_path: Path
) -> None:
    folder = built_client(tmp_path)
    config = desktop.settings.config_file
    config.write_text(f"web_root = '{folder}'\n{EXISTING_CONFIG}", encoding="utf-8")
    field = web_client_field(desktop)

    qtbot.mouseClick(field.clear_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: field.status.isVisibleTo(field) and field.clear_button.isEnabled())

    assert config.read_text(encoding="utf-8") == EXISTING_CONFIG
    assert "next start" in field.status.text()


def test_a_served_client_shows_its_folder_and_a_link(qapp: object, tmp_path: Path) -> None:
    folder = built_client(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", web_root=folder)
    field = WebClientField(settings, "http://127.0.0.1:8123")
    assert field.folder.text() == str(folder.resolve())
    assert field.link.isVisibleTo(field)
    assert field.link.openExternalLinks()
    assert 'href="http://127.0.0.1:8123/"' in field.link.text()


def test_settings_say_where_the_vault_master_key_lives(desktop: DesktopApp) -> None:
    assert desktop.window is not None
    assert desktop.backend is not None
    text = desktop.window.panels["settings"].vault_field.text()  # type: ignore[attr-defined]
    assert text.startswith("key file (0600): the file ")  # the test environment pins the file backend
    assert str(desktop.backend.settings.data_dir / "vault-master-key") in text

"""Settings precedence: flags > environment > config.toml in the data dir > defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from server.cli import build_parser, settings_from_args
from server.config import Settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "config.toml").write_text(
        'port = 9001\nollama_host = "http://file-host:11434"\nlog_level = "debug"\n'
        'cors_origins = ["http://from-file:3000"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("AGENTIC_DATA_DIR", str(directory))
    return directory


def test_defaults_are_the_launch_contract() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.ollama_host) == (
        "127.0.0.1",
        8000,
        "http://127.0.0.1:11434",
    )
    assert settings.security_level == "moderate"
    assert settings.cors_origins == []


def test_config_file_in_data_dir_beats_defaults(config_dir: Path) -> None:
    settings = Settings.from_cli({})
    assert settings.port == 9001
    assert settings.ollama_host == "http://file-host:11434"
    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ["http://from-file:3000"]


def test_environment_beats_config_file(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_PORT", "9002")
    monkeypatch.setenv("OLLAMA_HOST", "http://env-host:11434")
    settings = Settings.from_cli({})
    assert settings.port == 9002
    assert settings.ollama_host == "http://env-host:11434"


def test_flags_beat_environment(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_PORT", "9002")
    args = build_parser("test", "").parse_args(
        ["--port", "9003", "--cors-origin", "http://a:1", "--cors-origin", "http://b:2/"]
    )
    settings = settings_from_args(args)
    assert settings.port == 9003
    assert settings.cors_origins == ["http://a:1", "http://b:2"]


def test_flag_data_dir_picks_that_dirs_config_file(config_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.toml").write_text("port = 7777\n", encoding="utf-8")
    args = build_parser("test", "").parse_args(["--data-dir", str(other)])
    settings = settings_from_args(args)
    assert settings.port == 7777
    assert settings.data_dir == other.resolve()


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("API_KEY", "spec-key", "api_key", "spec-key"),
        ("AGENTIC_API_KEY", "our-key", "api_key", "our-key"),
        ("SECURITY_LEVEL", "strict", "security_level", "strict"),
        ("LOG_LEVEL", "warning", "log_level", "WARNING"),
        ("AGENTIC_ADMIN_USER", "root", "admin_user", "root"),
        ("AGENTIC_DATABASE_URL", "sqlite+aiosqlite:///x.db", "database_url", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_spec_and_agentic_variable_names_are_read(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    actual = getattr(Settings(), field)
    assert (actual.get_secret_value() if hasattr(actual, "get_secret_value") else actual) == expected


def test_agentic_name_wins_over_spec_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "spec-key")
    monkeypatch.setenv("AGENTIC_API_KEY", "our-key")
    assert Settings().api_key is not None
    assert Settings().api_key.get_secret_value() == "our-key"  # type: ignore[union-attr]


def test_comma_separated_cors_origins_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_CORS_ORIGINS", "http://a:3000, http://b:5173/")
    assert Settings().cors_origins == ["http://a:3000", "http://b:5173"]


def test_invalid_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_PORT", "70000")
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        Settings()


def test_jwt_secret_from_environment_must_be_long_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().jwt_secret is None  # default: generated into the data dir's jwt-secret file
    monkeypatch.setenv("AGENTIC_JWT_SECRET", "s" * 40)
    secret = Settings().jwt_secret
    assert secret is not None
    assert secret.get_secret_value() == "s" * 40
    monkeypatch.setenv("AGENTIC_JWT_SECRET", "too-short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings()


def test_sqlite_in_data_dir_is_the_default_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'agentic.db'}"


def test_web_root_from_flag_environment_and_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def built(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "index.html").write_text(name, encoding="utf-8")
        return folder

    data = tmp_path / "data-cfg"
    data.mkdir()
    from_file = built("from-file")
    (data / "config.toml").write_text(f"web_root = {str(from_file)!r}\n", encoding="utf-8")
    monkeypatch.setenv("AGENTIC_DATA_DIR", str(data))
    assert Settings.from_cli({}).web_root == from_file.resolve()

    from_env = built("from-env")
    monkeypatch.setenv("AGENTIC_WEB_ROOT", str(from_env))
    assert Settings.from_cli({}).web_root == from_env.resolve()

    other = built("from-flag")
    args = build_parser("test", "").parse_args(["--web-root", str(other)])
    assert settings_from_args(args).web_root == other.resolve()


def test_empty_web_root_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_WEB_ROOT", "")
    assert Settings().web_root is None

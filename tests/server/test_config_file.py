"""Editing one key of config.toml: the rest of the file is kept, the result is valid TOML."""

from __future__ import annotations

import stat
import tomllib
from typing import TYPE_CHECKING

import pytest

from server.config_file import ConfigFileError, dumps, set_config_value

if TYPE_CHECKING:
    from pathlib import Path


def test_adds_a_key_to_a_new_private_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "config.toml"
    set_config_value(path, "web_root", "/srv/client/dist")
    assert path.read_text(encoding="utf-8") == 'web_root = "/srv/client/dist"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_adds_before_the_first_table_keeping_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('# mine\nport = 8080  # the port\n\n[table]\nkey = "v"', encoding="utf-8")
    set_config_value(path, "web_root", "/x")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# mine\nport = 8080  # the port\n")
    assert tomllib.loads(text) == {"port": 8080, "web_root": "/x", "table": {"key": "v"}}


def test_replaces_and_removes_the_key_in_place(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("port = 1\nweb_root = '/old'\nhost = \"h\"\n", encoding="utf-8")
    set_config_value(path, "web_root", "/new")
    assert path.read_text(encoding="utf-8") == 'port = 1\nweb_root = "/new"\nhost = "h"\n'
    set_config_value(path, "web_root", None)
    assert path.read_text(encoding="utf-8") == 'port = 1\nhost = "h"\n'
    set_config_value(path, "web_root", None)
    assert path.read_text(encoding="utf-8") == 'port = 1\nhost = "h"\n'


def test_a_key_inside_a_table_is_not_the_top_level_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[other]\nweb_root = 'nested'\n", encoding="utf-8")
    set_config_value(path, "web_root", "/top")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "web_root": "/top",
        "other": {"web_root": "nested"},
    }


def test_a_multi_line_value_falls_back_to_a_full_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('web_root = """\n/a\n"""\ncors_origins = [\n  "http://a",\n]\n', encoding="utf-8")
    set_config_value(path, "web_root", "/b")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "web_root": "/b",
        "cors_origins": ["http://a"],
    }


def test_strings_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    awkward = 'C:\\Users\\op\\"dist"\n\t\x01é'
    set_config_value(path, "web_root", awkward)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["web_root"] == awkward


def test_invalid_toml_is_left_alone_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("port = = 1\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match="is not valid TOML"):
        set_config_value(path, "web_root", "/x")
    assert path.read_text(encoding="utf-8") == "port = = 1\n"


def test_dumps_round_trips_what_tomllib_reads() -> None:
    document = {
        "port": 8080,
        "ratio": 0.5,
        "on": True,
        "cors_origins": ["http://a:1", "http://b:2"],
        "odd key": "v",
        "table": {"nested": {"x": 1}, "list": [1, 2]},
    }
    assert tomllib.loads(dumps(document)) == document

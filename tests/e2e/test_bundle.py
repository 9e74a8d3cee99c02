"""The PyInstaller bundle (build.spec): build it once, then run both of its programs as a user would.

``agentic-server`` serves the API headless, without Qt, runs a task against the fake Ollama and exits 0
on SIGTERM; ``agentic-desktop`` opens its window offscreen (and, where Xvfb and xdotool exist, on a
real X server, where Ctrl+N opens the System panel and its charts load pyqtgraph and numpy) with the
API and its offline docs inside, and quits cleanly. Slow (the build takes minutes): marked ``bundle``;
``python -m pytest -m "not bundle"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, API_KEY
from tests.processes import child_env, wait_for_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.fakes.ollama import FakeOllama

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.timeout(1200),  # the first test also builds the bundle
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the bundle is built and tested on Linux"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "agentic-desktop"
PROGRAMS = ("agentic-desktop", "agentic-server")
SOURCES = ("server", "agentic_desktop", "resources", "build.spec", "pyproject.toml")
DEADLINE = 60.0
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Qt and Python say these when something is wrong; a clean run prints none of them.
BAD_OUTPUT = ("Traceback", "QObject", "QWidget", "QThread", "Unclosed", "was never awaited", "qt.qpa.plugin")


def newest_source() -> float:
    """The newest modification time among the files the bundle is built from."""
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else path.rglob("*")
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


def bundle_is_fresh() -> bool:
    programs = [BUNDLE / name for name in PROGRAMS]
    if not all(program.exists() for program in programs):
        return False
    return min(program.stat().st_mtime for program in programs) > newest_source()


@pytest.fixture(scope="module")
def bundle() -> Path:
    """dist/agentic-desktop, built from the current sources (reused when newer than all of them)."""
    if not bundle_is_fresh():
        pytest.importorskip(
            "PyInstaller", reason="the bundle extra is not installed: pip install -e '.[bundle]'"
        )
        result = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "build.spec"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-20000:]
    for name in PROGRAMS:
        assert os.access(BUNDLE / name, os.X_OK), f"{name} is missing from {BUNDLE}"
    return BUNDLE


def bundle_env(ollama_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A child's environment: the fake Ollama, the test credentials, and nothing from a Python install."""
    env = child_env(ollama_url, XDG_RUNTIME_DIR=str(tmp_path), **extra)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_KEYRING_BACKEND", "QT_PLUGIN_PATH"):
        env.pop(name, None)
    # Away from the .venv, so that nothing can be found there by accident.
    env["PATH"] = "/usr/bin:/bin"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, what: str, process: subprocess.Popen[bytes], log: Path) -> Any:
    """Poll ``check()`` until it returns something truthy, the process dies, or the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"exited with {process.returncode} while waiting for {what}:\n{log.read_text()}"
            )
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {DEADLINE}s:\n{log.read_text()}")


@contextmanager
def run(program: Path, args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``program`` from a neutral folder with stderr to ``log``; killed if the test leaves it."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(program), *args], cwd=log.parent, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def health(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def loaded_libraries(pid: int) -> str:
    """The files mapped into a process (its shared libraries, among others)."""
    return Path(f"/proc/{pid}/maps").read_text()


def check_docs(url: str) -> None:
    """/docs and /redoc are served with their assets from the bundle's resources/ folder."""
    page = httpx.get(f"{url}/docs", timeout=10)
    assert page.status_code == 200
    assert "/docs/static/swagger-ui/swagger-ui-bundle.js" in page.text
    for asset, size in (
        ("swagger-ui/swagger-ui-bundle.js", 100_000),
        ("swagger-ui/swagger-ui.css", 10_000),
        ("swagger-init.js", 10),
        ("redoc/redoc.standalone.js", 100_000),
    ):
        response = httpx.get(f"{url}/docs/static/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert len(response.content) > size, asset
    redoc = httpx.get(f"{url}/redoc", timeout=10)
    assert redoc.status_code == 200
    assert "/docs/static/redoc/redoc.standalone.js" in redoc.text
    assert httpx.get(f"{url}/openapi.json", timeout=10).json()["openapi"].startswith("3.1")


def test_bundle_holds_two_programs_resources_and_migrations_but_no_unused_heavy_parts(bundle: Path) -> None:
    internal = bundle / "_internal"
    for path in (
        "resources/icons/app.svg",
        "resources/styles/app.qss",
        "resources/docs/swagger-ui/swagger-ui-bundle.js",
        "resources/docs/redoc/redoc.standalone.js",
        "server/db/migrations/env.py",
        "server/db/migrations/script.py.mako",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
    ):
        assert (internal / path).is_file(), path
    revisions = sorted(p.name for p in (ROOT / "server/db/migrations/versions").glob("*.py"))
    bundled = sorted(p.name for p in (internal / "server/db/migrations/versions").glob("*.py"))
    assert bundled == revisions
    entry = (bundle / "agentic-desktop.desktop").read_text().splitlines()
    assert "Exec=/opt/agentic-desktop/agentic-desktop" in entry
    assert "Icon=agentic-desktop" in entry
    assert (bundle / "agentic-desktop.png").read_bytes().startswith(b"\x89PNG")
    names = {path.name for path in internal.iterdir()}
    # The semantic index: chromadb and its Rust core, but not what only its default embedding model,
    # its server or its distributed deployment would use.
    assert (internal / "chromadb").is_dir()
    assert (internal / "chromadb_rust_bindings").is_dir()
    for unused in (
        "onnxruntime",
        "tokenizers",
        "kubernetes",
        "huggingface_hub",
        "chromadb/test",
        "PySide6/Qt/qml",
        "PySide6/Qt/translations",
    ):
        assert not (internal / unused).exists(), unused
    assert not {name for name in names if name.startswith(("libQt6WebEngine", "libQt6Qml", "libQt6Quick"))}
    assert not [link for link in internal.iterdir() if link.is_symlink() and not link.exists()]
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())
    # chromadb's Rust core (~60 MB) and grpc (~20 MB, imported by its telemetry) came with semantic search.
    assert size < 400 * 2**20, f"the bundle is {size / 2**20:.0f} MB"


def test_bundled_server_runs_a_task_then_exits_0_on_sigterm(
    bundle: Path, tmp_path: Path, ollama_thread: FakeOllama
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # No D-Bus session: keyring is imported and asked for a backend, and none is usable (nor is the
    # developer's own keyring touched).
    env = bundle_env(ollama_thread.url, tmp_path, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    log = tmp_path / "agentic-server.log"
    args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--ollama-host"]
    with run(bundle / "agentic-server", [*args, ollama_thread.url], env, log) as server:
        wait_until(lambda: health(url), "healthy /api/v1/health", server, log)
        assert json.loads((data_dir / "runtime.json").read_text())["url"] == url
        assert "libQt6Core" not in loaded_libraries(server.pid), "the headless program loaded Qt"

        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/api/v1/ready").status_code == 200
            agent = client.post(
                "/api/v1/agents/create",
                headers=AUTH,
                json={"name": "Bundled", "model_name": "llama3.2:latest", "config": {"temperature": 0.1}},
            )
            assert agent.status_code == 200, agent.text
            agent_id = agent.json()["id"]
            task = client.post(
                "/api/v1/tasks/run",
                headers=AUTH,
                json={
                    "agent_id": agent_id,
                    "input": {"type": "generate", "prompt": "Say hello from a bundle"},
                },
            )
            assert task.status_code == 202, task.text

            def finished() -> dict[str, Any] | None:
                status = client.get(f"/api/v1/tasks/{task.json()['id']}/status").json()
                return status if status["status"] in ("completed", "failed", "cancelled") else None

            done = wait_until(finished, "finished task", server, log)
            assert done["status"] == "completed", done
            assert done["output"]["response"] == "Reply from llama3.2:latest about: Say hello from a bundle"

            # argon2 (login), cryptography (the vault), psutil and pynvml (metrics), all imported lazily.
            login = client.post(
                "/api/v1/auth/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            token = {"Authorization": f"Bearer {login.json()['access_token']}"}
            secret = client.post(
                f"/api/v1/agents/{agent_id}/secrets",
                headers=token,
                json={"secret_key": "imap_password", "secret_value": "s3cret-in-a-bundle"},
            )
            assert secret.status_code == 201, secret.text
            revealed = client.get(
                f"/api/v1/agents/{agent_id}/secrets/{secret.json()['id']}",
                params={"decrypt": "true"},
                headers=AUTH,
            )
            assert revealed.json()["decrypted_value"] == "s3cret-in-a-bundle"
            metrics = client.get("/api/v1/system/metrics").json()
            assert metrics["memory"]["total_gb"] > 0
            assert isinstance(client.get("/api/v1/system/metrics/gpu").json(), list)
            check_docs(url)

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    stderr = log.read_text()
    for bad in BAD_OUTPUT:
        assert bad not in stderr, stderr
    assert "cannot be imported" not in stderr, stderr  # keyring, found and asked
    assert "Backend stopped" in stderr
    assert not (data_dir / "runtime.json").exists()


def test_bundled_server_indexes_and_searches_with_embedded_chromadb(
    bundle: Path, tmp_path: Path, ollama_thread: FakeOllama
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = bundle_env(ollama_thread.url, tmp_path, AGENTIC_VAULT_BACKEND="file")
    log = tmp_path / "agentic-server.log"
    args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--ollama-host"]
    with run(bundle / "agentic-server", [*args, ollama_thread.url], env, log) as server:
        wait_until(lambda: health(url), "healthy /api/v1/health", server, log)
        with httpx.Client(base_url=url, timeout=30, headers=AUTH) as client:
            texts = {
                "rockets": "Rockets burn fuel to launch satellites into orbit.",
                "bread": "Knead the dough and bake the bread.",
            }
            stored = client.post(
                "/api/v1/semantic/embed",
                json={"texts": list(texts.values()), "store": True, "ids": list(texts)},
            )
            assert stored.status_code == 200, stored.text
            found = client.post("/api/v1/semantic/search", json={"query": "launch a rocket", "top_k": 2})
            assert found.status_code == 200, found.text
            assert found.json()["results"][0]["item_id"] == "rockets"
        # The embedded store runs in a child process of the same program (spawned through
        # multiprocessing's freeze_support); chromadb is loaded there, never in the server itself.
        # (multiprocessing may also start its resource tracker beside it.)
        children = psutil.Process(server.pid).children()
        [store] = [child for child in children if "chromadb_rust_bindings" in loaded_libraries(child.pid)]
        assert "chromadb_rust_bindings" not in loaded_libraries(server.pid)
        assert "onnxruntime" not in loaded_libraries(store.pid)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not store.is_running(), "the vector store child must end with the server"
    assert (data_dir / "chroma").is_dir()
    stderr = log.read_text()
    for bad in BAD_OUTPUT:
        assert bad not in stderr, stderr


def test_bundled_desktop_serves_offscreen_and_quits_cleanly(
    bundle: Path, tmp_path: Path, ollama_thread: FakeOllama
) -> None:
    data_dir = tmp_path / "data"
    env = bundle_env(ollama_thread.url, tmp_path, AGENTIC_VAULT_BACKEND="file", QT_QPA_PLATFORM="offscreen")
    log = tmp_path / "agentic-desktop.log"
    args = ["--port", "0", "--data-dir", str(data_dir)]
    with run(bundle / "agentic-desktop", args, env, log) as desktop:
        url = wait_for_runtime(desktop, data_dir, log)
        assert health(url)
        assert httpx.get(f"{url}/api/v1/ready", timeout=10).status_code == 200
        check_docs(url)
        desktop.send_signal(signal.SIGTERM)
        assert desktop.wait(timeout=30) == 0
    stderr = log.read_text()
    for bad in (*BAD_OUTPUT, "WARNING"):
        assert bad not in stderr, stderr
    assert "Agentic Desktop closed" in stderr
    assert not (data_dir / "runtime.json").exists()


@contextmanager
def xvfb(tmp_path: Path) -> Iterator[str]:
    """An X server of its own; yields its DISPLAY."""
    read, write = os.pipe()
    with (tmp_path / "xvfb.log").open("wb") as stderr:
        process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            display = numbers.readline().strip()
        assert display, (tmp_path / "xvfb.log").read_text()
        yield f":{display}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool")
def test_bundled_desktop_on_x11_opens_the_system_panel_with_its_charts(
    bundle: Path, tmp_path: Path, ollama_thread: FakeOllama
) -> None:
    from agentic_desktop.main_window import SECTIONS

    shortcut = f"ctrl+{[key for key, _, _ in SECTIONS].index('system') + 1}"
    data_dir = tmp_path / "data"
    with xvfb(tmp_path) as display:
        env = bundle_env(
            ollama_thread.url, tmp_path, AGENTIC_VAULT_BACKEND="file", QT_QPA_PLATFORM="xcb", DISPLAY=display
        )
        log = tmp_path / "agentic-desktop.log"
        with run(
            bundle / "agentic-desktop", ["--port", "0", "--data-dir", str(data_dir)], env, log
        ) as desktop:
            url = wait_for_runtime(desktop, data_dir, log)
            assert health(url)
            assert "libqxcb.so" in loaded_libraries(desktop.pid)

            def window() -> str:
                found = subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--name", "^Agentic Desktop$"],
                    env={"DISPLAY": display},
                    capture_output=True,
                    text=True,
                    check=False,
                )
                return found.stdout.split()[0] if found.stdout.split() else ""

            window_id = wait_until(window, "window on the X server", desktop, log)
            # The System panel imports pyqtgraph, and with it numpy, when it is first shown.
            subprocess.run(
                ["xdotool", "windowfocus", "--sync", window_id, "key", "--clearmodifiers", shortcut],
                env={"DISPLAY": display},
                check=True,
                timeout=30,
            )
            wait_until(
                lambda: "_multiarray_umath" in loaded_libraries(desktop.pid), "numpy loaded", desktop, log
            )
            assert health(url)  # a round trip through the window's loop, after the panel was built
            desktop.send_signal(signal.SIGTERM)
            assert desktop.wait(timeout=30) == 0
    stderr = log.read_text()
    for bad in BAD_OUTPUT:
        assert bad not in stderr, stderr
    assert "Agentic Desktop closed" in stderr

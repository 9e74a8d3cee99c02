"""The backend runs headless: importing it never loads Qt."""

from __future__ import annotations

import subprocess
import sys

BACKEND_MODULES = [
    "server",
    "server.__main__",
    "server.backend",
    "server.api.app",
    "server.api.site",
    "server.services.auth",
    "server.services.llm",
    "server.db.migrate",
]


def test_importing_the_backend_loads_no_qt() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {BACKEND_MODULES!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'qasync', 'pyqtgraph', 'agentic_desktop'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_importing_the_backend_does_not_import_heavy_optional_libraries() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {BACKEND_MODULES!r}: importlib.import_module(name)\n"
        "print(','.join(sorted(m for m in ('chromadb', 'numpy', 'pyqtgraph', 'apscheduler', 'feedparser', "
        "'pypdf', 'rich', 'pygments') if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""

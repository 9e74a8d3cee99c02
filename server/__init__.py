"""Agentic Desktop backend: configuration, storage, services and the HTTP/WebSocket API (no Qt)."""

import sys

__version__ = "0.1.0"

# WORKAROUND: httpx imports its command-line tool (httpx._main) whenever click, rich and pygments are
# installed (chromadb brings them), which costs ~6 MB of memory and ~50 ms at every start for a CLI
# this app never runs. A None entry makes that one import fail; httpx then defines a stub `main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

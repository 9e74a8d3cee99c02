"""Agentic Desktop backend: configuration, storage, services and the HTTP/WebSocket API (no Qt)."""

__version__ = "0.1.0"

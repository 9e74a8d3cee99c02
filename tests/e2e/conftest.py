"""End-to-end fixtures: a fake Ollama on its own thread, since the server runs in another process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fakes.ollama import FakeOllama, FakeOllamaThread

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def ollama_thread() -> Iterator[FakeOllama]:
    with FakeOllamaThread() as fake:
        yield fake

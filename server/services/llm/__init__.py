"""The only door to models: a router over one or more Ollama hosts, each behind a gateway.

``gateway`` talks to one Ollama (the official ``ollama`` client); ``hosts`` is the registry of
hosts and their probes; ``router`` picks a host for every call. Everything code imported from the
former ``server.services.llm`` module is re-exported here.
"""

from server.services.llm.gateway import (
    NS,
    Chunk,
    Embeddings,
    Generation,
    InstalledModel,
    ModelDetails,
    OllamaGateway,
    OllamaStatus,
    PullProgress,
    RunningModel,
    collect,
    describe_failure,
)
from server.services.llm.hosts import DEFAULT_HOST_ID, Host, HostSpec, HostStore
from server.services.llm.router import Choice, Router

__all__ = [
    "DEFAULT_HOST_ID",
    "NS",
    "Choice",
    "Chunk",
    "Embeddings",
    "Generation",
    "Host",
    "HostSpec",
    "HostStore",
    "InstalledModel",
    "ModelDetails",
    "OllamaGateway",
    "OllamaStatus",
    "PullProgress",
    "Router",
    "RunningModel",
    "collect",
    "describe_failure",
]

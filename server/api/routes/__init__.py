"""Route modules, one per domain; ``REGISTRIES`` is what the app factory installs."""

from server.api.routes import (
    agents,
    auth,
    chat,
    dashboard,
    health,
    logs,
    ollama,
    openai_compat,
    secrets,
    security,
    system,
    tasks,
)

REGISTRIES = (
    health.routes,
    auth.routes,
    ollama.routes,
    agents.routes,
    secrets.routes,
    tasks.routes,
    logs.routes,
    chat.routes,
    system.routes,
    security.routes,
    dashboard.routes,
    openai_compat.routes,
)

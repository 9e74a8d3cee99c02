"""Route modules, one per domain; ``REGISTRIES`` is what the app factory installs."""

from server.api.routes import agents, auth, health, logs, ollama, secrets, system, tasks

REGISTRIES = (
    health.routes,
    auth.routes,
    ollama.routes,
    agents.routes,
    secrets.routes,
    tasks.routes,
    logs.routes,
    system.routes,
)

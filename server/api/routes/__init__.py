"""Route modules, one per domain; ``REGISTRIES`` is what the app factory installs."""

from server.api.routes import auth, health

REGISTRIES = (health.routes, auth.routes)

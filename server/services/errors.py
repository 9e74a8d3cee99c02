"""The one tree of errors services raise; the API maps each branch to a status code.

AgenticError
├── InvalidInput            400  the request is well-formed but cannot be carried out
│   └── InvalidCredentials  400  wrong username or password (OAuth2 token-endpoint style)
├── FieldError              422  one field's value is refused (e.g. a model that is not installed)
├── Unauthorized            401  missing, invalid, expired or revoked credentials
├── Forbidden               403  authenticated, but not allowed
├── NotFound                404
├── Conflict                409
├── RateLimited             429  carries ``retry_after`` seconds
└── DependencyDown          503  Ollama, the database, ... is not reachable
"""

from __future__ import annotations


class AgenticError(Exception):
    """Base of every error a service raises on purpose; the message is shown to the user."""


class InvalidInput(AgenticError):
    """The request cannot be carried out as asked."""


class InvalidCredentials(InvalidInput):
    """Username or password is wrong, or the account is disabled."""


class FieldError(AgenticError):
    """A field of the request has a value the service refuses; ``field`` is its path in the body."""

    def __init__(self, field: tuple[str | int, ...], message: str, *, where: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.where = where


class Unauthorized(AgenticError):
    """No usable credentials came with the request."""


class Forbidden(AgenticError):
    """The caller is known but lacks the right."""


class NotFound(AgenticError):
    """The thing asked for does not exist."""


class Conflict(AgenticError):
    """The request clashes with what exists."""


class RateLimited(AgenticError):
    """Too many requests; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DependencyDown(AgenticError):
    """Something the backend needs (Ollama, the database) is not answering."""

"""What every connector shares: config validation errors in the API's shape, and source refusals.

Two error kinds sit next to ``base.ConnectorError`` so the API can tell them apart without catching:

- ``BadConfig`` is a ``FieldError`` (422 with the field's path) and an ``InvalidInput``, as
  ``Connector.validate`` promises: the config itself is wrong (a bad URL, an unknown platform).
- ``SourceRefused`` is a ``ConnectorError`` and an ``InvalidInput`` (400): the config is well-formed
  but the source says no to it (a folder that is not there, a password the IMAP server refuses).

Any other ``ConnectorError`` means the source could not be reached (a host down, a timeout).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from server import __version__
from server.services.connectors.base import ConnectorError
from server.services.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    # (name of a vault secret such as "IMAP_PASSWORD", id of the agent whose vault holds it) -> its
    # value, in memory only. Secrets belong to agents, as for tasks and POST /http/request.
    ResolveSecret = Callable[[str, str], Awaitable[str]]

USER_AGENT = f"AgenticDesktop/{__version__}"


class BadConfig(FieldError, InvalidInput):
    """One field of a connector's config is refused; ``field`` is its path inside the config."""


class SourceRefused(ConnectorError, InvalidInput):
    """The source answered, and refused this config (wrong password, not a directory...)."""


class ConfigModel(BaseModel):
    """Base of the connectors' config models: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


def check_config(model: type[ConfigModel], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` validated by ``model`` and dumped back to a JSON-able dict (by field name).

    The first problem becomes a ``BadConfig`` naming the field, so a client sees which key to fix."""
    try:
        return model.model_validate(dict(config)).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = tuple(first["loc"])
        path = ".".join(str(part) for part in where)
        message = first["msg"].removeprefix("Value error, ")
        raise BadConfig(where, f"{path}: {message}" if path else message) from None


def now() -> datetime:
    """Timezone-aware UTC, as every timestamp of the app."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with ``Z`` (the house format), or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""ORM models, one module per domain; importing this package registers them all."""

from server.db.models.users import RevokedTokenRow, UserRow

__all__ = ["RevokedTokenRow", "UserRow"]

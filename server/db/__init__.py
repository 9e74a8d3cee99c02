"""Storage: the async engine, ORM models per domain, and Alembic migrations."""

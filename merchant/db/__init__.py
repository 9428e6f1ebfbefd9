"""The database: engines (SQLite in WAL mode, PostgreSQL by `DATABASE_URL`), the tables, Alembic migrations."""
from __future__ import annotations

from .engine import is_transient, make_engine, writing
from .migrate import migrate, open_database

__all__ = ["is_transient", "make_engine", "migrate", "open_database", "writing"]

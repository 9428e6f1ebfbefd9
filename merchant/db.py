"""Engines and schema upgrades: SQLite in WAL mode by default, PostgreSQL by `DATABASE_URL`, same code."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateColumn
from sqlmodel import SQLModel

from . import tables  # noqa: F401  (registers every table on SQLModel.metadata)

__all__ = ["make_engine", "open_database", "upgrade"]

log = logging.getLogger(__name__)

# Any constant both sides agree on; PostgreSQL serialises concurrent upgrades (N workers starting) on it.
_UPGRADE_LOCK_KEY = 0x4B324D45


def make_engine(url: str, *, lock_timeout: float = 5.0) -> Engine:
    """An engine for `url`; `lock_timeout` bounds how long a write waits on a lock before failing.

    SQLite runs with journal_mode=WAL and synchronous=FULL: a 200 tells K2 to stop retrying, so a commit must
    survive a power cut too, not only a killed process; group commit pays that WAL fsync once per batch."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, lock_timeout)
    engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8, hide_parameters=True)
    milliseconds = int(lock_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _set_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {milliseconds}")
        dbapi_connection.commit()

    return engine


def _sqlite_engine(url: str, database: str | None, lock_timeout: float) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": lock_timeout}, hide_parameters=True
    )
    milliseconds = int(lock_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is switched off; `_begin` below issues it, so DDL is transactional too.
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={milliseconds}", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_database(url: str, *, lock_timeout: float = 5.0) -> Engine:
    """An engine whose schema is current: what every process calls once at start."""
    engine = make_engine(url, lock_timeout=lock_timeout)
    upgrade(engine)
    return engine


def upgrade(engine: Engine) -> None:
    """Create missing tables, columns and indexes, keeping every row; safe when several processes start at once.

    A column added to a table after its first release must be nullable or carry a server default, since
    existing rows get it too; `upgrade` refuses, by name, one that is neither."""
    with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
        SQLModel.metadata.create_all(connection)
        inspector = inspect(connection)
        for table in SQLModel.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable and column.server_default is None:
                    raise RuntimeError(f"cannot add {table.name}.{column.name} to existing rows: it needs a default")
                ddl = CreateColumn(column).compile(dialect=engine.dialect)
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
                log.info("schema upgrade: added %s.%s", table.name, column.name)
            indexed = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexed:
                    index.create(connection)
                    log.info("schema upgrade: created index %s", index.name)

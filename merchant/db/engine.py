"""Engines: SQLite in WAL mode by default, PostgreSQL by `DATABASE_URL`, the same code on both."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

__all__ = ["is_transient", "make_engine", "writing"]


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


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads, then writes what it read decides: on SQLite it takes the write lock at BEGIN
    (IMMEDIATE), since a deferred one whose snapshot another writer overtook cannot write at all ("database is
    locked"); PostgreSQL's row locks (`with_for_update`) do the rest there. Commits on leaving, rolls back on error."""
    with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        yield connection


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


def is_transient(error: BaseException) -> bool:
    """A database that is locked, down or unreachable: retry later, nothing is wrong with what was written."""
    return isinstance(error, (OperationalError, InterfaceError, DisconnectionError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )

"""Schema migrations with Alembic, run once at start under a lock, whichever process starts first.

A database made before migrations existed (the tables of release d74f602, no `alembic_version`) is stamped at
the baseline and then upgraded like any other, every row kept."""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

from .engine import make_engine

__all__ = ["BASELINE", "migrate", "open_database"]

log = logging.getLogger(__name__)

BASELINE = "0001"
_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant both sides agree on; PostgreSQL serialises concurrent starts (N workers) on it.
_MIGRATION_LOCK_KEY = 0x4B324D45


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` in one transaction; concurrent starts wait for the first and find it done."""
    with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if "webhook_events" in tables and "alembic_version" not in tables:
            log.info("schema: a database from before migrations; stamping it at the baseline")
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)


def open_database(url: str, *, lock_timeout: float = 5.0) -> Engine:
    """An engine whose schema is current: what every process calls once at start."""
    engine = make_engine(url, lock_timeout=lock_timeout)
    migrate(engine)
    return engine

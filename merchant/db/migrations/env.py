"""Alembic's environment: always run by `merchant.db.migrate` on the connection (and transaction) it holds."""
from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from merchant.db import tables  # noqa: F401  (registers every table on SQLModel.metadata)

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it, which Alembic's batch mode does for us.
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

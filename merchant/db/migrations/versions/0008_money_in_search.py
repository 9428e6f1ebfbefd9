"""Money in searched by words through an index: on SQLite an FTS5 table with the trigram tokenizer, kept by triggers
on `transactions`; on PostgreSQL a GIN trigram index (pg_trgm) on one expression of the searched columns. Both
hold a payment's searched text: its reference, names, paying merchant and till, phone, and the phone once more in
its local form (0712…), columns apart by a space, which no searched word holds.

Triggers, not the app, keep SQLite's table (as with 0006's rollups): a row written into the public `transactions`
table by any means is found at once. PostgreSQL keeps its index itself (0010 moves it onto a stored column of the
same expression)."""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SEARCHED = ("reference", "sender_first_name", "sender_middle_name", "sender_last_name", "sender_merchant",
             "sender_till", "sender_phone")
_TRIGGERS = ("insert", "update", "delete")


def _text(r: str) -> str:
    """The searched text of the row `r` (`NEW.`, `OLD.`, or nothing for the table's own columns)."""
    phone = f"{r}sender_phone"
    local = f"CASE WHEN substr({phone}, 1, 4) = '+254' THEN '0' || substr({phone}, 5) END"
    return " || ' ' || ".join([*(f"COALESCE({r}{name}, '')" for name in _SEARCHED), f"COALESCE({local}, '')"])


def _sqlite_upgrade() -> None:
    # Contentless (the text is rebuilt from the row when it goes), no column sizes (nothing ranks): the index alone.
    op.execute("CREATE VIRTUAL TABLE transactions_search USING fts5(words, content='', columnsize=0, "
               "tokenize='trigram')")
    op.execute(f"INSERT INTO transactions_search (rowid, words) SELECT id, {_text('')} FROM transactions")
    add = f"INSERT INTO transactions_search (rowid, words) VALUES (NEW.id, {_text('NEW.')})"
    # A contentless table forgets a row by being told the very text it indexed.
    forget = (f"INSERT INTO transactions_search (transactions_search, rowid, words) "
              f"VALUES ('delete', OLD.id, {_text('OLD.')})")
    bodies = {"insert": (add,), "update": (forget, add), "delete": (forget,)}
    events = {"insert": "INSERT", "update": f"UPDATE OF id, {', '.join(_SEARCHED)}", "delete": "DELETE"}
    for operation in _TRIGGERS:
        op.execute(f"CREATE TRIGGER transactions_search_after_{operation} AFTER {events[operation]} ON transactions "
                   f"FOR EACH ROW BEGIN {'; '.join(bodies[operation])}; END")


def _postgresql_upgrade() -> None:
    connection = op.get_bind()
    # Into `public` when the database has it and we may create there: a schema of the app's own may be dropped
    # (the tests drop one per test), and with it every other schema's index on its operator class.
    shared = connection.exec_driver_sql(
        "SELECT 1 FROM pg_namespace WHERE nspname = 'public' AND has_schema_privilege(oid, 'CREATE')").scalar()
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" WITH SCHEMA public" if shared else ""))
    schema = connection.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'").scalar_one()
    op.execute(f"CREATE INDEX ix_transactions_search ON transactions USING gin ((lower({_text('')})) "
               f"{schema}.gin_trgm_ops)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_transactions_search")  # pg_trgm stays: another schema may use it
        return
    for operation in _TRIGGERS:
        op.execute(f"DROP TRIGGER transactions_search_after_{operation}")
    op.execute("DROP TABLE transactions_search")

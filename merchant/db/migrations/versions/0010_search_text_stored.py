"""PostgreSQL keeps each payment's searched text in a stored generated column, `searched_text`, and the trigram
index of 0008 moves onto it. The index only narrows a search to candidate rows; PostgreSQL then checks each one's
text again, and rebuilding that text (eight columns joined, then lower()) for every row a common name finds was
most of a search's time: "Kamau", 123,000 of a million payments, 228 -> about 160 ms. The column holds exactly the
expression 0008 indexed, read back from the index itself; PostgreSQL computes it on every write, so a row written
into `transactions` by any means is found at once. SQLite is unchanged: its FTS5 table (0008) answers alone."""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _trigram_ops() -> str:
    """pg_trgm's operator class, qualified by the schema 0008 installed the extension in."""
    schema = op.get_bind().exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'").scalar_one()
    return f"{schema}.gin_trgm_ops"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    text = op.get_bind().exec_driver_sql(
        "SELECT pg_get_expr(indexprs, indrelid) FROM pg_index WHERE indexrelid = 'ix_transactions_search'::regclass"
    ).scalar_one()
    op.execute("DROP INDEX ix_transactions_search")
    op.execute(f"ALTER TABLE transactions ADD COLUMN searched_text text GENERATED ALWAYS AS ({text}) STORED")
    op.execute(f"CREATE INDEX ix_transactions_search ON transactions USING gin (searched_text {_trigram_ops()})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    text = op.get_bind().exec_driver_sql(
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum "
        "WHERE adrelid = 'transactions'::regclass AND attname = 'searched_text'").scalar_one()
    op.execute("ALTER TABLE transactions DROP COLUMN searched_text")  # its index goes with it
    op.execute(f"CREATE INDEX ix_transactions_search ON transactions USING gin (({text}) {_trigram_ops()})")

"""Money in read fast at a million payments: a covering index over range reads, and rollups kept by triggers on
`transactions` (per hour; per day; per day and payer; payers per day; each payer's first day; a change counter),
filled here from the rows already there.

Triggers, not the app, keep the rollups: a row written into the public `transactions` table by any means (a
restore, an import, another process) is counted at once. SQLite runs them per row; PostgreSQL per statement over
its transition tables, so a bulk load or COPY aggregates once. Hours are whole hours since 1970-01-01 UTC; days
are Nairobi days (UTC+3, no daylight saving) since then."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_KEYS = {  # each rollup's key columns, as stored
    "money_in_hours": ("hour", "till_number", "kind", "status"),
    "money_in_days": ("day", "till_number", "kind", "status"),
    "money_in_payer_days": ("day", "payer", "till_number", "kind"),
}
_OPERATIONS = ("insert", "update", "delete")


class _Dialect:
    """One dialect's SQL for the rollups' key expressions over a row alias `r`."""

    def __init__(self, epoch: str, whole: str, moment: str) -> None:
        self._epoch = epoch  # seconds since 1970 UTC of `{r}.occurred_at`
        self._whole = whole  # `{x}` divided by `{n}`, rounded down to an integer
        self._moment = moment  # `{r}.occurred_at` as a UTC time that sorts as it compares

    def keys(self, r: str) -> dict[str, str]:
        epoch = self._epoch.format(r=r)
        return {
            "moment": self._moment.format(r=r),
            "hour": self._whole.format(x=epoch, n=3600),
            "day": self._whole.format(x=f"{epoch} + 10800", n=86400),  # Nairobi is UTC+3
            "till_number": f"COALESCE({r}.till_number, '')",
            "kind": f"{r}.kind",
            "status": f"{r}.status",
            # The payer as merchant.money_in reads one: phone, K2's hashed phone, paying merchant, paying till.
            "payer": f"COALESCE({r}.sender_phone, {r}.sender_phone_hash, {r}.sender_merchant, {r}.sender_till)",
        }


# SQLite's floor() needs its optional math functions; its epoch is an integer, so integer division does. A time
# written there by another tool may carry an offset ("...+03:00"): strftime reads it as the UTC moment it is.
_SQLITE = _Dialect("CAST(strftime('%s', {r}.occurred_at) AS INTEGER)", "(({x}) / {n})",
                   "strftime('%Y-%m-%d %H:%M:%f', {r}.occurred_at)")
_POSTGRESQL = _Dialect("extract(epoch FROM {r}.occurred_at)", "CAST(floor(({x}) / {n}) AS INTEGER)",
                       "{r}.occurred_at")
_RECEIVED = "'received'"


def _matches(table: str, keys: dict[str, str], alias: str) -> str:
    return " AND ".join(f"{alias}.{name} = {keys[name]}" for name in _KEYS[table])


def _counted(table: str, r: str) -> str:
    """Which rows `table` counts: payer rollups only money that stayed, from someone we can tell apart."""
    if table != "money_in_payer_days":
        return "1 = 1"
    return f"{r}.status = {_RECEIVED} AND {_SQLITE.keys(r)['payer']} IS NOT NULL"  # the same text on both


def _first_day(payer: str) -> str:
    return f"(SELECT MIN(d.day) FROM money_in_payer_days AS d WHERE d.payer = {payer})"


def _positions(names: tuple[str, ...]) -> str:
    """`1, 2, 3`: GROUP BY the select list's keys (PostgreSQL would take a bare name as the input column)."""
    return ", ".join(str(n + 1) for n in range(len(names)))


def _sqlite_change(r: str, sign: int) -> list[str]:
    """Count row `r` (NEW or OLD) into the rollups (`sign` 1) or out of them (-1), on SQLite."""
    keys = _SQLITE.keys(r)
    payer = keys["payer"]
    statements = []
    for table, names in _KEYS.items():
        only = _counted(table, r)
        if table == "money_in_payer_days" and sign > 0:
            statements += _sqlite_day_payers(r, sign)
        statements += [
            f"INSERT INTO {table} ({', '.join(names)}, amount_cents, payments) "
            f"SELECT {', '.join(keys[name] for name in names)}, {sign} * {r}.amount_cents, {sign} WHERE {only} "
            f"ON CONFLICT ({', '.join(names)}) DO UPDATE SET amount_cents = amount_cents + excluded.amount_cents, "
            "payments = payments + excluded.payments",
            f"DELETE FROM {table} WHERE {_matches(table, keys, table)} AND payments = 0",
        ]
        if table == "money_in_payer_days" and sign < 0:
            statements += _sqlite_day_payers(r, sign)
    first_day = _first_day(payer)
    if sign < 0:
        return statements + [
            f"DELETE FROM money_in_payers WHERE payer = {payer} "
            "AND NOT EXISTS (SELECT 1 FROM money_in_payer_days AS d WHERE d.payer = money_in_payers.payer)",
            f"UPDATE money_in_payers SET first_day = {first_day} WHERE payer = {payer}",
        ]
    return statements + [
        f"INSERT INTO money_in_payers (payer, first_day, last_at, last_id) "
        f"SELECT {payer}, {first_day}, {keys['moment']}, {r}.id WHERE {r}.status = {_RECEIVED} AND {payer} IS NOT NULL "
        "ON CONFLICT (payer) DO UPDATE SET first_day = excluded.first_day, "
        "last_id = CASE WHEN excluded.last_at >= last_at THEN excluded.last_id ELSE last_id END, "
        "last_at = max(last_at, excluded.last_at)",
    ]


def _sqlite_day_payers(r: str, sign: int) -> list[str]:
    """A Nairobi day's payers, counted when a payer's first payer-day row of that day comes (run before it is
    written) or their last goes (run after)."""
    keys = _SQLITE.keys(r)
    unheld = (f"{_counted('money_in_payer_days', r)} AND NOT EXISTS (SELECT 1 FROM money_in_payer_days AS d "
              f"WHERE d.day = {keys['day']} AND d.payer = {keys['payer']})")
    if sign > 0:
        return [f"INSERT INTO money_in_day_payers (day, payers) SELECT {keys['day']}, 1 WHERE {unheld} "
                "ON CONFLICT (day) DO UPDATE SET payers = payers + 1"]
    return [f"UPDATE money_in_day_payers SET payers = payers - 1 WHERE day = {keys['day']} AND {unheld}",
            f"DELETE FROM money_in_day_payers WHERE day = {keys['day']} AND payers = 0"]


def _postgresql_day_payers(rows: str, sign: int) -> list[str]:
    """`_sqlite_day_payers` for a statement's rows."""
    keys = _POSTGRESQL.keys("c")
    pairs = (f"SELECT DISTINCT {keys['day']} AS day, {keys['payer']} AS payer FROM {rows} AS c "
             f"WHERE {_counted('money_in_payer_days', 'c')}")
    unheld = (f"SELECT n.day, COUNT(*) AS payers FROM ({pairs}) AS n WHERE NOT EXISTS (SELECT 1 FROM "
              "money_in_payer_days AS d WHERE d.day = n.day AND d.payer = n.payer) GROUP BY n.day")
    if sign > 0:
        return [f"INSERT INTO money_in_day_payers AS t (day, payers) SELECT day, payers FROM ({unheld}) AS g "
                "ORDER BY day ON CONFLICT (day) DO UPDATE SET payers = t.payers + excluded.payers"]
    return [f"UPDATE money_in_day_payers AS t SET payers = t.payers - g.payers FROM ({unheld}) AS g "
            "WHERE t.day = g.day",
            f"DELETE FROM money_in_day_payers AS t WHERE t.payers = 0 AND t.day IN (SELECT {keys['day']} "
            f"FROM {rows} AS c)"]


_BUMP = "UPDATE money_in_version SET changes = changes + 1 WHERE id = 1"


def _sqlite_triggers() -> list[str]:
    rows = {"insert": (("NEW", 1),), "delete": (("OLD", -1),), "update": (("OLD", -1), ("NEW", 1))}
    triggers = []
    for operation in _OPERATIONS:
        body = [_BUMP] + [statement for r, sign in rows[operation] for statement in _sqlite_change(r, sign)]
        triggers.append(
            f"CREATE TRIGGER money_in_after_{operation} AFTER {operation.upper()} ON transactions FOR EACH ROW "
            f"BEGIN {'; '.join(body)}; END"
        )
    return triggers


def _postgresql_change(rows: str, sign: int) -> list[str]:
    """Count the transition table `rows` into the rollups (`sign` 1) or out of them (-1), on PostgreSQL."""
    keys = _POSTGRESQL.keys("c")
    payer = keys["payer"]
    statements = []
    for table, names in _KEYS.items():
        only = _counted(table, "c")
        if table == "money_in_payer_days" and sign > 0:
            statements += _postgresql_day_payers(rows, sign)
        columns, positions = ", ".join(names), _positions(names)
        # Keys in order, so two statements adding to the same rows lock them in the same order (no deadlock).
        statements += [
            f"INSERT INTO {table} AS t ({columns}, amount_cents, payments) "
            f"SELECT {', '.join(keys[name] for name in names)}, {sign} * SUM(c.amount_cents), {sign} * COUNT(*) "
            f"FROM {rows} AS c WHERE {only} GROUP BY {positions} ORDER BY {positions} "
            f"ON CONFLICT ({columns}) DO UPDATE SET amount_cents = t.amount_cents + excluded.amount_cents, "
            "payments = t.payments + excluded.payments",
            f"DELETE FROM {table} AS t USING {rows} AS c WHERE {_matches(table, keys, 't')} AND t.payments = 0",
        ]
        if table == "money_in_payer_days" and sign < 0:
            statements += _postgresql_day_payers(rows, sign)
    touched = f"SELECT {payer} FROM {rows} AS c WHERE c.status = {_RECEIVED}"
    if sign < 0:
        return statements + [
            f"DELETE FROM money_in_payers AS p WHERE p.payer IN ({touched}) "
            "AND NOT EXISTS (SELECT 1 FROM money_in_payer_days AS d WHERE d.payer = p.payer)",
            f"UPDATE money_in_payers AS p SET first_day = {_first_day('p.payer')} WHERE p.payer IN ({touched})",
        ]
    return statements + [
        "INSERT INTO money_in_payers AS p (payer, first_day, last_at, last_id) "
        f"SELECT n.payer, {_first_day('n.payer')}, n.occurred_at, n.id FROM ("
        f"SELECT DISTINCT ON (1) {payer} AS payer, c.occurred_at, c.id FROM {rows} AS c "
        f"WHERE c.status = {_RECEIVED} AND {payer} IS NOT NULL ORDER BY 1, c.occurred_at DESC, c.id DESC) AS n "
        "ORDER BY n.payer "
        "ON CONFLICT (payer) DO UPDATE SET first_day = excluded.first_day, "
        "last_id = CASE WHEN excluded.last_at >= p.last_at THEN excluded.last_id ELSE p.last_id END, "
        "last_at = GREATEST(p.last_at, excluded.last_at)",
    ]


def _postgresql_triggers() -> list[str]:
    rows = {"insert": (("new_rows", 1),), "delete": (("old_rows", -1),), "update": (("old_rows", -1), ("new_rows", 1))}
    referencing = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows",
                   "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}
    made = []
    for operation in _OPERATIONS:
        body = [statement for table, sign in rows[operation] for statement in _postgresql_change(table, sign)]
        any_row = rows[operation][0][0]
        made += [
            # SET search_path FROM CURRENT: the function finds these tables whatever schema path its caller uses.
            f"CREATE FUNCTION money_in_after_{operation}() RETURNS trigger LANGUAGE plpgsql "
            f"SET search_path FROM CURRENT AS $$ BEGIN "
            f"IF NOT EXISTS (SELECT 1 FROM {any_row}) THEN RETURN NULL; END IF; "
            # The counter first: its row lock queues concurrent writers here until the first commits, so each
            # statement below sees the other's rows (whether a payer or a payer's day is new is then exact).
            f"{_BUMP}; {'; '.join(body)}; RETURN NULL; END $$",
            f"CREATE TRIGGER money_in_after_{operation} AFTER {operation.upper()} ON transactions "
            f"REFERENCING {referencing[operation]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION money_in_after_{operation}()",
        ]
    return made + [
        "CREATE FUNCTION money_in_after_truncate() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT "
        "AS $$ BEGIN TRUNCATE money_in_hours, money_in_days, money_in_payer_days, money_in_day_payers, money_in_payers; "
        f"{_BUMP}; RETURN NULL; END $$",
        "CREATE TRIGGER money_in_after_truncate AFTER TRUNCATE ON transactions "
        "FOR EACH STATEMENT EXECUTE FUNCTION money_in_after_truncate()",
    ]


def _fill(dialect: _Dialect) -> list[str]:
    """The rollups of the payments already stored."""
    keys = dialect.keys("t")
    payer = keys["payer"]
    statements = []
    for table, names in _KEYS.items():
        only = _counted(table, "t")
        statements.append(
            f"INSERT INTO {table} ({', '.join(names)}, amount_cents, payments) "
            f"SELECT {', '.join(keys[name] for name in names)}, SUM(t.amount_cents), COUNT(*) "
            f"FROM transactions AS t WHERE {only} GROUP BY {_positions(names)}"
        )
    return statements + [
        "INSERT INTO money_in_day_payers (day, payers) SELECT day, COUNT(DISTINCT payer) FROM money_in_payer_days "
        "GROUP BY day",
        "INSERT INTO money_in_payers (payer, first_day, last_at, last_id) "
        "SELECT payer, first_day, occurred_at, id FROM ("
        f"SELECT {payer} AS payer, MIN({keys['day']}) OVER (PARTITION BY {payer}) AS first_day, "
        f"{keys['moment']} AS occurred_at, t.id, "
        f"ROW_NUMBER() OVER (PARTITION BY {payer} ORDER BY {keys['moment']} DESC, t.id DESC) AS n "
        f"FROM transactions AS t WHERE t.status = {_RECEIVED} AND {payer} IS NOT NULL) AS x WHERE n = 1",
        "INSERT INTO money_in_version (id, changes) VALUES (1, 0)",
    ]


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.create_index(
            "ix_transactions_money_in", ["occurred_at", "status", "till_number", "kind", "amount_cents"], unique=False
        )
    for table, names in _KEYS.items():  # each rollup: its key (a time unit first), then cents and payments
        op.create_table(
            table,
            *(sa.Column(name, sa.Integer() if name in ("hour", "day") else sa.String(), nullable=False)
              for name in names),
            sa.Column("amount_cents", sa.BigInteger(), nullable=False),
            sa.Column("payments", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint(*names),
            sqlite_with_rowid=False,
        )
    op.create_index("ix_money_in_payer_days_payer", "money_in_payer_days",
                    ["payer", "day", "till_number", "kind", "amount_cents", "payments"], unique=False)
    op.create_table(
        "money_in_day_payers",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("payers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "money_in_payers",
        sa.Column("payer", sa.String(), nullable=False),
        sa.Column("first_day", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("payer"),
    )
    op.create_index("ix_money_in_payers_first_day", "money_in_payers", ["first_day"], unique=False)
    op.create_table(
        "money_in_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _fill(_POSTGRESQL if postgresql else _SQLITE):
        op.execute(statement)
    for statement in _postgresql_triggers() if postgresql else _sqlite_triggers():
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for operation in (*_OPERATIONS, "truncate") if postgresql else _OPERATIONS:
        op.execute(f"DROP TRIGGER money_in_after_{operation}" + (" ON transactions" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION money_in_after_{operation}()")
    for table in ("money_in_version", "money_in_payers", "money_in_day_payers", "money_in_payer_days", "money_in_days",
                  "money_in_hours"):
        op.drop_table(table)
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.drop_index("ix_transactions_money_in")

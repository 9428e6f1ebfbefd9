"""Searching money in by words through the index of migration 0008, on SQLite (FTS5 trigram table kept by triggers)
and PostgreSQL (pg_trgm GIN index on one expression): a search finds exactly the payments the word-by-word LIKE
finds (a plain Python reading of the same meaning here), after rows are written, changed and deleted by plain SQL;
the index is what answers; the migration goes up over rows already stored, and down."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from merchant.db import make_engine, migrate, open_database
from merchant.db.tables import Transaction
from merchant.money_in import MoneyInFilter, conditions
from merchant.money_in.overview import overview
from merchant.money_in.transactions import transactions
from tests.merchant.conftest import Executed
from tests.servers import ROOT

_T = Transaction.__table__
START = datetime(2026, 11, 1, tzinfo=UTC)
EVERYTHING = MoneyInFilter(START - timedelta(days=1), START + timedelta(days=40))
SEARCHED = ("reference", "sender_first_name", "sender_middle_name", "sender_last_name", "sender_merchant",
            "sender_till", "sender_phone")
# Varied, as payments and imports bring them: case, punctuation, LIKE's wildcards, quotes, phones local and junk.
NAMES = ["Juma", "JUMA", "wanjiru", "Kamau", "O'Brien", "Mary-Anne", "Njoki_Ke", "100%", 'Say "Hi"', "Akinyi",
         "Ochieng", "jumanne", "Ju", None]
MERCHANTS = ["Jane Flowers", "Mama Mboga Ltd", "50% Off Shop", "a_b_c", None]
TILLS = ["600100", "514459", "0712", None]
PHONES = ["+254712345678", "+254110044905", "+254700000001", "+254707123000", "+2547AB-12", "0712345678",
          "+255712345678", None]
REFERENCES = ["OJM6Q1W84K", "REF%_0001", "res-5", "8ff34785-799e-4cc5-9082-c363445c09dd", "QKX0712AB9"]
_WHOLE_MOBILE = re.compile(r"(?:\+?254|0)?[17]\d{8}")  # read as a whole phone: equality, not words (tested apart)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = open_database(database_url)
    yield made
    made.dispose()


def found(engine: sa.Engine, search: str, *, walked: bool = False) -> set[int]:
    """Ids of the payments the shared filter's WHERE keeps for `search` (what Transactions and the Overview read)."""
    wanted = MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search=search)
    with engine.connect() as connection:
        return set(connection.execute(sa.select(_T.c.id).where(*conditions(wanted, walked=walked))).scalars())


def meant(engine: sa.Engine, search: str) -> set[int]:
    """Ids of the payments the search means, read plainly: every word inside some searched column, ignoring case;
    a word of digits starting 0 also as the start of a phone written +254…"""
    with engine.connect() as connection:
        stored = connection.execute(sa.select(_T.c.id, *(_T.c[name] for name in SEARCHED))).all()

    def holds(row: Any, word: str) -> bool:
        if any(word.lower() in (value or "").lower() for value in row[1:]):
            return True
        phone = row.sender_phone or ""
        return word.isdigit() and word.startswith("0") and len(word) > 1 and phone.startswith(f"+254{word[1:]}")

    return {row.id for row in stored if all(holds(row, word) for word in search.split())}


_INSERT = sa.text(
    "INSERT INTO transactions (reference, kind, amount_cents, currency, status, occurred_at, event_id, recorded_at, "
    f"{', '.join(SEARCHED[1:])}) VALUES (:reference, 'buygoods', 100, 'KES', 'received', :at, 'e', :at, "
    f"{', '.join(':' + name for name in SEARCHED[1:])})")


def write(connection: sa.Connection, n: int, values: dict[str, Any]) -> None:
    """One payment written by plain SQL, as an import or another tool would."""
    connection.execute(_INSERT, {**values, "reference": f"{values['reference']}#{n}", "at": START + timedelta(hours=n)})


row = st.fixed_dictionaries({
    "reference": st.sampled_from(REFERENCES),
    "sender_first_name": st.sampled_from(NAMES),
    "sender_middle_name": st.sampled_from([None, None, "Atieno", "wa"]),
    "sender_last_name": st.sampled_from(NAMES),
    "sender_merchant": st.sampled_from(MERCHANTS),
    "sender_till": st.sampled_from(TILLS),
    "sender_phone": st.sampled_from(PHONES),
})
change = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 99), st.sampled_from(SEARCHED[1:]),
              st.sampled_from([*NAMES, *PHONES, *MERCHANTS])),
    st.tuples(st.just("renumber"), st.integers(0, 99)),  # the row's id moves: the index must follow it
    st.tuples(st.just("status"), st.integers(0, 99)),  # a column nobody searches
    st.tuples(st.just("delete"), st.integers(0, 99)),
)
_texts = [value for value in (*NAMES, *MERCHANTS, *TILLS, *PHONES, *REFERENCES) if value]


@st.composite
def word(draw: st.DrawFn) -> str:
    """A piece of some stored text in any case, or a word chosen for its edges (wildcards, short, none)."""
    if draw(st.booleans()):
        text = draw(st.sampled_from(_texts))
        start = draw(st.integers(0, len(text) - 1))
        piece = text[start:draw(st.integers(start + 1, len(text)))]
        return draw(st.sampled_from([piece, piece.upper(), piece.lower(), piece.swapcase()]))
    return draw(st.sampled_from(["%", "_", "%_", '"', '"hi"', "'", "0712", "07", "0", "071234", "0110",
                                 "254", "zzyzx", "a", "jum", "UMA", "flowers", "ref%", "-12"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=20), changes=st.lists(change, max_size=8),
       searches=st.lists(st.lists(word(), min_size=1, max_size=3).map(" ".join), min_size=1, max_size=6))
def test_a_search_finds_exactly_what_the_words_mean(engine: sa.Engine, rows: list[dict[str, Any]],
                                                     changes: list[tuple[Any, ...]], searches: list[str]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM transactions"))
        for n, values in enumerate(rows):
            write(connection, n, values)
    for step in changes:
        with engine.begin() as connection:
            ids = list(connection.execute(sa.text("SELECT id FROM transactions ORDER BY id")).scalars())
            if not ids:
                break
            chosen = {"id": ids[step[1] % len(ids)]}
            if step[0] == "update":
                connection.execute(sa.text(f"UPDATE transactions SET {step[2]} = :value WHERE id = :id"),
                                   {**chosen, "value": step[3]})
            elif step[0] == "renumber":
                connection.execute(sa.text("UPDATE transactions SET id = :new WHERE id = :id"),
                                   {**chosen, "new": max(ids) + 1})
            elif step[0] == "status":
                connection.execute(sa.text("UPDATE transactions SET status = 'reversed' WHERE id = :id"), chosen)
            else:
                connection.execute(sa.text("DELETE FROM transactions WHERE id = :id"), chosen)
    for search in searches:
        assume(not _WHOLE_MOBILE.fullmatch("".join(search.split())))
        assert found(engine, search) == found(engine, search, walked=True) == meant(engine, search), search
        if engine.dialect.name == "sqlite":  # the triggers' table holds each row's text now, nothing stale
            for word in (word for word in search.split() if len(word) >= 3):
                assert indexed(engine, word) == held(engine, word), word


def indexed(engine: sa.Engine, word: str) -> set[int]:
    """The rows SQLite's FTS table finds for `word` as one phrase."""
    with engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT rowid FROM transactions_search WHERE transactions_search "
                                              "MATCH :phrase"), {"phrase": '"{}"'.format(word.replace('"', '""'))}
                                      ).scalars())


def held(engine: sa.Engine, word: str) -> set[int]:
    """The rows whose searched text, as migration 0008 writes it, holds `word` ignoring case."""
    with engine.connect() as connection:
        stored = connection.execute(sa.select(_T.c.id, *(_T.c[name] for name in SEARCHED))).all()

    def text(row: Any) -> str:
        phone = row.sender_phone or ""
        return " ".join([*(value or "" for value in row[1:]), "0" + phone[4:] if phone[:4] == "+254" else ""])

    return {row.id for row in stored if word.lower() in text(row).lower()}


def test_the_same_payments_on_every_page_that_reads_the_filter(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for n, (first, last, phone) in enumerate([("Juma", "Kamau", "+254712345678"), ("Akinyi", "JUMA", None),
                                                  ("Jumanne", "Otieno", "+254733000001"), ("Ju", "Ma", None)]):
            write(connection, n, {"reference": f"QKX{n}", "sender_first_name": first, "sender_middle_name": None,
                                  "sender_last_name": last, "sender_merchant": None, "sender_till": None,
                                  "sender_phone": phone})
    searched = MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search="juma")
    page = transactions(engine, searched)
    assert sorted(row.payer for row in page.rows) == ["Akinyi JUMA", "Juma Kamau", "Jumanne Otieno"]
    assert page.totals.count == 3 and overview(engine, searched).figures.count == 3
    assert [row.payer for row in transactions(engine, MoneyInFilter(EVERYTHING.start, EVERYTHING.end,
                                                                    search="juma 0712")).rows] == ["Juma Kamau"]
    assert transactions(engine, MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search="ju ma")).totals.count == 4


def plan(engine: sa.Engine, search: str) -> str:
    """How the database reads the payments `search` keeps: SQLite's query plan; PostgreSQL's for the search's
    condition alone (the last of the filter's) with a scan of the whole table priced out, so what shows is whether
    the planner can match the index to it at all (a few test rows never need it)."""
    where = conditions(MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search=search))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = sa.select(_T.c.id).where(*where)
            return str(connection.execute(sa.text("EXPLAIN QUERY PLAN " + str(query.compile(
                engine, compile_kwargs={"literal_binds": True})))).all())
        connection.execute(sa.text("SET enable_seqscan = off"))
        query = sa.select(_T.c.id).where(where[-1])
        return "\n".join(connection.execute(sa.text("EXPLAIN " + str(query.compile(
            engine, compile_kwargs={"literal_binds": True})))).scalars())


def test_a_word_is_looked_up_in_the_index_and_a_short_one_is_not(engine: sa.Engine) -> None:
    index = "transactions_search VIRTUAL TABLE" if engine.dialect.name == "sqlite" else "ix_transactions_search"
    assert index in plan(engine, "Juma")
    assert index in plan(engine, "wanjiru 0712")
    assert index not in plan(engine, "ju")  # two characters hold no trigram: the range's rows are read


def test_a_filter_holding_many_payments_walks_the_range_and_one_holding_few_reads_them(engine: sa.Engine) -> None:
    """5,000 payments or more in the filter: SQLite walks the range newest first for the page, testing each payment
    against the search index's list and its kind, since a page's worth comes soon; fewer: it reads those payments
    through the index (by id, by kind). A search's totals walk a range of a few weeks holding at most twice the
    payments the index finds (reading amounts from the index on occurred_at), and read the payments found by id
    otherwise. The same answers either way, on both databases (PostgreSQL's planner weighs all this itself)."""
    everyone = [{"reference": f"QKX{n}", "sender_first_name": "Juma" if n % 3 else "Akinyi", "sender_middle_name": None,
                 "sender_last_name": "Otieno" if n % 1000 == 0 else "Kamau", "sender_merchant": None, "sender_till": None,
                 "sender_phone": None, "at": START + timedelta(minutes=n)} for n in range(10_002)]
    with engine.begin() as connection:
        connection.execute(_INSERT, everyone)
        connection.execute(sa.text("UPDATE transactions SET kind = 'b2b' WHERE reference IN ('QKX7', 'QKX9')"))
    executed = Executed(engine)
    pages = {
        "many found": transactions(engine, MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search="juma"), limit=3),
        "few found": transactions(engine, MoneyInFilter(EVERYTHING.start, EVERYTHING.end, search="otieno"), limit=3),
        "a common kind": transactions(engine, replace(EVERYTHING, kinds=("buygoods",)), limit=3),
        "a rare kind": transactions(engine, replace(EVERYTHING, kinds=("b2b",)), limit=3),
    }
    assert {name: (page.totals.count, [row.reference for row in page.rows]) for name, page in pages.items()} == {
        "many found": (6_668, ["QKX10001", "QKX10000", "QKX9998"]),
        "few found": (11, ["QKX10000", "QKX9000", "QKX8000"]),
        "a common kind": (10_000, ["QKX10001", "QKX10000", "QKX9999"]),
        "a rare kind": (2, ["QKX9", "QKX7"]),
    }
    if engine.dialect.name == "sqlite":
        read = dict(zip(pages, (plan_of(engine, sql, given) for sql, given in executed.holding("ORDER BY")),
                        strict=True))
        for walked in ("many found", "a common kind"):
            assert "ix_transactions_occurred_at" in read[walked] or "ix_transactions_money_in" in read[walked]
            assert "PRIMARY KEY" not in read[walked] and "ix_transactions_kind" not in read[walked], walked
        assert "INTEGER PRIMARY KEY" in read["few found"] and "ix_transactions_kind" in read["a rare kind"]
        summed = [plan_of(engine, sql, given) for sql, given in executed.holding("THEN transactions.amount_cents")]
        assert "COVERING INDEX ix_transactions_money_in" in summed[0] and "PRIMARY KEY" not in summed[0]
        assert "INTEGER PRIMARY KEY" in summed[1]


def plan_of(engine: sa.Engine, sql: str, given: Any) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, given).all())


def test_the_migration_indexes_rows_already_stored_and_goes_down(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine, "0007")
        with engine.begin() as connection:
            for n, last in enumerate(["Kamau", "Kamau", "Otieno"]):
                write(connection, n, {"reference": "OLD", "sender_first_name": "Wanjiru", "sender_middle_name": None,
                                      "sender_last_name": last, "sender_merchant": None, "sender_till": None,
                                      "sender_phone": f"+25471200000{n}"})
        migrate(engine)
        assert len(found(engine, "kamau")) == 2 and len(found(engine, "0712")) == 3
        assert "transactions_search" in plan(engine, "kamau")  # the FTS table, or the index named after it
        migrate_down(engine, "0007")
        names = set(sa.inspect(engine).get_table_names())
        indexes = {index["name"] for index in sa.inspect(engine).get_indexes("transactions")}
        assert not {name for name in names if name.startswith("transactions_search")}
        assert "ix_transactions_search" not in indexes
        with engine.begin() as connection:  # no trigger is left to write into a table that is gone
            write(connection, 9, {"reference": "AFTER", "sender_first_name": "Akinyi", "sender_middle_name": None,
                                  "sender_last_name": "Kamau", "sender_merchant": None, "sender_till": None,
                                  "sender_phone": None})
        migrate(engine)  # and up again, over the row written meanwhile
        assert len(found(engine, "kamau")) == 3
    finally:
        engine.dispose()


def migrate_down(engine: sa.Engine, revision: str) -> None:
    """Alembic's downgrade to `revision`, on the connection as `merchant.db.migrate` runs its upgrades."""
    with engine.connect() as connection, connection.begin():
        config = Config()
        config.set_main_option("script_location", str(ROOT / "merchant" / "db" / "migrations"))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

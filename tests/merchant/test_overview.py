"""The Overview's figures on SQLite and PostgreSQL: a hand-computed week (reversals, Nairobi day, week and month
edges), a row written straight into `transactions` by SQL read at once, and the rollups agreeing with the payments
after random inserts, updates and deletes (hypothesis), against a plain Python reading of every payment; and
Transactions' totals, read from the same rollups, against a plain aggregate for random ranges and filters."""
from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from merchant.db import open_database
from merchant.db.tables import Transaction
from merchant.money_in import BUSINESS_TIMEZONE, MoneyInFilter, conditions
from merchant.money_in.overview import Period, comparison, kpis, latest_change, overview, paid_tills
from merchant.money_in.transactions import Totals, totals
from tests.servers import ROOT

_T = Transaction.__table__
TILL_A, TILL_B = "514459", "514460"
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=BUSINESS_TIMEZONE)  # a Wednesday afternoon


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = open_database(database_url)
    yield made
    made.dispose()


def nairobi(day: int, hour: int = 0, minute: int = 0, second: int = 0, *, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=BUSINESS_TIMEZONE)


_numbers = iter(range(1, 1_000_000))


def pay(engine: sa.Engine, at: datetime, amount: str, *, till: str | None = TILL_A, kind: str = "buygoods",
        status: str = "received", phone: str | None = None, sender_till: str | None = None,
        name: str = "Jane Wanjiru") -> int:
    """One payment written straight into `transactions`, as any tool could; returns its id."""
    first, _, last = name.partition(" ")
    n = next(_numbers)
    with engine.begin() as connection:
        return connection.execute(sa.insert(_T).values(
            reference=f"REF{n:07d}", kind=kind, till_number=till, amount_cents=int(Decimal(amount) * 100),
            currency="KES", status=status, occurred_at=at, sender_phone=phone, sender_till=sender_till,
            sender_first_name=first or None, sender_last_name=last or None, event_id=f"evt-{n}",
            recorded_at=at).returning(_T.c.id)).scalar_one()


@pytest.fixture
def week(engine: sa.Engine) -> sa.Engine:
    """Payments around NOW, each placed on an edge the figures below are hand-computed from."""
    pay(engine, nairobi(25, 9, 15), "1000.00", phone="+254712000001")
    pay(engine, nairobi(25, 14, 29, 59), "500.50", phone="+254712000002", name="Akinyi Otieno")
    pay(engine, nairobi(25), "20000.00", till=TILL_B, kind="b2b", sender_till="600100", name="")  # today's first second
    pay(engine, nairobi(25, 10), "700.00", status="reversed", phone="+254712000001")
    pay(engine, nairobi(24, 23, 59, 59), "300.00", phone="+254712000001")  # yesterday's last second
    pay(engine, nairobi(24, 14, 29, 59), "800.00", phone="+254712000003", name="Kamau Mwangi")
    pay(engine, nairobi(24, 14, 30), "900.00", phone="+254712000003", name="Kamau Mwangi")  # yesterday at NOW
    pay(engine, nairobi(23, 8), "150.00", till=TILL_B, kind="card", status="voided", name="Card Holder")
    pay(engine, nairobi(16), "2000.00", phone="+254712000004", name="Otieno Ouma")  # last week's first second
    pay(engine, nairobi(31, 23, 59, 59, month=10), "400.00", phone="+254712000004", name="Otieno Ouma")
    pay(engine, nairobi(25, 14, 29, month=10), "250.00", phone="+254712000002", name="Akinyi Otieno")
    pay(engine, nairobi(1), "100.00", till=None, phone="+254712000005", name="Baraka Juma")  # this month's first
    return engine


def figures(found: Any) -> tuple[str, int, str, int, str, int]:
    return (str(found.total), found.count, str(found.average), found.payers, str(found.taken_back),
            found.taken_back_count)


class TestKpis:
    def test_each_period_so_far_against_the_one_before_to_the_same_point(self, week: sa.Engine) -> None:
        tiles = kpis(week, NOW)
        # Today: the 00:00:00 b2b payment counts, the reversal is apart; yesterday to 14:30 leaves out 14:30:00
        # itself and the last second of the day.
        assert figures(tiles.today.current) == ("21500.50", 3, "7166.83", 3, "700.00", 1)
        assert figures(tiles.today.previous) == ("800.00", 1, "800.00", 1, "0.00", 0)
        assert (tiles.today.previous_start, tiles.today.previous_end) == (nairobi(24), nairobi(24, 14, 30))
        # This week from Monday 23rd: the voided card payment is taken back, not received.
        assert figures(tiles.week.current) == ("23500.50", 6, "3916.75", 4, "850.00", 2)
        assert figures(tiles.week.previous) == ("2000.00", 1, "2000.00", 1, "0.00", 0)
        assert tiles.week.previous_end == nairobi(18, 14, 30)
        # This month from the 1st 00:00; October to the 25th, 14:30, leaves out its last second.
        assert figures(tiles.month.current) == ("25600.50", 8, "3200.06", 6, "850.00", 2)
        assert figures(tiles.month.previous) == ("250.00", 1, "250.00", 1, "0.00", 0)
        assert tiles.month.previous_end == nairobi(25, 14, 30, month=10)

    def test_tills_narrow_every_tile(self, week: sa.Engine) -> None:
        tiles = kpis(week, NOW, tills=[TILL_B])
        assert figures(tiles.today.current) == ("20000.00", 1, "20000.00", 1, "0.00", 0)
        assert figures(tiles.week.current) == ("20000.00", 1, "20000.00", 1, "150.00", 1)

    def test_the_month_before_is_cut_at_its_own_end(self, engine: sa.Engine) -> None:
        pay(engine, nairobi(28, 23, month=2), "100.00", phone="+254712000001")
        pay(engine, datetime(2026, 3, 31, 8, tzinfo=BUSINESS_TIMEZONE), "50.00", phone="+254712000001")
        month = comparison(engine, Period.MONTH, datetime(2026, 3, 31, 9, tzinfo=BUSINESS_TIMEZONE))
        assert (month.previous_start, month.previous_end) == (nairobi(1, month=2), nairobi(1, month=3))
        assert figures(month.previous) == ("100.00", 1, "100.00", 1, "0.00", 0)
        assert figures(month.current) == ("50.00", 1, "50.00", 1, "0.00", 0)

    def test_a_naive_time_is_refused(self, engine: sa.Engine) -> None:
        with pytest.raises(ValueError, match="aware"):
            kpis(engine, datetime(2026, 11, 25, 14, 30))


class TestOverview:
    def test_a_range_read_whole(self, week: sa.Engine) -> None:
        data = overview(week, MoneyInFilter.days(date(2026, 11, 16), date(2026, 11, 25)))
        assert figures(data.figures) == ("25500.50", 7, "3642.93", 5, "850.00", 2)
        daily = {row.date: (str(row.received), row.received_count, str(row.taken_back), row.taken_back_count)
                 for row in data.daily.itertuples()}
        assert list(daily) == [date(2026, 11, 16) + timedelta(days=n) for n in range(10)]  # every day, zeros too
        assert daily[date(2026, 11, 16)] == ("2000.00", 1, "0.00", 0)
        assert daily[date(2026, 11, 17)] == ("0.00", 0, "0.00", 0)
        assert daily[date(2026, 11, 23)] == ("0.00", 0, "150.00", 1)
        assert daily[date(2026, 11, 24)] == ("2000.00", 3, "0.00", 0)  # 23:59:59 stays on the 24th
        assert daily[date(2026, 11, 25)] == ("21500.50", 3, "700.00", 1)

        cells = {(row.weekday, row.hour): (row.payments, str(row.amount)) for row in data.heatmap.itertuples()}
        assert len(cells) == 7 * 24
        assert {cell: value for cell, value in cells.items() if value[0]} == {
            (0, 0): (1, "2000.00"),  # Monday 16th, 00:00
            (1, 14): (2, "1700.00"), (1, 23): (1, "300.00"),  # Tuesday
            (2, 0): (1, "20000.00"), (2, 9): (1, "1000.00"), (2, 14): (1, "500.50"),  # Wednesday
        }

        assert [tuple(map(str, row)) for row in data.by_till.itertuples(index=False)] == [
            (TILL_B, "20000.00", "1", "150.00", "1"), (TILL_A, "5500.50", "6", "700.00", "1")]
        assert [tuple(map(str, row)) for row in data.by_kind.itertuples(index=False)] == [
            ("b2b", "20000.00", "1", "0.00", "0"), ("buygoods", "5500.50", "6", "700.00", "1"),
            ("card", "0.00", "0", "150.00", "1")]

        top = data.top_payers
        assert list(top["payer"]) == ["600100", "+254712000004", "+254712000003", "+254712000001", "+254712000002"]
        assert list(top["name"]) == ["Till 600100", "Otieno Ouma", "Kamau Mwangi", "Jane Wanjiru", "Akinyi Otieno"]
        assert [str(amount) for amount in top["amount"]] == ["20000.00", "2000.00", "1700.00", "1300.00", "500.50"]
        assert list(top["payments"]) == [1, 1, 2, 2, 1]
        assert top["sender_phone"][1] == "+254712000004" and top["sender_phone"][0] is None
        assert top["last_paid_at"][1] == nairobi(16)  # their latest payment that stayed (31 Oct is earlier)

        # New: first payment ever on a day of the range (001 on the 24th: the 25th's reversal does not count).
        assert (data.new_payers, data.returning_payers) == (3, 2)
        per_day = {row.date: (row.new, row.returning) for row in data.payers_daily.itertuples()
                   if row.new or row.returning}
        assert per_day == {date(2026, 11, 16): (0, 1), date(2026, 11, 24): (2, 0), date(2026, 11, 25): (1, 2)}

    def test_a_till_filter(self, week: sa.Engine) -> None:
        data = overview(week, MoneyInFilter.days(date(2026, 11, 16), date(2026, 11, 25), tills=(TILL_B,)))
        assert figures(data.figures) == ("20000.00", 1, "20000.00", 1, "150.00", 1)
        assert list(data.by_till["till_number"]) == [TILL_B]
        assert (data.new_payers, data.returning_payers) == (1, 0)

    def test_nothing_in_the_range(self, week: sa.Engine) -> None:
        data = overview(week, MoneyInFilter.days(date(2026, 9, 1), date(2026, 9, 7)))
        assert figures(data.figures) == ("0.00", 0, "0.00", 0, "0.00", 0)
        assert len(data.daily) == 7 and not data.daily["received_count"].any()
        assert data.top_payers.empty and data.by_till.empty and (data.new_payers, data.returning_payers) == (0, 0)

    def test_a_search_reads_the_payments_themselves(self, week: sa.Engine) -> None:
        data = overview(week, MoneyInFilter.days(date(2026, 11, 16), date(2026, 11, 25), search="Kamau"))
        assert figures(data.figures) == ("1700.00", 2, "850.00", 1, "0.00", 0)
        assert list(data.top_payers["payer"]) == ["+254712000003"]

    def test_tills_offered_are_those_paid(self, week: sa.Engine) -> None:
        assert paid_tills(week) == [TILL_A, TILL_B]


class TestWritesByAnyMeans:
    def test_a_row_inserted_by_sql_shows_on_the_next_read(self, week: sa.Engine) -> None:
        before, marker = kpis(week, NOW).today.current, latest_change(week)
        # Another tool's INSERT, its time in UTC as the README documents the column (12:00 in Nairobi).
        at = "2026-11-25 09:00:00" + ("" if week.dialect.name == "sqlite" else "+00")
        with week.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO transactions (reference, kind, till_number, amount_cents, currency, status, "
                "occurred_at, sender_phone, event_id, recorded_at) VALUES ('IMPORTED1', 'buygoods', :till, 123456, "
                "'KES', 'received', :at, '+254799000001', 'import', :at)"), {"till": TILL_A, "at": at})
        assert latest_change(week) > marker
        after = kpis(week, NOW).today.current
        assert (after.total - before.total, after.count - before.count, after.payers - before.payers) == (
            Decimal("1234.56"), 1, 1)
        data = overview(week, MoneyInFilter.days(date(2026, 11, 25), date(2026, 11, 25)))
        assert data.heatmap.set_index(["weekday", "hour"]).loc[(2, 12), "payments"] == 1
        assert "+254799000001" in set(data.top_payers["payer"])

    def test_a_reversal_written_later_moves_the_money_apart(self, week: sa.Engine) -> None:
        with week.begin() as connection:
            connection.execute(sa.update(_T).where(_T.c.amount_cents == 2_000_000).values(status="reversed"))
        today = kpis(week, NOW).today.current
        assert figures(today) == ("1500.50", 2, "750.25", 2, "20700.00", 2)

    def test_deleting_every_payment_empties_the_figures(self, week: sa.Engine) -> None:
        with week.begin() as connection:
            connection.execute(sa.delete(_T))
        for table in ("money_in_hours", "money_in_days", "money_in_payer_days", "money_in_day_payers",
                      "money_in_payers"):
            assert rows(week, f"SELECT * FROM {table}") == []


def rows(engine: sa.Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(sa.text(sql)))


# ------------------------------------------------------------------------------- the rollups against the payments


@dataclass(frozen=True)
class Stored:
    """A payment as a plain reading of `transactions` sees it."""

    id: int
    at: datetime
    till: str
    kind: str
    status: str
    cents: int
    payer: str | None


def everything(engine: sa.Engine) -> list[Stored]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(
            _T.c.id, _T.c.occurred_at, _T.c.till_number, _T.c.kind, _T.c.status, _T.c.amount_cents,
            sa.func.coalesce(_T.c.sender_phone, _T.c.sender_phone_hash, _T.c.sender_merchant, _T.c.sender_till)))
        return [Stored(i, at, till or "", kind, status, cents, payer)
                for i, at, till, kind, status, cents, payer in found]


def rollups_agree(engine: sa.Engine, stored: list[Stored]) -> None:
    """Every rollup row equals a GROUP BY over the payments (done here in Python, with zoneinfo's Nairobi)."""
    hours: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    days: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    payer_days: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    first: dict[str, int] = {}
    for paid in stored:
        hour = int(paid.at.timestamp()) // 3600
        day = (paid.at.astimezone(BUSINESS_TIMEZONE).date() - date(1970, 1, 1)).days
        for table, key in ((hours, (hour, paid.till, paid.kind, paid.status)),
                           (days, (day, paid.till, paid.kind, paid.status))):
            table[key][0] += paid.cents
            table[key][1] += 1
        if paid.status == "received" and paid.payer:
            payer_days[(day, paid.payer, paid.till, paid.kind)][0] += paid.cents
            payer_days[(day, paid.payer, paid.till, paid.kind)][1] += 1
            first[paid.payer] = min(first.get(paid.payer, day), day)
    for table, expected in (("money_in_hours", hours), ("money_in_days", days), ("money_in_payer_days", payer_days)):
        assert rows(engine, f"SELECT * FROM {table}") == sorted((*key, *value) for key, value in expected.items())
    day_payers: dict[int, set[str]] = defaultdict(set)
    for day, payer, _till, _kind in payer_days:
        day_payers[day].add(payer)
    assert rows(engine, "SELECT day, payers FROM money_in_day_payers") == sorted(
        (day, len(payers)) for day, payers in day_payers.items())
    assert rows(engine, "SELECT payer, first_day FROM money_in_payers") == sorted(first.items())


def figures_agree(engine: sa.Engine, stored: list[Stored], wanted: MoneyInFilter) -> None:
    """The Overview's figures for any range (ragged edges included) equal a plain reading of the payments."""
    inside = [p for p in stored if wanted.start <= p.at < wanted.end and (not wanted.tills or p.till in wanted.tills)]
    kept = [p for p in inside if p.status == "received"]
    back = [p for p in inside if p.status != "received"]
    data = overview(engine, wanted)
    got = data.figures
    assert (got.total, got.count, got.payers) == (
        Decimal(sum(p.cents for p in kept)) / 100, len(kept), len({p.payer for p in kept if p.payer}))
    assert (got.taken_back, got.taken_back_count) == (Decimal(sum(p.cents for p in back)) / 100, len(back))
    local = {p.id: p.at.astimezone(BUSINESS_TIMEZONE) for p in inside}
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for p in kept:
        cells[(local[p.id].weekday(), local[p.id].hour)] += 1
    assert {(r.weekday, r.hour): r.payments for r in data.heatmap.itertuples() if r.payments} == dict(cells)
    per_day: dict[date, int] = defaultdict(int)
    for p in kept:
        per_day[local[p.id].date()] += p.cents
    assert {r.date: r.received * 100 for r in data.daily.itertuples() if r.received} == dict(per_day)
    firsts: dict[str, date] = {}
    for p in stored:
        if p.status == "received" and p.payer:
            day = p.at.astimezone(BUSINESS_TIMEZONE).date()
            firsts[p.payer] = min(firsts.get(p.payer, day), day)
    # New: paying on the day of their first payment ever (the payments shown include one of that day).
    paying: dict[date, set[str]] = defaultdict(set)
    for p in kept:
        if p.payer:
            paying[local[p.id].date()].add(p.payer)
    new_by_day = {day: {payer for payer in payers if firsts[payer] == day} for day, payers in paying.items()}
    assert {r.date: (r.new, r.returning) for r in data.payers_daily.itertuples() if r.new or r.returning} == {
        day: (len(new_by_day[day]), len(payers) - len(new_by_day[day])) for day, payers in paying.items()}
    new = set().union(*new_by_day.values())
    assert (data.new_payers, data.returning_payers) == (len(new), len({p.payer for p in kept if p.payer}) - len(new))
    by_payer: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in kept:
        if p.payer:
            by_payer[p.payer][0] -= p.cents  # negated: most money first, then by payer
            by_payer[p.payer][1] += 1
    best = sorted((cents, payer, n) for payer, (cents, n) in by_payer.items())[:10]
    assert [(r.payer, r.amount * 100, r.payments) for r in data.top_payers.itertuples()] == [
        (payer, -cents, n) for cents, payer, n in best]


START = datetime(2026, 11, 20, tzinfo=UTC)
# Four days, some of them 200 days earlier: a range across both is long enough for the long-range reads.
moments = st.builds(lambda s, earlier: START + timedelta(seconds=s) - timedelta(days=earlier),
                    st.integers(0, 4 * 24 * 3600 - 1), st.sampled_from([0, 0, 200]))
payment = st.fixed_dictionaries({
    "occurred_at": moments,
    "till_number": st.sampled_from([TILL_A, TILL_B, None]),
    "kind": st.sampled_from(["buygoods", "b2b", "card"]),
    "status": st.sampled_from(["received", "received", "reversed", "voided"]),
    "amount_cents": st.integers(1, 10_000_000),
    "sender_phone": st.sampled_from(["+254712000001", "+254712000002", "+254733000003", None]),
    "sender_till": st.sampled_from(["600100", None]),
})
change = st.one_of(
    st.tuples(st.just("insert"), payment),
    st.tuples(st.just("update"), st.integers(0, 99),
              payment.map(lambda p: {k: p[k] for k in ("occurred_at", "status", "till_number", "sender_phone")})),
    st.tuples(st.just("delete"), st.integers(0, 99)),
)


def totals_agree(engine: sa.Engine, wanted: MoneyInFilter) -> None:
    """Transactions' totals for a filter without a search (read from the rollups and the range's ragged edges)
    equal a plain aggregate over the payments the filter's WHERE keeps."""
    kept = _T.c.status == "received"
    with engine.connect() as connection:
        count, received, received_count, undone = connection.execute(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((kept, _T.c.amount_cents))), 0),
            sa.func.count(sa.case((kept, 1))), sa.func.coalesce(sa.func.sum(sa.case((~kept, _T.c.amount_cents))), 0),
        ).where(*conditions(wanted))).one()
    assert totals(engine, wanted) == Totals(count, Decimal(received) / 100, received_count, Decimal(undone) / 100,
                                            count - received_count)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(change, min_size=1, max_size=25), cut=st.tuples(moments, moments),
       tills=st.sampled_from([(), (TILL_A,), (TILL_B, TILL_A)]),
       kinds=st.sampled_from([(), ("b2b",), ("buygoods", "card")]),
       statuses=st.sampled_from([(), ("received",), ("reversed", "voided")]))
def test_rollups_follow_random_writes(engine: sa.Engine, changes: list[tuple[Any, ...]],
                                      cut: tuple[datetime, datetime], tills: tuple[str, ...],
                                      kinds: tuple[str, ...], statuses: tuple[str, ...]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(_T))
    n = 0
    for step in changes:
        with engine.begin() as connection:
            ids = list(connection.execute(sa.select(_T.c.id).order_by(_T.c.id)).scalars())
            if step[0] == "insert":
                n += 1
                connection.execute(sa.insert(_T).values(reference=f"H{n}", currency="KES", event_id="e",
                                                        recorded_at=START, **step[1]))
            elif ids and step[0] == "update":
                connection.execute(sa.update(_T).where(_T.c.id == ids[step[1] % len(ids)]).values(**step[2]))
            elif ids:
                connection.execute(sa.delete(_T).where(_T.c.id == ids[step[1] % len(ids)]))
    stored = everything(engine)
    rollups_agree(engine, stored)
    figures_agree(engine, stored, MoneyInFilter(min(cut), max(cut), tills=tills))
    totals_agree(engine, MoneyInFilter(min(cut), max(cut), tills=tills, kinds=kinds, statuses=statuses))


def test_bulk_statements_are_counted_once(engine: sa.Engine) -> None:
    """Many rows in one statement (PostgreSQL's statement triggers see them together), then one UPDATE and one
    DELETE over many."""
    with engine.begin() as connection:
        connection.execute(sa.insert(_T), [
            {"reference": f"B{n}", "kind": "buygoods", "till_number": TILL_A if n % 3 else None,
             "amount_cents": 100 * n, "currency": "KES", "status": "received",
             "occurred_at": START + timedelta(minutes=37 * n), "sender_phone": f"+2547120000{n % 7:02d}",
             "event_id": "e", "recorded_at": START} for n in range(1, 200)])
        connection.execute(sa.update(_T).where(_T.c.amount_cents % 500 == 0).values(status="reversed"))
        connection.execute(sa.delete(_T).where(_T.c.amount_cents % 700 == 0))
    rollups_agree(engine, everything(engine))


def test_the_release_d74f602_database_is_rolled_up_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "merchant.db"
    shutil.copyfile(ROOT / "tests" / "data" / "main-d74f602.sqlite", path)
    engine = open_database(f"sqlite:///{path}")
    try:
        stored = everything(engine)
        assert len(stored) == 124
        rollups_agree(engine, stored)
    finally:
        engine.dispose()

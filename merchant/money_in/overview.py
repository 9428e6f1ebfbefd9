"""The Overview's figures: tiles for today, this week and this month against the period before, money per day,
when customers pay (Nairobi hour × weekday), money by till and by kind, top payers, new and returning payers.

Everything is summed in SQL from the rollups migration 0006 keeps with triggers on `transactions` (per hour;
per Nairobi day and payer; each payer's first day). A range costs its number of hours and payer-days, not its
payments; only the part of a range that is not whole hours or days (a tile's "so far today") and a search by
words read payments, through the index on `occurred_at`. Amounts are cents in SQL, `Decimal` here; totals count
money that stayed (received), and reversed or voided money is summed apart as "taken back"."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    ColumnElement,
    CompoundSelect,
    Engine,
    Integer,
    Select,
    Subquery,
    Table,
    cast,
    exists,
    extract,
    false,
    func,
    select,
    union_all,
)

from ..db.tables import MoneyInDay, MoneyInDayPayers, MoneyInHour, MoneyInPayer, MoneyInPayerDay, MoneyInVersion, Transaction
from ..money import from_cents
from .filters import BUSINESS_TIMEZONE, MoneyInFilter, conditions
from ._payer import payer_name

__all__ = [
    "DAILY_COLUMNS",
    "HEATMAP_COLUMNS",
    "PAYERS_DAILY_COLUMNS",
    "SPLIT_COLUMNS",
    "TOP_PAYER_COLUMNS",
    "Comparison",
    "Figures",
    "Kpis",
    "OverviewData",
    "Period",
    "comparison",
    "kpis",
    "latest_change",
    "overview",
    "paid_tills",
    "status_sums",
]

DAILY_COLUMNS = ("date", "received", "received_count", "taken_back", "taken_back_count")
HEATMAP_COLUMNS = ("weekday", "hour", "payments", "amount")  # weekday 0 = Monday; hour 0..23, Nairobi
SPLIT_COLUMNS = ("received", "received_count", "taken_back", "taken_back_count")  # by till or kind, after its key
TOP_PAYER_COLUMNS = ("payer", "name", "sender_phone", "amount", "payments", "last_paid_at")
PAYERS_DAILY_COLUMNS = ("date", "new", "returning")

_T: Table = Transaction.__table__  # type: ignore[attr-defined]
_HOURS: Table = MoneyInHour.__table__  # type: ignore[attr-defined]
_DAYS: Table = MoneyInDay.__table__  # type: ignore[attr-defined]
_PAYER_DAYS: Table = MoneyInPayerDay.__table__  # type: ignore[attr-defined]
_PAYERS: Table = MoneyInPayer.__table__  # type: ignore[attr-defined]
_DAY_PAYERS: Table = MoneyInDayPayers.__table__  # type: ignore[attr-defined]
_VERSION: Table = MoneyInVersion.__table__  # type: ignore[attr-defined]
_RECEIVED = "received"
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = 3600
_DAY = 86_400
# Nairobi has kept UTC+3 all year since 1942, so its days are UTC's shifted by a constant (the rollups rely on it).
_NAIROBI = 3 * _HOUR
_LONG_RANGE_DAYS = 180  # past this many days, grouping payers by payer reads the payer index whole (measured)
assert datetime(2026, 1, 1, tzinfo=BUSINESS_TIMEZONE).utcoffset() == timedelta(seconds=_NAIROBI)
# A payer: a real phone, else K2's hashed one, else the paying business (m2m merchant, b2b till); as in 0006.
_PAYER = func.coalesce(_T.c.sender_phone, _T.c.sender_phone_hash, _T.c.sender_merchant, _T.c.sender_till)


class Period(StrEnum):
    """A KPI tile's period, from its start to now, against the same stretch of the period before."""

    TODAY = "today"
    WEEK = "week"  # Monday to Sunday
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Figures:
    """Headline figures for a range: `total`, `count`, `average` and `payers` count money that stayed."""

    total: Decimal
    count: int
    average: Decimal  # total / count to the cent (half up); 0.00 when nothing came in
    payers: int
    taken_back: Decimal  # reversed or voided
    taken_back_count: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """One tile: `[start, end)` so far against `[previous_start, previous_end)`, as long, one period earlier."""

    period: Period
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime
    current: Figures
    previous: Figures


@dataclass(frozen=True, slots=True)
class Kpis:
    """The Overview's three tiles, in `Period` order."""

    today: Comparison
    week: Comparison
    month: Comparison


@dataclass(frozen=True, slots=True)
class OverviewData:
    """All the Overview shows for one filter; the frames' columns are the `*_COLUMNS` above (amounts `Decimal`,
    dates `datetime.date`), every day of the range and every heatmap cell present, zeros included."""

    filter: MoneyInFilter
    figures: Figures
    daily: pd.DataFrame
    heatmap: pd.DataFrame
    by_till: pd.DataFrame  # "till_number" ("" for payments that name no till), then SPLIT_COLUMNS
    by_kind: pd.DataFrame  # "kind", then SPLIT_COLUMNS
    top_payers: pd.DataFrame
    payers_daily: pd.DataFrame
    new_payers: int  # paid in the range for the first time ever
    returning_payers: int


def latest_change(engine: Engine) -> int:
    """A number that moves whenever `transactions` is written (by anyone): one primary-key read, cheap to poll."""
    with engine.connect() as connection:
        return int(connection.execute(select(_VERSION.c.changes).where(_VERSION.c.id == 1)).scalar_one())


def paid_tills(engine: Engine) -> list[str]:
    """Every till that has taken a payment, for a till filter (read from the daily rollup)."""
    query = select(_DAYS.c.till_number).where(_DAYS.c.till_number != "").distinct().order_by(_DAYS.c.till_number)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def overview(engine: Engine, filter: MoneyInFilter, *, top: int = 10) -> OverviewData:  # noqa: A002
    """Everything the Overview draws for `filter`, `top` payers by money that stayed."""
    days = _day_numbers(filter)
    with engine.connect() as connection:
        dialect = connection.dialect.name
        hours = _hour_rows(dialect, filter).subquery("h")
        days_rows = _day_rows(dialect, filter).subquery("d")
        per_day, per_till, per_kind, totals = (_sums(connection, days_rows, key) for key in (
            days_rows.c.day, days_rows.c.till_number, days_rows.c.kind, None))
        heatmap = _heatmap(connection, hours)
        best, payers = _best_payers(connection, _payer_day_rows(dialect, filter, by_payer=True).subquery("p"), top)
        payers_daily = _payers_daily(connection, filter, days)
        top_payers = _named(connection, best)
    new = int(payers_daily["new"].sum())
    return OverviewData(
        filter=filter,
        figures=_figures(totals, payers),
        daily=_daily(per_day, days),
        heatmap=heatmap,
        by_till=_split(per_till, "till_number"),
        by_kind=_split(per_kind, "kind"),
        top_payers=top_payers,
        payers_daily=payers_daily,
        new_payers=new,
        returning_payers=payers - new,
    )


def kpis(engine: Engine, now: datetime, *, tills: Sequence[str] = ()) -> Kpis:
    """Today, this week and this month so far (Nairobi), each against the period before to the same point."""
    with engine.connect() as connection:
        made = [_comparison(connection, period, now, tuple(tills)) for period in Period]
    return Kpis(*made)


def comparison(engine: Engine, period: Period, now: datetime, *, tills: Sequence[str] = ()) -> Comparison:
    """One of `kpis`' tiles alone (Home shows today's)."""
    with engine.connect() as connection:
        return _comparison(connection, period, now, tuple(tills))


def _comparison(connection: Connection, period: Period, now: datetime, tills: tuple[str, ...]) -> Comparison:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    today = datetime.combine(now.astimezone(BUSINESS_TIMEZONE).date(), time(), BUSINESS_TIMEZONE)
    if period is Period.TODAY:
        start, previous_start = today, today - timedelta(days=1)
    elif period is Period.WEEK:
        start = today - timedelta(days=today.weekday())
        previous_start = start - timedelta(days=7)
    else:
        start = today.replace(day=1)
        previous_start = (start - timedelta(days=1)).replace(day=1)
    # As far into the period before as this one has gone, never past its end (31 March against February).
    previous_end = min(previous_start + (now - start), start)
    return Comparison(period, start, now, previous_start, previous_end,
                      _range_figures(connection, MoneyInFilter(start, now, tills=tills)),
                      _range_figures(connection, MoneyInFilter(previous_start, previous_end, tills=tills)))


# ------------------------------------------------------------------------------------------ where rows come from


def _bucket(dialect: str, moment: ColumnElement[datetime], *, size: int, offset: int = 0) -> ColumnElement[int]:
    """Whole `size`-second buckets since 1970 UTC of `moment + offset` seconds: the rollups' hour and day."""
    if dialect == "sqlite":  # naive UTC text; strftime('%s') reads it as seconds since 1970
        return (cast(func.strftime("%s", moment), Integer) + offset) // size
    return cast(func.floor((extract("epoch", moment) + offset) / size), Integer)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _whole(filter: MoneyInFilter, *, size: int, offset: int = 0) -> tuple[int, int, list[MoneyInFilter]]:  # noqa: A002
    """The whole `size`-second buckets `[first, last)` inside the filter's range, and filters for what is left at
    either edge (all of it when there is no whole bucket, or when a search by words must read the payments)."""
    unit, shift = size * 1_000_000, offset * 1_000_000
    start, end = _micros(filter.start) + shift, _micros(filter.end) + shift
    first, last = -(-start // unit), end // unit
    if filter.search or first >= last:
        return 0, 0, [filter] if filter.end > filter.start else []
    edges = []
    if first * unit > start:
        edges.append(replace(filter, end=_EPOCH + timedelta(seconds=first * size - offset)))
    if last * unit < end:
        edges.append(replace(filter, start=_EPOCH + timedelta(seconds=last * size - offset)))
    return first, last, edges


def _rollup(table: Table, unit: str, first: int, last: int, filter: MoneyInFilter, *,  # noqa: A002
            by_key: bool = True) -> Select[Any]:
    """A rollup's rows for the whole units `[first, last)` that the filter's kinds, statuses and tills keep;
    `by_key=False` keeps the planner off the unit's key (see `_payer_day_rows`)."""
    at = table.c[unit] if by_key else table.c[unit] + 0
    query = select(*(column for column in table.c)).where(at >= first, at < last)
    if filter.kinds:
        query = query.where(table.c.kind.in_(filter.kinds))
    if filter.tills:
        query = query.where(table.c.till_number.in_(filter.tills))
    if filter.statuses and "status" in table.c:
        query = query.where(table.c.status.in_(filter.statuses))
    if filter.statuses and "status" not in table.c and _RECEIVED not in filter.statuses:
        query = query.where(false())  # the payer rollup holds only money that stayed
    return query


def _combined(parts: list[Select[Any]]) -> Select[Any] | CompoundSelect:
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _raw(filter: MoneyInFilter, keys: Sequence[ColumnElement[Any]],  # noqa: A002
         *where: ColumnElement[bool]) -> Select[Any]:
    """Payments themselves, grouped by `keys` as a rollup would hold them."""
    return (select(*keys, func.sum(_T.c.amount_cents), func.count())
            .where(*conditions(filter), *where).group_by(*keys))


def _hour_rows(dialect: str, filter: MoneyInFilter) -> Select[Any] | CompoundSelect:  # noqa: A002
    """(hour, till_number, kind, status, amount_cents, payments) for the filter: the hourly rollup for its whole
    hours, grouped payments for the rest."""
    first, last, edges = _whole(filter, size=_HOUR)
    keys = (_bucket(dialect, _T.c.occurred_at, size=_HOUR), func.coalesce(_T.c.till_number, ""), _T.c.kind,
            _T.c.status)
    return _combined([_rollup(_HOURS, "hour", first, last, filter), *(_raw(edge, keys) for edge in edges)])


def _day_rows(dialect: str, filter: MoneyInFilter) -> Select[Any] | CompoundSelect:  # noqa: A002
    """(day, till_number, kind, status, amount_cents, payments) for the filter: the daily rollup for its whole
    Nairobi days, the hourly one (and payments) for what is left."""
    first, last, edges = _whole(filter, size=_DAY, offset=_NAIROBI)
    parts = [_rollup(_DAYS, "day", first, last, filter)]
    for edge in edges:
        hours = _hour_rows(dialect, edge).subquery()
        parts.append(select((hours.c.hour + _NAIROBI // _HOUR) // 24, hours.c.till_number, hours.c.kind,
                            hours.c.status, hours.c.amount_cents, hours.c.payments))
    return _combined(parts)


def _payer_day_rows(dialect: str, filter: MoneyInFilter, *, by_payer: bool = False  # noqa: A002
                    ) -> Select[Any] | CompoundSelect:
    """(day, payer, till_number, kind, amount_cents, payments) of money that stayed, for the filter: the payer-day
    rollup for its whole Nairobi days, grouped payments for the rest. `by_payer`: rows to be grouped by payer; over
    a long range they are (payer, amount_cents, payments), each part summed per payer before the parts are joined,
    so the join holds a row per payer and part, not per payer-day (over a short one the second grouping costs
    more than it saves), and SQLite reads the payer-ordered index whole (no sort) instead of the days and a sort
    (a hash aggregate does better on PostgreSQL, and a day range it can estimate)."""
    first, last, edges = _whole(filter, size=_DAY, offset=_NAIROBI)
    long = by_payer and last - first > _LONG_RANGE_DAYS
    keys = (_PAYER,) if long else (_bucket(dialect, _T.c.occurred_at, size=_DAY, offset=_NAIROBI), _PAYER,
                                   func.coalesce(_T.c.till_number, ""), _T.c.kind)
    raw = (_raw(edge, keys, _T.c.status == _RECEIVED, _PAYER.is_not(None)) for edge in edges)
    rollup = _rollup(_PAYER_DAYS, "day", first, last, filter, by_key=not (long and dialect == "sqlite"))
    if long:
        rows = rollup.subquery()
        rollup = select(rows.c.payer, func.sum(rows.c.amount_cents).label("amount_cents"),
                        func.sum(rows.c.payments).label("payments")).group_by(rows.c.payer)
    return _combined([rollup, *raw])


# ------------------------------------------------------------------------------------------------- the reads


def _sum(column: ColumnElement[int]) -> ColumnElement[int]:
    """An integer sum on both databases (PostgreSQL sums bigints as numeric)."""
    return cast(func.sum(column), BigInteger)


def _sums(connection: Connection, days: Subquery, key: ColumnElement[Any] | None) -> pd.DataFrame:
    """Cents and payments per `key` (a column of `days`, or none: the whole range) and status."""
    keys = (days.c.status,) if key is None else (key, days.c.status)
    query = select(*keys, _sum(days.c.amount_cents), _sum(days.c.payments)).group_by(*keys)
    names = ["status"] if key is None else [key.name, "status"]
    return _frame(connection.execute(query).all(), [*names, "cents", "payments"], ints=("cents", "payments"))


def _heatmap(connection: Connection, hours: Subquery) -> pd.DataFrame:
    """Payments that stayed per Nairobi weekday and hour of day, all 168 cells."""
    local = hours.c.hour + _NAIROBI // _HOUR
    weekday = (local // 24 + 3) % 7  # 1 January 1970 was a Thursday (Monday = 0)
    hour = local % 24
    query = (select(weekday, hour, _sum(hours.c.payments), _sum(hours.c.amount_cents))
             .where(hours.c.status == _RECEIVED).group_by(weekday, hour))
    found = {(int(w), int(h)): (int(n), from_cents(int(cents))) for w, h, n, cents in connection.execute(query)}
    return pd.DataFrame(
        [(w, h, *found.get((w, h), (0, from_cents(0)))) for w in range(7) for h in range(24)],
        columns=list(HEATMAP_COLUMNS),
    )


def _best_payers(connection: Connection, payer_days: Subquery, top: int) -> tuple[pd.DataFrame, int]:
    """The `top` payers by money that stayed (payer, cents, payments), and how many payers there are in all."""
    cents = _sum(payer_days.c.amount_cents).label("cents")
    query = (select(payer_days.c.payer, cents, _sum(payer_days.c.payments), func.count().over())
             .group_by(payer_days.c.payer).order_by(cents.desc(), payer_days.c.payer).limit(max(top, 1)))
    found = connection.execute(query).all()
    best = _frame([row[:3] for row in found[:top]], ["payer", "cents", "payments"], ints=("cents", "payments"))
    return best, int(found[0][3]) if found else 0


def _payers_daily(connection: Connection, filter: MoneyInFilter, days: range) -> pd.DataFrame:  # noqa: A002
    """Per Nairobi day (numbers in `days`): payers paying for the first time ever that day, and the others."""
    counts = dict.fromkeys(days, (0, 0))
    if filter.kinds or filter.statuses or filter.tills or filter.search:
        counts.update(_payer_counts(connection, filter, days))
        return _payers_frame(counts)
    # Only the range's ragged edges keep part of their days: the whole days between read the counts kept per day
    # (a long range would otherwise count a row per payment), and each edge counts its own few payments.
    first, last, edges = _whole(filter, size=_DAY, offset=_NAIROBI)
    counts.update(_payer_counts(connection, None, range(first, last)))
    for edge in edges:
        counts.update(_payer_counts(connection, edge, _day_numbers(edge)))
    return _payers_frame(counts)


def _payer_counts(connection: Connection, filter: MoneyInFilter | None, days: range  # noqa: A002
                  ) -> dict[int, tuple[int, int]]:
    """(payers, new payers) per day of `days` with any: kept per whole day of every payment (`filter` None), each
    day's payers counted already and holding each first payment; else counted from `filter`'s own payer-days,
    among which the first payment must be."""
    paying: Select[Any] = select(_DAY_PAYERS.c.day, _DAY_PAYERS.c.payers).where(_DAY_PAYERS.c.day >= days.start,
                                                                              _DAY_PAYERS.c.day < days.stop)
    # From each payer's first day (indexed): it costs the new payers, not every payer-day.
    new = (select(_PAYERS.c.first_day, func.count())
           .where(_PAYERS.c.first_day >= days.start, _PAYERS.c.first_day < days.stop)
           .group_by(_PAYERS.c.first_day))
    if filter is not None:
        payer_days = _payer_day_rows(connection.dialect.name, filter).subquery("p")
        paying = select(payer_days.c.day, func.count(payer_days.c.payer.distinct())).group_by(payer_days.c.day)
        new = new.where(exists(select(payer_days.c.payer).where(payer_days.c.day == _PAYERS.c.first_day,
                                                                payer_days.c.payer == _PAYERS.c.payer)))
    counts = {int(day): (int(n), 0) for day, n in connection.execute(paying)}
    for day, n in connection.execute(new):
        counts[int(day)] = (counts.get(int(day), (0, 0))[0], int(n))
    return counts


def _payers_frame(counts: dict[int, tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame([(_date(day), fresh, paid - fresh) for day, (paid, fresh) in sorted(counts.items())],
                        columns=list(PAYERS_DAILY_COLUMNS))


def _named(connection: Connection, best: pd.DataFrame) -> pd.DataFrame:
    """Payers with the name, phone and time of their latest payment that stayed."""
    query = (select(_PAYERS.c.payer, _T.c.sender_first_name, _T.c.sender_middle_name, _T.c.sender_last_name,
                    _T.c.sender_merchant, _T.c.sender_till, _T.c.sender_phone, _PAYERS.c.last_at)
             .join_from(_PAYERS, _T, _T.c.id == _PAYERS.c.last_id, isouter=True)
             .where(_PAYERS.c.payer.in_(list(best["payer"]))))
    named = {row.payer: row for row in connection.execute(query)}
    rows = []
    for payer, cents, payments in best.itertuples(index=False):
        row = named.get(payer)
        name = payer_name(row.sender_first_name, row.sender_middle_name, row.sender_last_name, row.sender_merchant,
                          row.sender_till) if row else None
        phone = row.sender_phone if row else None
        rows.append((payer, name, phone, from_cents(int(cents)), int(payments), row.last_at if row else None))
    return pd.DataFrame(rows, columns=list(TOP_PAYER_COLUMNS))


def status_sums(connection: Connection, filter: MoneyInFilter) -> pd.DataFrame:  # noqa: A002
    """Cents and payments per status ("status", "cents", "payments") for the filter, from the rollups and the
    payments of the range's ragged edges (all its payments when it has a search); Transactions' totals too."""
    return _sums(connection, _day_rows(connection.dialect.name, filter).subquery("d"), None)


def _range_figures(connection: Connection, filter: MoneyInFilter) -> Figures:  # noqa: A002
    """One tile's figures: two small queries over the rollups and the range's ragged edges."""
    statuses = status_sums(connection, filter)
    payer_days = _payer_day_rows(connection.dialect.name, filter).subquery("p")
    payers = connection.execute(select(func.count(payer_days.c.payer.distinct()))).scalar_one()
    return _figures(statuses, int(payers))


# ---------------------------------------------------------------------------------------------- into frames


def _frame(rows: Sequence[Any], columns: list[str], *, ints: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a frame whose counts and cents are integers even when there are none."""
    return pd.DataFrame(list(rows), columns=columns).astype(dict.fromkeys(ints, "int64"))


def _date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


def _day_numbers(filter: MoneyInFilter) -> range:  # noqa: A002
    """The Nairobi days the range touches, numbered as the rollups number them."""
    unit, shift = _DAY * 1_000_000, _NAIROBI * 1_000_000
    start, end = (_micros(filter.start) + shift) // unit, -(-(_micros(filter.end) + shift) // unit)
    return range(start, end if filter.end > filter.start else start)


def _figures(rows: pd.DataFrame, payers: int) -> Figures:
    """`rows` with status, cents and payments (any finer grouping) summed into headline figures."""
    kept = rows["status"] == _RECEIVED
    cents, count = int(rows.loc[kept, "cents"].sum()), int(rows.loc[kept, "payments"].sum())
    total = from_cents(cents)
    average = (total / count).quantize(_CENT, ROUND_HALF_UP) if count else from_cents(0)
    return Figures(total, count, average, payers, from_cents(int(rows.loc[~kept, "cents"].sum())),
                   int(rows.loc[~kept, "payments"].sum()))


def _kept_and_taken_back(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per `key`: cents and payments that stayed, and those reversed or voided (as ints; money added after)."""
    split = rows.assign(kept=rows["status"] == _RECEIVED)
    summed = split.groupby([key, "kept"])[["cents", "payments"]].sum().unstack("kept", fill_value=0)
    summed.columns = [f"{what}_{'kept' if kept else 'back'}" for what, kept in summed.columns]
    for column in ("cents_kept", "cents_back", "payments_kept", "payments_back"):
        if column not in summed:
            summed[column] = 0
    return pd.DataFrame({
        "received": summed["cents_kept"].map(lambda cents: from_cents(int(cents))),
        "received_count": summed["payments_kept"].astype(int),
        "taken_back": summed["cents_back"].map(lambda cents: from_cents(int(cents))),
        "taken_back_count": summed["payments_back"].astype(int),
    }, index=summed.index)


def _daily(per_day: pd.DataFrame, days: range) -> pd.DataFrame:
    summed = _kept_and_taken_back(per_day, "day").reindex(days)
    money, counts = ["received", "taken_back"], ["received_count", "taken_back_count"]
    summed[money] = summed[money].map(lambda amount: from_cents(0) if pd.isna(amount) else amount)
    summed[counts] = summed[counts].fillna(0).astype(int)
    return summed.set_axis([_date(day) for day in days]).rename_axis("date").reset_index()


def _split(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Money by `key` (till or kind), most received first."""
    summed = _kept_and_taken_back(rows, key).reset_index()
    return summed.sort_values(["received", key], ascending=[False, True]).reset_index(drop=True)

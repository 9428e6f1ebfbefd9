"""The one filter every money-in read takes: a Nairobi range, kinds, statuses, tills and a search text.

Overview, Transactions, history and the benchmarks all build their WHERE from `conditions`, so a search or a
kind means the same payments everywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    TableClause,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from ..db.tables import Transaction

__all__ = [
    "BUSINESS_TIMEZONE", "KINDS", "STATUSES", "MoneyInFilter", "conditions", "day_range", "reference_searched",
    "indexed_count", "searchable",
]

BUSINESS_TIMEZONE = ZoneInfo("Africa/Nairobi")  # the merchant's days: "today's takings" end at Nairobi midnight
KINDS: tuple[str, ...] = ("buygoods", "b2b", "m2m", "card")
STATUSES: tuple[str, ...] = ("received", "reversed", "voided")  # as stored; only "received" counts as takings

_T: Table = Transaction.__table__  # type: ignore[attr-defined]


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """`[first 00:00, day after last 00:00)` in Nairobi: the `start`, `end` for whole days, both dates included."""
    start = datetime.combine(first, time(), BUSINESS_TIMEZONE)
    return start, datetime.combine(last + timedelta(days=1), time(), BUSINESS_TIMEZONE)


@dataclass(frozen=True)
class MoneyInFilter:
    """Payments with `start <= occurred_at < end` (aware datetimes); an empty tuple or text means "any"."""

    start: datetime
    end: datetime
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tills: tuple[str, ...] = ()
    search: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if self.end < self.start:
            raise ValueError(f"the range ends ({self.end:%d/%m/%Y %H:%M}) before it starts "
                             f"({self.start:%d/%m/%Y %H:%M})")
        # Lists from a multiselect are welcome; stored as tuples so the filter stays hashable (a cache key).
        for name in ("kinds", "statuses", "tills"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "search", " ".join(self.search.split()))

    @classmethod
    def days(cls, first: date, last: date, **kw: Any) -> MoneyInFilter:
        """Whole Nairobi days `first` to `last`, both included."""
        start, end = day_range(first, last)
        return cls(start, end, **kw)


def conditions(filter: MoneyInFilter, *, walked: bool = False) -> list[ColumnElement[bool]]:  # noqa: A002
    """The WHERE over `transactions`; the `occurred_at` range comes first so the index on it does the work.

    `walked`: the reader walks the range newest first and stops after a page, as for a filter that holds many
    payments. SQLite is then told not to look payments up by kind or through the search index's list of ids: its
    planner, which keeps no statistics, would read every payment of a common kind or name and sort them all."""
    where: list[ColumnElement[bool]] = [_T.c.occurred_at >= filter.start, _T.c.occurred_at < filter.end]
    if filter.kinds:
        kind = _T.c.kind.in_(filter.kinds)
        where.append(_ByDialect(_unindexed(_T.c.kind).in_(filter.kinds), kind) if walked else kind)
    if filter.statuses:
        where.append(_T.c.status.in_(filter.statuses))
    if filter.tills:
        where.append(_T.c.till_number.in_(filter.tills))
    if filter.search:
        where.append(_matches(filter.search, walked))
    return where


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column written `+column` (SQLite only): its documented way to keep the column's index out of a plan."""
    return literal_column(f"+{_T.name}.{column.name}", column.type)


_SEARCHED = (
    _T.c.reference, _T.c.sender_first_name, _T.c.sender_middle_name, _T.c.sender_last_name,
    _T.c.sender_merchant, _T.c.sender_till, _T.c.sender_phone,
)
_TRIGRAM = 3  # a word shorter than this holds no trigram: the search index has nothing to look it up by
_FTS: TableClause = table("transactions_search", column("rowid"), column("words"))  # SQLite's (migration 0008)


# PostgreSQL's searched text of a payment, kept by the database (migrations 0008, 0010): its searched columns as one
# lower-case text, apart by a space, which no word holds, and a +254 phone once more in its local form (0712…).
_SEARCHED_TEXT = literal_column(f"{_T.name}.searched_text", String())


class _Folded(FunctionElement[str]):
    """A column for a case-insensitive LIKE: `lower(column)`, but the bare column on SQLite, whose LIKE already
    ignores (ASCII) case as its lower() does; skipping lower() there halves a search's time."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(_Folded)
def _lowered(element: _Folded, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_Folded, "sqlite")
def _as_is(element: _Folded, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


# A Kenyan mobile written whole: 0712 345 678, 0712-345-678, 712345678, 254712345678, +254 712 345 678.
_WHOLE_MOBILE = re.compile(r"(?:\+?254|0)?([17]\d{8})")
# An M-Pesa receipt (ten capitals and digits, e.g. OJM6Q1W84K) or K2's resource id (a UUID), typed whole.
_WHOLE_REFERENCE = re.compile(r"[A-Za-z](?=[A-Za-z]*\d)[A-Za-z0-9]{9}|[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def _whole_phone(search: str) -> str | None:
    """The search as one Kenyan mobile number in E.164, when it is a whole one in any written form; else None."""
    found = _WHOLE_MOBILE.fullmatch("".join(search.split()).replace("-", ""))
    return f"+254{found.group(1)}" if found else None


def searchable(search: str) -> bool:
    """Whether the search names something to look up: a whole phone, or a word of three characters or more (what
    the search index holds). Words shorter than that alone would have every payment in the range read, most of
    them found: over a busy till's two years, over half a second for an answer that narrows nothing."""
    return bool(_whole_phone(search)) or any(len(word) >= _TRIGRAM for word in search.split())


def reference_searched(search: str) -> tuple[str, ...]:
    """The spellings of `search` to look up in the unique `reference` index when it reads as a whole M-Pesa
    reference or K2 id (as typed, in capitals, in small letters); empty when it does not."""
    text = search.strip()
    return tuple(dict.fromkeys((text, text.upper(), text.lower()))) if _WHOLE_REFERENCE.fullmatch(text) else ()


def _matches(search: str, walked: bool) -> ColumnElement[bool]:
    """A whole phone number is that payer's payments: equality on the indexed `sender_phone`, not a scan. Anything
    else: every word in some searched column, ignoring case; a word of digits starting 0 also as the start of a
    phone (0712… is +254712…). Words of three characters or more are answered by the search index (migration
    0008) alone; shorter words hold no trigram to look up, so they are checked column by column, and a search of
    only those reads the range's payments."""
    phone = _whole_phone(search)
    if phone:
        return _T.c.sender_phone == phone
    indexed = _indexed_words(search)
    short = [_contained(word) for word in dict.fromkeys(search.split()) if len(word) < _TRIGRAM]
    return and_(_indexed(indexed, walked), *short) if indexed else and_(*short)


def _indexed_words(search: str) -> list[str]:
    """The words of a search by words that the search index holds (three characters or more), each once."""
    return [] if _whole_phone(search) else [word for word in dict.fromkeys(search.split()) if len(word) >= _TRIGRAM]


def indexed_count(search: str) -> Select[tuple[int]] | None:
    """How many payments of all time SQLite's search index finds for the search's words, as a query; None when
    the search has no word the index holds (a whole phone, or only words shorter than three characters)."""
    words = _indexed_words(search)
    return select(func.count()).select_from(_FTS).where(_FTS.c.words.match(_phrases(words))) if words else None


def _phrases(words: list[str]) -> str:
    """The words as one FTS5 query: a quoted phrase each, all of them required."""
    return " AND ".join('"{}"'.format(word.replace('"', '""')) for word in words)


def _contained(word: str) -> ColumnElement[bool]:
    """The word in some searched column, case-insensitive; a word of digits starting 0 also as a phone's start."""
    options = [_Folded(column).contains(word.lower(), autoescape=True) for column in _SEARCHED]
    if word.isdigit() and word.startswith("0") and len(word) > 1:  # 0712… is +254712…
        options.append(_T.c.sender_phone.startswith(f"+254{word[1:]}", autoescape=True))
    return or_(*options)


class _ByDialect(FunctionElement[bool]):
    """Its first clause on SQLite, its second elsewhere: how each database's search index is asked."""

    type = NullType()  # not Boolean: SQLite would be asked `(...) = 1`, which no index serves
    name = "by_dialect"
    inherit_cache = True


@compiles(_ByDialect)
def _elsewhere(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses.clauses[1], **kw))


@compiles(_ByDialect, "sqlite")
def _on_sqlite(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses.clauses[0], **kw))


def _indexed(words: list[str], walked: bool) -> ColumnElement[bool]:
    """Payments whose searched text holds every word, as the search index finds them: SQLite's trigram FTS table
    by a phrase per word, PostgreSQL's trigram index by a LIKE per word on its expression. Exactly the payments
    `_contained` keeps: the text's columns are apart by a space, which no word holds, and a word found in the
    phone's local form (0 + its tail) is in the phone itself or is the start `_contained` looks for. Case is
    ignored beyond ASCII too (FTS5 folds Unicode; PostgreSQL's lower() follows its locale)."""
    fts = (_unindexed(_T.c.id) if walked else _T.c.id).in_(select(_FTS.c.rowid).where(_FTS.c.words.match(
        _phrases(words))))
    return _ByDialect(fts, and_(*(_SEARCHED_TEXT.contains(word.lower(), autoescape=True) for word in words)))

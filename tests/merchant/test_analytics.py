"""Money-in reads on SQLite and PostgreSQL, over rows stored through the real mapping and store path."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from merchant.db import open_database
from merchant.money_in import (
    DAILY_COLUMNS,
    RECEIVED_COLUMNS,
    TOP_PAYER_COLUMNS,
    Summary,
    daily_totals,
    day_range,
    export_csv,
    hourly_pattern,
    received,
    summary,
    top_payers,
)
from merchant.inbox.store import record_deliveries
from tests.merchant.conftest import buygoods, delivered

# Nairobi days 15..20 November 2026; the money sits on the 18th, 19th and 20th, the first three days are empty.
START, END = day_range(date(2026, 11, 15), date(2026, 11, 20))


def payment(n: int, at: str, *, amount: str = "250.00", topic: str = "buygoods_transaction_received",
            **resource: Any) -> bytes:
    """`buygoods(n)` paid at `at` (Nairobi text), with resource fields replaced (None removes a name or phone)."""
    document = json.loads(buygoods(n, topic=topic, amount=amount))
    document["event"]["resource"].update({"origination_time": at, **resource})
    return json.dumps(document).encode()


NO_PERSON = {"sender_first_name": None, "sender_last_name": None, "sender_phone_number": None}
BODIES = [
    payment(1, "2026-11-18T00:00:00+03:00", sender_phone_number="0700000001"),  # UTC: the 17th, 21:00
    payment(2, "2026-11-18T23:59:59+03:00", amount="1000.50", sender_phone_number="0700000001"),
    payment(3, "2026-11-19T00:30:00+03:00", amount="99.99", sender_first_name="Otieno",  # UTC: the 18th
            sender_last_name="Odhiambo"),
    payment(4, "2026-11-19T08:18:45+03:00", amount="313", topic="b2b_transaction_received",
            reference="OJQ8USH5XK", till_number="461863", sending_till="890642", **NO_PERSON),
    payment(5, "2026-11-20T12:00:00+03:00", amount="456", topic="m2m_transaction_received",
            reference=None, till_number=None, sending_merchant="Jane Flowers", **NO_PERSON),
    payment(6, "2026-11-20T10:00:00+03:00", amount="500.00"),
    payment(7, "2026-11-20T10:05:00+03:00", amount="500.00", topic="buygoods_transaction_reversed",
            reference="REF0000006"),
    payment(8, "2026-11-21T00:00:00+03:00", amount="7.00"),  # the end is excluded
    payment(9, "2026-11-14T23:59:59+03:00", amount="9.00"),  # the day before the start
]


@pytest.fixture
def stored(database_url: str) -> Iterator[sa.Engine]:
    engine = open_database(database_url)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(body) for body in BODIES])
    yield engine
    engine.dispose()


def test_received_lists_the_range_newest_first_with_reversals_and_display_names(stored: sa.Engine) -> None:
    frame = received(stored, start=START, end=END)
    assert list(frame.columns) == list(RECEIVED_COLUMNS)
    assert list(frame["reference"]) == [
        "res-5", "REF0000006", "OJQ8USH5XK", "REF0000003", "REF0000002", "REF0000001"
    ]
    assert list(frame["status"]) == ["received", "reversed", "received", "received", "received", "received"]
    assert list(frame["sender"]) == [
        "Jane Flowers", "Wanjiru Kamau", "Till 890642", "Otieno Odhiambo", "Wanjiru Kamau", "Wanjiru Kamau"
    ]
    assert list(frame["amount"]) == [Decimal(a) for a in ("456.00", "500.00", "313.00", "99.99", "1000.50", "250.00")]
    assert all(type(amount) is Decimal for amount in frame["amount"])
    assert frame["occurred_at"].iloc[-1] == pd.Timestamp("2026-11-17T21:00:00Z")
    assert str(frame["occurred_at"].dt.tz) == "UTC"
    assert list(frame["sender_phone"])[-2:] == ["+254700000001", "+254700000001"]


def test_summary_leaves_reversed_money_out_of_the_totals(stored: sa.Engine) -> None:
    assert summary(stored, start=START, end=END) == Summary(
        total=Decimal("2119.49"), count=5, average=Decimal("423.90"), payers=4,
        reversed_total=Decimal("500.00"), reversed_count=1,
    )


def test_filters_by_kind_and_search(stored: sa.Engine) -> None:
    def references(**options: Any) -> list[str]:
        return list(received(stored, start=START, end=END, **options)["reference"])

    assert references(kinds=["b2b", "m2m"]) == ["res-5", "OJQ8USH5XK"]
    assert summary(stored, start=START, end=END, kinds=["b2b", "m2m"]).total == Decimal("769.00")
    assert references(search="KAMAU") == ["REF0000006", "REF0000002", "REF0000001"]
    assert references(search="wanjiru kamau") == ["REF0000006", "REF0000002", "REF0000001"]
    assert references(search="0700 000 001") == ["REF0000002", "REF0000001"]  # a phone as people type it
    assert references(search="0700000003") == ["REF0000003"]
    assert references(search="07000000") == ["REF0000006", "REF0000003", "REF0000002", "REF0000001"]
    assert references(search="ojq8") == ["OJQ8USH5XK"]
    assert references(search="jane") == ["res-5"]
    assert references(search="%") == [] and references(search="_") == []  # LIKE wildcards are literal
    assert references(search="   ") == references()


def test_daily_totals_are_nairobi_days_with_every_day_and_kind_present(stored: sa.Engine) -> None:
    frame = daily_totals(stored, start=START, end=END)
    assert list(frame.columns) == list(DAILY_COLUMNS)
    assert len(frame) == 6 * 4  # six days by four kinds, zeros included
    assert sorted(set(frame["date"])) == [date(2026, 11, day) for day in range(15, 21)]
    money = {(row.date.day, row.kind): (row.amount, row.count) for row in frame.itertuples() if row.count}
    assert money == {
        (18, "buygoods"): (Decimal("1250.50"), 2),  # 00:00 and 23:59:59 Nairobi, though the first is the 17th in UTC
        (19, "buygoods"): (Decimal("99.99"), 1),  # 00:30 Nairobi is still the 18th in UTC
        (19, "b2b"): (Decimal("313.00"), 1),
        (20, "m2m"): (Decimal("456.00"), 1),  # the reversed 500.00 is not counted
    }
    assert frame.loc[frame["date"] == date(2026, 11, 15), "amount"].tolist() == [Decimal("0.00")] * 4
    assert all(type(amount) is Decimal for amount in frame["amount"])
    only_b2b = daily_totals(stored, start=START, end=END, kinds=["b2b"])
    assert len(only_b2b) == 6 and set(only_b2b["kind"]) == {"b2b"}


def test_daily_totals_of_an_empty_range_are_all_zero(stored: sa.Engine) -> None:
    start, end = day_range(date(2026, 1, 1), date(2026, 1, 2))
    frame = daily_totals(stored, start=start, end=end)
    assert len(frame) == 8 and set(frame["amount"]) == {Decimal("0.00")} and set(frame["count"]) == {0}
    assert summary(stored, start=start, end=end) == Summary(Decimal("0.00"), 0, Decimal("0.00"), 0, Decimal("0.00"), 0)
    assert received(stored, start=start, end=end).empty


def test_hourly_pattern_is_by_nairobi_hour(stored: sa.Engine) -> None:
    frame = hourly_pattern(stored, start=START, end=END)
    assert list(frame["hour"]) == list(range(24))
    busy = {row.hour: (row.amount, row.count) for row in frame.itertuples() if row.count}
    assert busy == {
        0: (Decimal("349.99"), 2), 8: (Decimal("313.00"), 1), 12: (Decimal("456.00"), 1), 23: (Decimal("1000.50"), 1)
    }
    assert sum(frame["amount"]) == Decimal("2119.49")


def test_top_payers_by_total(stored: sa.Engine) -> None:
    frame = top_payers(stored, start=START, end=END)
    assert list(frame.columns) == list(TOP_PAYER_COLUMNS)
    assert [(row.payer, row.amount, row.count) for row in frame.itertuples()] == [
        ("Wanjiru Kamau", Decimal("1250.50"), 2),
        ("Jane Flowers", Decimal("456.00"), 1),
        ("Till 890642", Decimal("313.00"), 1),
        ("Otieno Odhiambo", Decimal("99.99"), 1),
    ]
    assert frame["sender_phone"].iloc[0] == "+254700000001"
    assert frame["last_paid_at"].iloc[0] == pd.Timestamp("2026-11-18T20:59:59Z")
    assert len(top_payers(stored, start=START, end=END, limit=2)) == 2


def test_export_csv_bytes(stored: sa.Engine) -> None:
    frame = received(stored, start=START, end=END, kinds=["b2b", "m2m"])
    assert export_csv(frame) == (
        "\ufeffoccurred_at,reference,kind,status,amount,currency,sender,sender_phone,till_number\r\n"
        "2026-11-20 12:00:00+03:00,res-5,m2m,received,456.00,KES,Jane Flowers,,\r\n"
        "2026-11-19 08:18:45+03:00,OJQ8USH5XK,b2b,received,313.00,KES,Till 890642,,461863\r\n"
    ).encode()


def test_export_csv_quotes_text_and_keeps_formulas_from_running() -> None:
    frame = pd.DataFrame(
        [(datetime(2026, 11, 20, 7, 43, 19, tzinfo=UTC), "REF1", "buygoods", "reversed",
          Decimal("1250.5"), "KES", "Müller, Anna", "+254712345678", "514459"),
         (datetime(2026, 11, 20, 21, 0, tzinfo=UTC), "REF2", "buygoods", "received",
          Decimal(3), "KES", '=HYPERLINK("x")', None, None)],
        columns=list(RECEIVED_COLUMNS),
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    text = export_csv(frame).decode("utf-8-sig")
    assert text.splitlines()[1:] == [
        '2026-11-20 10:43:19+03:00,REF1,buygoods,reversed,1250.50,KES,"Müller, Anna",+254712345678,514459',
        '2026-11-21 00:00:00+03:00,REF2,buygoods,received,3.00,KES,"\'=HYPERLINK(""x"")",,',
    ]
    empty = export_csv(pd.DataFrame(columns=list(RECEIVED_COLUMNS)).astype({"occurred_at": "datetime64[ns, UTC]"}))
    assert empty == "\ufeffoccurred_at,reference,kind,status,amount,currency,sender,sender_phone,till_number\r\n".encode()


def test_a_naive_range_is_refused(stored: sa.Engine) -> None:
    with pytest.raises(ValueError, match="aware"):
        received(stored, start=datetime(2026, 11, 15), end=END)

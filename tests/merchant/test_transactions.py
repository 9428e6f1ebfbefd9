"""Transactions on SQLite and PostgreSQL: the shared filter, server-side pages, one payment in full, streamed
exports; over rows stored through the real mapping and store path."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, add_user, audit_log, get_user
from merchant.db import open_database
from merchant.inbox.store import record_deliveries
from merchant.money_in import (
    BUSINESS_TIMEZONE,
    MoneyInFilter,
    conditions,
    day_range,
    reference_searched,
    searchable,
)
from merchant.money_in.transactions import (
    EXPORT_COLUMNS,
    Totals,
    Wording,
    export,
    payment_detail,
    totals,
    transactions,
)
from tests.merchant.conftest import buygoods, delivered

# Nairobi days 15..20 November 2026; the money sits on the 18th, 19th and 20th.
RANGE = MoneyInFilter.days(date(2026, 11, 15), date(2026, 11, 20))


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
    payment(3, "2026-11-19T00:30:00+03:00", amount="99.99", sender_first_name="Otieno",
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
NEWEST_FIRST = ["res-5", "REF0000006", "OJQ8USH5XK", "REF0000003", "REF0000002", "REF0000001"]


@pytest.fixture
def stored(database_url: str) -> Iterator[sa.Engine]:
    engine = open_database(database_url)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(body) for body in BODIES])
    yield engine
    engine.dispose()


def references(engine: sa.Engine, **options: Any) -> list[str]:
    """The references a filter over RANGE finds, newest first (all of them: one page is enough here)."""
    found = transactions(engine, MoneyInFilter(RANGE.start, RANGE.end, **options), limit=100)
    return [row.reference for row in found.rows]


class TestFilter:
    def test_days_are_whole_nairobi_days(self) -> None:
        assert (RANGE.start, RANGE.end) == day_range(date(2026, 11, 15), date(2026, 11, 20))
        assert RANGE.start == datetime(2026, 11, 15, tzinfo=BUSINESS_TIMEZONE)
        assert RANGE.end == datetime(2026, 11, 21, tzinfo=BUSINESS_TIMEZONE)

    def test_lists_become_tuples_and_search_spaces_fold(self) -> None:
        made = MoneyInFilter(RANGE.start, RANGE.end, kinds=["b2b"], search="  0712   345 678 ")  # type: ignore[arg-type]
        assert made.kinds == ("b2b",) and made.search == "0712 345 678"
        assert hash(made) == hash(MoneyInFilter(RANGE.start, RANGE.end, kinds=("b2b",), search="0712 345 678"))

    @pytest.mark.parametrize("written", ["0712 345 678", "0712-345-678", "+254712345678", "254 712 345 678",
                                         "712345678", "0112345678"])
    def test_a_whole_phone_is_equality_on_the_indexed_column(self, written: str) -> None:
        where = conditions(MoneyInFilter(RANGE.start, RANGE.end, search=written))[-1]
        sql = str(where.compile(compile_kwargs={"literal_binds": True}))
        assert sql == f"transactions.sender_phone = '+254{written.replace(' ', '').replace('-', '')[-9:]}'"

    @pytest.mark.parametrize("partial", ["0712", "0712 345", "345 678", "12345678", "07123456789", "Kamau"])
    def test_a_part_of_a_number_or_a_word_is_still_a_search_by_words(self, partial: str) -> None:
        where = conditions(MoneyInFilter(RANGE.start, RANGE.end, search=partial))[-1]
        assert " LIKE " in str(where.compile()).upper()

    def test_what_reads_as_a_whole_reference(self) -> None:
        assert reference_searched("OJM6Q1W84K") == ("OJM6Q1W84K", "ojm6q1w84k")
        assert reference_searched(" ojm6q1w84k ") == ("ojm6q1w84k", "OJM6Q1W84K")
        k2_id = "8ff34785-799e-4cc5-9082-c363445c09dd"
        assert reference_searched(k2_id) == (k2_id, k2_id.upper())
        for not_whole in ("OJM6Q1W8", "JEPCHIRCHI", "1234567890", "OJM6Q1W84KX", "res-5", "wanjiru kamau"):
            assert reference_searched(not_whole) == (), not_whole

    def test_a_search_needs_a_whole_phone_or_a_word_of_three_characters(self) -> None:
        for enough in ("kam", "ju kamau", "0712 345 678", "7 1 2 3 4 5 6 7 8", "OJM6Q1W84K"):
            assert searchable(enough), enough
        for too_short in ("ka", "a b 07", "", "  "):
            assert not searchable(too_short), too_short

    def test_a_naive_or_backwards_range_is_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            MoneyInFilter(datetime(2026, 11, 15), RANGE.end)
        with pytest.raises(ValueError, match="ends .* before it starts"):
            MoneyInFilter(RANGE.end, RANGE.start)


class TestTransactions:
    def test_the_range_newest_first_with_reversals_and_payers(self, stored: sa.Engine) -> None:
        page = transactions(stored, RANGE)
        assert [row.reference for row in page.rows] == NEWEST_FIRST
        assert [row.status for row in page.rows] == ["received", "reversed", "received", "received", "received",
                                                    "received"]
        assert [row.payer for row in page.rows] == [
            "Jane Flowers", "Wanjiru Kamau", "Till 890642", "Otieno Odhiambo", "Wanjiru Kamau", "Wanjiru Kamau"
        ]
        assert [row.amount for row in page.rows] == [
            Decimal(a) for a in ("456.00", "500.00", "313.00", "99.99", "1000.50", "250.00")
        ]
        assert page.rows[-1].occurred_at == datetime(2026, 11, 18, tzinfo=BUSINESS_TIMEZONE)
        assert page.rows[-1].sender_phone == "+254700000001" and page.rows[0].till_number is None
        assert page.totals == Totals(count=6, received=Decimal("2119.49"), received_count=5,
                                     reversed=Decimal("500.00"), reversed_count=1)
        # summed from the rows when the filter fits on one page, in SQL otherwise: the same figures
        assert page.totals == totals(stored, RANGE) == transactions(stored, RANGE, limit=2).totals

    def test_pages_follow_one_another_without_gaps_or_repeats(self, stored: sa.Engine) -> None:
        seen = []
        for offset in (0, 4):
            page = transactions(stored, RANGE, offset=offset, limit=4)
            assert page.offset == offset and page.totals.count == 6
            seen += [row.reference for row in page.rows]
        assert seen == NEWEST_FIRST
        assert transactions(stored, RANGE, offset=6, limit=4).rows == ()
        with pytest.raises(ValueError, match="row 1 or later"):
            transactions(stored, RANGE, offset=-1)

    def test_same_moment_payments_keep_one_order(self, database_url: str) -> None:
        engine = open_database(database_url)
        at = "2026-11-19T09:00:00+03:00"
        with engine.begin() as connection:
            record_deliveries(connection, [delivered(payment(n, at)) for n in range(20, 26)])
        halves = [transactions(engine, RANGE, offset=offset, limit=3).rows for offset in (0, 3)]
        assert sorted(row.reference for half in halves for row in half) == [f"REF00000{n}" for n in range(20, 26)]
        engine.dispose()

    def test_every_filter(self, stored: sa.Engine) -> None:
        assert references(stored, kinds=("b2b", "m2m")) == ["res-5", "OJQ8USH5XK"]
        assert references(stored, statuses=("reversed",)) == ["REF0000006"]
        assert references(stored, statuses=("received",), kinds=("buygoods",)) == NEWEST_FIRST[3:]
        assert references(stored, tills=("461863",)) == ["OJQ8USH5XK"]
        assert references(stored, tills=("514459", "461863")) == NEWEST_FIRST[1:]
        one_day = MoneyInFilter.days(date(2026, 11, 18), date(2026, 11, 18))
        assert [row.reference for row in transactions(stored, one_day).rows] == ["REF0000002", "REF0000001"]
        assert totals(stored, MoneyInFilter(RANGE.start, RANGE.end, kinds=("b2b", "m2m"))).received == Decimal("769.00")
        assert totals(stored, MoneyInFilter(RANGE.start, RANGE.end, statuses=("reversed",))) == Totals(
            1, Decimal("0.00"), 0, Decimal("500.00"), 1)

    def test_search_by_reference_name_or_phone_in_any_form(self, stored: sa.Engine) -> None:
        kamau = ["REF0000006", "REF0000002", "REF0000001"]
        assert references(stored, search="KAMAU") == kamau
        assert references(stored, search="wanjiru kamau") == kamau  # every word, each in some column
        assert references(stored, search="wanjiru otieno") == []
        for written in ("0700 000 001", "0700000001", "+254700000001", "254 700 000 001", "+254 700-000-001"):
            assert references(stored, search=written) == ["REF0000002", "REF0000001"], written
        assert references(stored, search="0700000003") == ["REF0000003"]
        assert references(stored, search="07000000") == ["REF0000006", "REF0000003", "REF0000002", "REF0000001"]
        assert references(stored, search="ojq8") == ["OJQ8USH5XK"]
        assert references(stored, search="890642") == ["OJQ8USH5XK"]  # the paying till
        assert references(stored, search="jane") == ["res-5"]
        assert references(stored, search="%") == [] and references(stored, search="_") == []  # literal wildcards
        assert references(stored, search="   ") == NEWEST_FIRST
        assert references(stored, search="700000001") == ["REF0000002", "REF0000001"]  # the 0 a spreadsheet dropped

    def test_a_search_pages_like_any_filter_with_its_totals_on_every_page(self, stored: sa.Engine) -> None:
        """A search's totals hold on every page, past the end too."""
        kamau = MoneyInFilter(RANGE.start, RANGE.end, search="kamau")
        expected = Totals(3, Decimal("1250.50"), 2, Decimal("500.00"), 1)
        pages = [transactions(stored, kamau, offset=offset, limit=2) for offset in (0, 2, 4)]
        assert [[row.reference for row in page.rows] for page in pages] == [["REF0000006", "REF0000002"],
                                                                            ["REF0000001"], []]
        assert [page.totals for page in pages] == [expected] * 3
        nobody = transactions(stored, MoneyInFilter(RANGE.start, RANGE.end, search="zzyzx"), offset=2, limit=2)
        assert nobody.rows == () and nobody.totals == Totals(0, Decimal("0.00"), 0, Decimal("0.00"), 0)

    def test_a_whole_reference_is_looked_up_then_kept_to_the_filter(self, stored: sa.Engine) -> None:
        assert references(stored, search="ojq8ush5xk") == ["OJQ8USH5XK"]  # as typed, in small letters
        assert references(stored, search="OJQ8USH5XK", kinds=("b2b",)) == ["OJQ8USH5XK"]
        assert references(stored, search="OJQ8USH5XK", kinds=("buygoods",)) == []
        assert references(stored, search="REF0000009") == []  # held, but paid the day before the range
        assert references(stored, search="ABC1234567") == []  # shaped like one, held by none: searched by words
        assert transactions(stored, MoneyInFilter(RANGE.start, RANGE.end, search="REF0000003")).totals == Totals(
            1, Decimal("99.99"), 1, Decimal("0.00"), 0)

    def test_an_m2m_payment_has_no_mpesa_reference_only_its_k2_id(self, stored: sa.Engine) -> None:
        rows = {row.reference: row for row in transactions(stored, RANGE).rows}
        assert rows["res-5"].mpesa_reference is None and rows["res-5"].k2_id == "res-5"
        assert rows["OJQ8USH5XK"].mpesa_reference == "OJQ8USH5XK" and rows["OJQ8USH5XK"].k2_id == "res-4"
        k2_id = "56e27eb5-62ed-4f84-841a-cf6ee215107d"
        with stored.begin() as connection:  # an import that kept K2's id as the key but not the id itself
            connection.execute(sa.text(
                "INSERT INTO transactions (reference, kind, amount_cents, currency, status, occurred_at, event_id, "
                f"recorded_at) VALUES ('{k2_id}', 'm2m', 100, 'KES', 'received', '2026-11-19 06:00:00', 'import-2', "
                "'2026-11-19 06:00:00')"))
        imported = transactions(stored, MoneyInFilter(RANGE.start, RANGE.end, search=k2_id.upper())).rows
        assert [row.reference for row in imported] == [k2_id] and imported[0].mpesa_reference is None

    def test_an_empty_range(self, stored: sa.Engine) -> None:
        empty = transactions(stored, MoneyInFilter.days(date(2026, 1, 1), date(2026, 1, 2)))
        assert empty.rows == () and empty.totals == Totals(0, Decimal("0.00"), 0, Decimal("0.00"), 0)


class TestDetail:
    def test_every_stored_field_the_raw_body_and_the_reversal(self, stored: sa.Engine) -> None:
        reversed_one = next(row for row in transactions(stored, RANGE).rows if row.reference == "REF0000006")
        detail = payment_detail(stored, reversed_one.id)
        assert detail is not None and detail.payment == reversed_one
        columns = {column["name"] for column in sa.inspect(stored).get_columns("transactions")}
        assert set(detail.stored) == columns - {"searched_text"}  # PostgreSQL's search text, made of the others
        assert detail.stored["amount_cents"] == 50_000 and detail.stored["event_id"] == (
            "evt-buygoods_transaction_received-6")
        assert detail.raw_body is not None and detail.raw_body.startswith('{\n  "topic": ')
        assert json.loads(detail.raw_body) == json.loads(BODIES[5])
        assert detail.reversal is not None and detail.reversal.status == "reversed"
        assert detail.reversal.event_id == "evt-buygoods_transaction_reversed-7"
        assert json.loads(detail.reversal.raw_body or "")["topic"] == "buygoods_transaction_reversed"

    def test_a_kept_payment_has_no_reversal_and_an_unknown_id_is_none(self, stored: sa.Engine) -> None:
        kept = transactions(stored, RANGE).rows[0]
        detail = payment_detail(stored, kept.id)
        assert detail is not None and detail.reversal is None
        assert payment_detail(stored, 10**9) is None

    def test_a_row_written_without_a_webhook_shows_without_a_body(self, stored: sa.Engine) -> None:
        with stored.begin() as connection:  # e.g. a restore or an import: the table is public
            connection.execute(sa.text(
                "INSERT INTO transactions (reference, kind, amount_cents, currency, status, occurred_at, event_id, "
                "recorded_at) VALUES ('IMPORTED1', 'buygoods', 100, 'KES', 'received', '2026-11-19 06:00:00', "
                "'import-1', '2026-11-19 06:00:00')"))
        imported = next(row for row in transactions(stored, RANGE).rows if row.reference == "IMPORTED1")
        detail = payment_detail(stored, imported.id)
        assert detail is not None and detail.raw_body is None and detail.payment.payer is None


WORDS = Wording(kind=lambda code: {"buygoods": "Till payment"}.get(code, code),
                status=str.capitalize, phone=lambda e164: e164.replace("+254", "0") if e164 else "")


@pytest.fixture
def finance(stored: sa.Engine) -> Any:
    add_user(stored, CONSOLE, username="akinyi", name="Akinyi", role=Role.FINANCE, password="a long passphrase")
    return get_user(stored, "akinyi")


def exported_bytes(engine: sa.Engine, actor: Any, format: str, **options: Any) -> bytes:
    return b"".join(export(engine, actor, MoneyInFilter(RANGE.start, RANGE.end, **options), format=format,
                           wording=WORDS))  # type: ignore[arg-type]


class TestExport:
    def test_csv_rows_and_the_amount_column_sums_to_the_total(self, stored: sa.Engine, finance: Any) -> None:
        data = exported_bytes(stored, finance, "csv")
        assert data.startswith("\ufeff".encode()) and b"\r\n" in data
        lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert tuple(lines[0]) == EXPORT_COLUMNS
        assert lines[1:3] == [
            ["2026-11-20 12:00:00", "", "m2m", "Received", "456.00", "", "KES", "Jane Flowers", "", ""],  # no K2 id
            ["2026-11-20 10:00:00", "REF0000006", "Till payment", "Reversed", "", "500.00", "KES", "Wanjiru Kamau",
             "0700000006", "514459"],
        ]
        assert [line[1] for line in lines[1:]] == ["", *NEWEST_FIRST[1:]]
        amounts = sum(Decimal(line[4]) for line in lines[1:] if line[4])
        assert amounts == totals(stored, RANGE).received == Decimal("2119.49")
        assert sum(Decimal(line[5]) for line in lines[1:] if line[5]) == totals(stored, RANGE).reversed

    def test_xlsx_rows_and_the_amount_column_sums_to_the_total(self, stored: sa.Engine, finance: Any) -> None:
        data = exported_bytes(stored, finance, "xlsx", kinds=("buygoods",))
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Transactions"]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == EXPORT_COLUMNS
        assert rows[1] == (datetime(2026, 11, 20, 10, 0), "REF0000006", "Till payment", "Reversed", None, 500,
                           "KES", "Wanjiru Kamau", "0700000006", "514459")
        assert [row[1] for row in rows[1:]] == ["REF0000006", "REF0000003", "REF0000002", "REF0000001"]
        received = totals(stored, MoneyInFilter(RANGE.start, RANGE.end, kinds=("buygoods",))).received
        assert Decimal(str(round(sum(row[4] or 0 for row in rows[1:]), 2))) == received == Decimal("1350.49")

    def test_text_that_would_run_as_a_formula_stays_text(self, database_url: str, finance: Any,
                                                        stored: sa.Engine) -> None:
        with stored.begin() as connection:
            record_deliveries(connection, [delivered(payment(
                30, "2026-11-19T07:00:00+03:00", sender_first_name='=HYPERLINK("http://x")', sender_last_name="",
                reference="@SUM(A1)"))])
        only = {"search": "sum(a1)"}
        line = list(csv.reader(io.StringIO(exported_bytes(stored, finance, "csv", **only).decode("utf-8-sig"))))[1]
        assert line[1] == "'@SUM(A1)" and line[7] == "'=HYPERLINK(\"http://x\")"
        sheet = openpyxl.load_workbook(io.BytesIO(exported_bytes(stored, finance, "xlsx", **only)))["Transactions"]
        assert sheet["B2"].value == "'@SUM(A1)" and sheet["B2"].data_type == "s"
        assert sheet["H2"].value == "'=HYPERLINK(\"http://x\")" and sheet["H2"].data_type == "s"

    def test_comes_in_chunks_and_an_empty_filter_is_a_header(self, stored: sa.Engine, finance: Any) -> None:
        with stored.begin() as connection:
            record_deliveries(connection, [delivered(payment(n, "2026-11-17T12:00:00+03:00"))
                                           for n in range(100, 4_600)])
        chunks = list(export(stored, finance, RANGE, format="csv"))
        assert len(chunks) >= 3  # a header, then a chunk per 2,000 rows
        assert b"".join(chunks).count(b"\r\n") == 1 + 6 + 4_500
        assert max(len(chunk) for chunk in chunks) < 2_000 * 200
        nothing = MoneyInFilter.days(date(2026, 1, 1), date(2026, 1, 1))
        assert b"".join(export(stored, finance, nothing, format="csv")) == (
            "\ufeff" + ",".join(EXPORT_COLUMNS) + "\r\n").encode()
        empty = openpyxl.load_workbook(io.BytesIO(b"".join(export(stored, finance, nothing, format="xlsx"))))
        assert [row for row in empty["Transactions"].iter_rows(values_only=True)] == [EXPORT_COLUMNS]

    def test_audited_and_refused_to_a_viewer(self, stored: sa.Engine, finance: Any) -> None:
        exported_bytes(stored, finance, "csv", kinds=("b2b",))
        entry = audit_log(stored, actions=[AuditAction.EXPORTED]).iloc[0]
        assert (entry.actor, entry.target) == ("akinyi", "transactions (csv)")
        detail = entry.detail if isinstance(entry.detail, dict) else json.loads(entry.detail)
        assert detail["kinds"] == "b2b" and detail["start"] == RANGE.start.isoformat()
        add_user(stored, CONSOLE, username="juma", name="Juma", role=Role.VIEWER, password="a long passphrase")
        with pytest.raises(NotAllowed):
            export(stored, get_user(stored, "juma"), RANGE, format="csv")

"""The Transactions page under Streamlit's AppTest, against a temporary SQLite file."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import merchant.money_in.transactions as service
from merchant.access import AuditAction, Role, audit_log
from merchant.db import open_database
from merchant.inbox.store import record_deliveries
from merchant.money_in import BUSINESS_TIMEZONE
from tests.merchant.conftest import buygoods, delivered

from .conftest import a_user, page_as

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    st.cache_data.clear()  # the till list is cached for the process


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def nairobi(days_ago: int, hour: int, minute: int = 0) -> datetime:
    """A Nairobi time `days_ago` days before today: inside the page's default range of the last 30 days."""
    day = datetime.now(BUSINESS_TIMEZONE).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour, minute), BUSINESS_TIMEZONE)


def payment(n: int, at: datetime, *, topic: str = "buygoods_transaction_received", **resource: Any) -> bytes:
    document = json.loads(buygoods(n, topic=topic))
    document["event"]["resource"].update({"origination_time": at.isoformat(), **resource})
    return json.dumps(document).encode()


def store(url: str, bodies: list[bytes]) -> None:
    engine = open_database(url)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(body) for body in bodies])
    engine.dispose()


def run_page(page: AppTest | None = None, role: Role = Role.FINANCE) -> AppTest:
    page = page or page_as("pages/transactions.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """Each download button's file maker, by file name: the page makes a file only when it is clicked, so a test
    clicks by calling it."""
    makers: dict[str, Callable[[], Any]] = {}
    add = MediaFileManager.add_deferred

    def recording(self: MediaFileManager, callable: Callable[[], Any], mimetype: str | None, coordinates: str,
                  file_name: str | None = None, **options: Any) -> str:
        makers[file_name or ""] = callable
        return add(self, callable, mimetype, coordinates, file_name=file_name, **options)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    return makers


@pytest.fixture
def shop(database_url: str) -> str:
    store(database_url, [
        payment(1, nairobi(1, 18), amount="99.99", sender_first_name="Otieno", sender_last_name="Odhiambo"),
        payment(2, nairobi(1, 9, 15), amount="1250.50"),
        payment(3, nairobi(2, 10), amount="500.00"),
        payment(4, nairobi(2, 10, 5), topic="buygoods_transaction_reversed", reference="REF0000003"),
        payment(5, nairobi(3, 8), topic="b2b_transaction_received", amount="1313", reference="OJQ8USH5XK",
                sending_till="890642", sender_first_name=None, sender_last_name=None, sender_phone_number=None),
        payment(6, nairobi(40, 12), amount="100.00"),  # older than the default range
    ])
    return database_url


def table(page: AppTest) -> Any:
    return page.dataframe[0].value


def test_the_last_30_days_in_words(shop: str) -> None:
    page = run_page()
    assert page.header[0].value == "Transactions"
    rows = table(page)
    assert list(rows.columns) == ["When", "Amount", "Payer", "Phone", "Kind", "Status", "Reference", "Till"]
    assert list(rows["Reference"]) == ["REF0000001", "REF0000002", "REF0000003", "OJQ8USH5XK"]
    assert list(rows["Amount"]) == ["KES 99.99", "KES 1,250.50", "KES 500", "KES 1,313"]
    assert list(rows["Kind"]) == ["Till payment", "Till payment", "Till payment", "From a business (B2B)"]
    assert list(rows["Status"]) == ["Received", "Received", "Reversed", "Received"]
    assert list(rows["Phone"]) == ["0700 000 001", "0700 000 002", "0700 000 003", ""]  # a blank for nothing
    assert list(rows["Payer"])[-1] == "Till 890642"
    assert rows["When"].iloc[1] == f"{nairobi(1, 9, 15):%d/%m/%Y} 09:15"
    assert "None" not in rows.to_string()
    said = page.markdown[0].value
    assert "Received **KES 2,663.49** from 3 payments" in said and "Reversed KES 500 (1), not counted" in said
    assert page.caption[0].value == "Showing 1–4 of 4"
    assert page.button(key="transactions_previous").disabled and page.button(key="transactions_next").disabled


def test_runs_as_a_page_of_the_navigation(shop: str) -> None:
    frame = AppTest.from_string(
        f"import streamlit as st\nst.navigation([st.Page({str(ROOT / 'pages' / 'transactions.py')!r})]).run()",
        default_timeout=30,
    )
    frame.session_state["signin_user"] = a_user(Role.VIEWER)
    page = run_page(frame)
    assert len(table(page)) == 4 and not page.error


def test_pages_of_fifty(database_url: str) -> None:
    store(database_url, [payment(n, nairobi(n // 40, 12, n % 40)) for n in range(1, 121)])
    page = run_page()
    assert page.caption[0].value == "Showing 1–50 of 120" and len(table(page)) == 50
    page.button(key="transactions_next").click()
    run_page(page)
    assert page.caption[0].value == "Showing 51–100 of 120"
    first_of_second = table(page)["Reference"].iloc[0]
    page.button(key="transactions_next").click()
    run_page(page)
    assert page.caption[0].value == "Showing 101–120 of 120" and page.button(key="transactions_next").disabled
    page.button(key="transactions_previous").click()
    run_page(page)
    assert table(page)["Reference"].iloc[0] == first_of_second
    page.text_input(key="transactions_search").input("kamau")  # a new filter starts again at its first page
    run_page(page)
    assert page.caption[0].value == "Showing 1–50 of 120"


def test_filters_and_search(shop: str) -> None:
    page = run_page()
    page.text_input(key="transactions_search").input("otieno")
    run_page(page)
    assert list(table(page)["Reference"]) == ["REF0000001"]
    page.text_input(key="transactions_search").input("0700 000 002")
    run_page(page)
    assert list(table(page)["Reference"]) == ["REF0000002"]
    page.text_input(key="transactions_search").input("ot 0")  # too short to narrow anything: not searched
    run_page(page)
    assert "too short to search" in page.info[0].value and len(table(page)) == 4
    page.text_input(key="transactions_search").input("ot odh")  # a short word beside a longer one narrows it
    run_page(page)
    assert list(table(page)["Reference"]) == ["REF0000001"] and not page.info
    page.text_input(key="transactions_search").input("")
    page.multiselect(key="transactions_kinds").select("b2b")
    run_page(page)
    assert list(table(page)["Reference"]) == ["OJQ8USH5XK"]
    page.multiselect(key="transactions_kinds").unselect("b2b")
    page.multiselect(key="transactions_statuses").select("reversed")
    run_page(page)
    assert list(table(page)["Reference"]) == ["REF0000003"]
    assert "Received **KES 0** from 0 payments" in page.markdown[0].value
    page.multiselect(key="transactions_statuses").unselect("reversed")
    assert page.multiselect(key="transactions_tills").options == ["514459"]
    yesterday = nairobi(1, 0).date()
    page.date_input(key="transactions_dates").set_value((yesterday, yesterday))
    run_page(page)
    assert list(table(page)["Reference"]) == ["REF0000001", "REF0000002"]


def test_nothing_in_range_says_what_to_do(database_url: str) -> None:
    store(database_url, [payment(1, nairobi(40, 12))])
    page = run_page()
    said = page.info[0].value
    assert "No payments between" in said and "Widen the date range" in said
    assert "Fill in history" in said and "Webhook subscriptions" in said
    page.text_input(key="transactions_search").input("nobody")
    run_page(page)
    assert "match your search or filters" in page.info[0].value and not page.dataframe


def test_one_payment_in_full_with_its_reversal_and_raw_webhook(shop: str) -> None:
    page = run_page()
    reversed_one = page.selectbox(key="transactions_chosen").options[2]
    page.selectbox(key="transactions_chosen").select_index(2)
    run_page(page)
    assert reversed_one.endswith("· Wanjiru Kamau · REF0000003")
    assert page.markdown[1].value == "**KES 500** · Till payment · Reversed"
    assert "not counted in your takings" in page.warning[0].value
    stored = page.dataframe[1].value
    fields = dict(zip(stored["Field"], stored["Value"], strict=True))
    assert fields["Amount"] == "KES 500" and fields["Status"] == "Reversed" and fields["Phone"] == "0700 000 003"
    assert fields["Paid at (Nairobi)"].endswith(" 10:00:00") and fields["Middle name"] == ""
    assert fields["K2 id"] == "res-3" and fields["Reference (M-Pesa's, or K2's id where M-Pesa gave none)"] == (
        "REF0000003")
    bodies = [json.loads(code.value) for code in page.code]
    assert [body["topic"] for body in bodies] == ["buygoods_transaction_received", "buygoods_transaction_reversed"]


def test_a_viewer_sees_masked_phones_no_raw_bodies_and_no_downloads(shop: str) -> None:
    page = run_page(role=Role.VIEWER)
    phones = set(table(page)["Phone"])
    assert "0700 000 002" not in phones and {"0700 *** 002", "0700 *** 001"} <= phones
    assert not page.get("download_button")
    page.selectbox(key="transactions_chosen").select_index(1)
    run_page(page)
    assert "0700 *** 002" in page.caption[1].value and "0700 000 002" not in page.caption[1].value
    stored = page.dataframe[1].value
    assert dict(zip(stored["Field"], stored["Value"], strict=True))["Phone"] == "0700 *** 002"
    assert not page.code


def test_downloads_are_the_filter_audited_and_sum_to_the_total(shop: str, deferred: dict[str, Any]) -> None:
    page = run_page()
    assert [button.proto.label for button in page.get("download_button")] == ["Download CSV", "Download Excel"]
    first, last = nairobi(29, 0).date(), nairobi(0, 0).date()
    lines = list(csv.reader(io.StringIO(deferred[f"transactions_{first}_{last}.csv"]().decode("utf-8-sig"))))
    assert [line[1] for line in lines[1:]] == ["REF0000001", "REF0000002", "REF0000003", "OJQ8USH5XK"]
    assert lines[3][2:6] == ["Till payment", "Reversed", "", "500.00"] and lines[1][8] == "0700 000 001"
    assert sum(Decimal(line[4]) for line in lines[1:] if line[4]) == Decimal("2663.49")
    workbook = openpyxl.load_workbook(io.BytesIO(deferred[f"transactions_{first}_{last}.xlsx"]()))
    assert [row[1] for row in workbook["Transactions"].iter_rows(min_row=2, values_only=True)] == [
        "REF0000001", "REF0000002", "REF0000003", "OJQ8USH5XK"]
    entries = audit_log(open_database(shop), actions=[AuditAction.EXPORTED])
    assert sorted(entries["target"]) == ["transactions (csv)", "transactions (xlsx)"]
    assert set(entries["actor"]) == {"wanjiku"}


def test_a_page_emptied_behind_the_reader_goes_back_to_the_first(database_url: str) -> None:
    store(database_url, [payment(n, nairobi(1, 8, n - 1)) for n in range(1, 61)])
    page = run_page()
    page.button(key="transactions_next").click()
    run_page(page)
    assert page.caption[0].value == "Showing 51–60 of 60"
    engine = open_database(database_url)
    with engine.begin() as connection:  # e.g. an older backup restored
        connection.execute(sa.text("DELETE FROM transactions WHERE id > 40"))
    engine.dispose()
    run_page(page)
    assert page.caption[0].value == "Showing 1–40 of 40"



def test_the_page_is_read_again_only_when_a_payment_was_written(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = service.transactions
    reads: list[int] = []

    def counted(*args: Any, **options: Any) -> Any:
        reads.append(1)
        return real(*args, **options)

    monkeypatch.setattr(service, "transactions", counted)  # the page imports it by name on each run
    page = run_page()
    assert len(reads) == 1 and page.caption[0].value == "Showing 1–4 of 4"
    run_page(page)  # the 10-second rerun with nothing written: the copy kept in the session
    assert len(reads) == 1 and page.caption[0].value == "Showing 1–4 of 4"
    store(shop, [payment(7, nairobi(0, 0, 1), amount="777")])  # any writer moves the change counter
    run_page(page)
    assert len(reads) == 2 and page.caption[0].value == "Showing 1–5 of 5"
    assert table(page)["Amount"][0] == "KES 777"


def test_an_m2m_payment_shows_no_k2_id_as_its_reference(database_url: str, deferred: dict[str, Any]) -> None:
    k2_id = "8ff34785-799e-4cc5-9082-c363445c09dd"
    store(database_url, [payment(1, nairobi(1, 9), topic="m2m_transaction_received", id=k2_id, reference=None,
                                 sending_merchant="Jane Flowers", sender_first_name=None, sender_last_name=None,
                                 sender_phone_number=None)])
    page = run_page()
    assert list(table(page)["Reference"]) == [""] and list(table(page)["Payer"]) == ["Jane Flowers"]
    assert k2_id not in page.selectbox(key="transactions_chosen").options[0]
    page.selectbox(key="transactions_chosen").select_index(0)
    run_page(page)
    assert f"K2 id {k2_id}" in page.caption[1].value and "M-Pesa reference" not in page.caption[1].value
    exported = deferred[next(name for name in deferred if name.endswith(".csv"))]()
    assert k2_id.encode() not in exported and b"Jane Flowers" in exported

"""The Money in page under Streamlit's AppTest, against a temporary SQLite file."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from merchant.access import Role

from .conftest import a_user, page_as

from merchant.db import open_database
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.inbox.store import record_deliveries
from tests.merchant.conftest import buygoods, delivered

ROOT = Path(__file__).resolve().parents[2]
HEADER = "\ufeffoccurred_at,reference,kind,status,amount,currency,sender,sender_phone,till_number\r\n"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Cached reads live for the process; each test starts without another test's figures."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


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
    page = page or page_as("pages/money_in.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


@pytest.fixture(autouse=True)
def media(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[bytes, str, str | None]]:
    """What each run handed Streamlit's media store, by URL: (data, mimetype, file name). AppTest drops its
    runtime, store included, when a run ends, so the files are caught on their way in."""
    files: dict[str, tuple[bytes, str, str | None]] = {}
    add = MediaFileManager.add

    def recording(self: MediaFileManager, data: bytes | str, mimetype: str, coordinates: str,
                  file_name: str | None = None, is_for_static_download: bool = False) -> str:
        url = add(self, data, mimetype, coordinates, file_name, is_for_static_download)
        files[url] = (data if isinstance(data, bytes) else data.encode(), mimetype, file_name)
        return url

    monkeypatch.setattr(MediaFileManager, "add", recording)
    return files


def downloaded(page: AppTest, media: dict[str, tuple[bytes, str, str | None]]) -> tuple[bytes, str, str | None]:
    """The file behind the page's download button: (data, mimetype, file name)."""
    return media[page.get("download_button")[0].proto.url]


@pytest.fixture
def shop(database_url: str) -> str:
    store(database_url, [
        payment(1, nairobi(1, 18), amount="99.99", sender_first_name="Otieno", sender_last_name="Odhiambo"),
        payment(2, nairobi(1, 9, 15), amount="1250.50"),
        payment(3, nairobi(2, 10), amount="500.00"),
        payment(4, nairobi(2, 10, 5), topic="buygoods_transaction_reversed", reference="REF0000003"),
        payment(5, nairobi(3, 8), topic="b2b_transaction_received", amount="313", reference="OJQ8USH5XK",
                sending_till="890642", sender_first_name=None, sender_last_name=None, sender_phone_number=None),
        payment(6, nairobi(40, 12), amount="100.00"),  # older than the default range
    ])
    return database_url


def test_the_last_30_days_as_metrics_table_and_csv(shop: str, media: dict[str, Any]) -> None:
    page = run_page()
    assert page.header[0].value == "Money in"
    assert [(metric.label, metric.value) for metric in page.metric] == [
        ("Total received (KES)", "1,663.49"),
        ("Payments", "3"),
        ("Average (KES)", "554.50"),
        ("Distinct payers", "3"),
        ("Reversed (KES)", "500.00"),
    ]
    assert page.metric[4].delta == "1 reversed or voided"
    table = page.dataframe[1].value
    assert list(table["reference"]) == ["REF0000001", "REF0000002", "REF0000003", "OJQ8USH5XK"]
    assert list(table["status"]) == ["received", "received", "reversed", "received"]
    assert str(table["occurred_at"].dt.tz) == "Africa/Nairobi"
    assert table["occurred_at"].iloc[1].to_pydatetime() == nairobi(1, 9, 15)
    assert [(row.payer, str(row.amount)) for row in page.dataframe[0].value.itertuples()] == [
        ("Wanjiru Kamau", "1250.50"), ("Till 890642", "313.00"), ("Otieno Odhiambo", "99.99"),
    ]
    assert len(page.get("plotly_chart")) == 2

    def line(at: datetime, rest: str) -> str:
        return f"{at:%Y-%m-%d %H:%M:%S}+03:00,{rest}\r\n"

    data, mimetype, file_name = downloaded(page, media)
    assert data == (
        HEADER
        + line(nairobi(1, 18), "REF0000001,buygoods,received,99.99,KES,Otieno Odhiambo,+254700000001,514459")
        + line(nairobi(1, 9, 15), "REF0000002,buygoods,received,1250.50,KES,Wanjiru Kamau,+254700000002,514459")
        + line(nairobi(2, 10), "REF0000003,buygoods,reversed,500.00,KES,Wanjiru Kamau,+254700000003,514459")
        + line(nairobi(3, 8), "OJQ8USH5XK,b2b,received,313.00,KES,Till 890642,,514459")
    ).encode()
    first, last = nairobi(29, 0).date(), nairobi(0, 0).date()
    assert page.date_input(key="money_in_dates").value == (first, last)
    assert (mimetype, file_name) == ("text/csv", f"money-in_{first}_{last}.csv")


def test_runs_as_a_page_of_the_navigation(shop: str) -> None:
    """As the frame runs it (the page's module is `__main__` there, so whatever it caches must pickle)."""
    frame = AppTest.from_string(
        f"import streamlit as st\nst.navigation([st.Page({str(ROOT / 'pages' / 'money_in.py')!r})]).run()",
        default_timeout=30,
    )
    frame.session_state["signin_user"] = a_user(Role.VIEWER)
    page = run_page(frame)
    assert page.metric[0].value == "1,663.49" and not page.error


def test_search_and_kind_narrow_everything(shop: str, media: dict[str, Any]) -> None:
    page = run_page()
    page.text_input(key="money_in_search").input("otieno")
    run_page(page)
    assert page.metric[0].value == "99.99" and page.metric[1].value == "1"
    assert list(page.dataframe[1].value["reference"]) == ["REF0000001"]
    page.text_input(key="money_in_search").input("")
    page.multiselect(key="money_in_kinds").select("b2b")
    run_page(page)
    assert page.metric[0].value == "313.00"
    assert downloaded(page, media)[0].count(b"\r\n") == 2
    page.multiselect(key="money_in_kinds").unselect("b2b")
    yesterday = nairobi(1, 0).date()
    page.date_input(key="money_in_dates").set_value((yesterday, yesterday))
    run_page(page)
    assert [metric.value for metric in page.metric[:2]] == ["1,350.49", "2"]
    page.date_input(key="money_in_dates").set_value((yesterday,))  # the first click of a new range
    run_page(page)
    assert page.metric[1].value == "2"


def test_nothing_in_range_is_a_friendly_note(database_url: str) -> None:
    store(database_url, [payment(1, nairobi(40, 12))])
    page = run_page()
    assert "No payments between" in page.info[0].value and "Try a wider date range" in page.info[0].value
    assert not page.metric and not page.dataframe and not page.error


def test_an_unreadable_database_is_said_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "merchant.db").mkdir()  # a folder where the database file should be
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    page = run_page()
    assert "cannot be read right now" in page.error[0].value
    assert "merchant.db" not in page.error[0].value and not page.metric


def test_a_viewer_sees_masked_phones_and_cannot_export(shop: str) -> None:
    page = run_page(role=Role.VIEWER)
    assert "0700 000 002" not in set(page.dataframe[1].value["sender_phone"])
    assert set(page.dataframe[1].value["sender_phone"]) >= {"0700 *** 002", "0700 *** 001"}
    assert not page.get("download_button")


def test_finance_sees_phones_as_kenyans_write_them(shop: str) -> None:
    page = run_page()
    assert "0700 000 002" in set(page.dataframe[1].value["sender_phone"])

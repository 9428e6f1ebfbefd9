"""The Overview page under Streamlit's AppTest, against a temporary SQLite file: tiles against the period before,
the charts, top payers (phones masked for a viewer), the till filter, the empty state, and reading again only
when money has arrived."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from merchant.access import Role
from merchant.db import open_database
from merchant.db.tables import Transaction
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.money_in import overview as service

from ui.words import compared_with, moved, till_name

from .conftest import page_as

_T = Transaction.__table__


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    st.cache_data.clear()  # figures are cached for the process, keyed by the database's change counter


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def so_far(days_ago: int = 0) -> datetime:
    """Halfway between today's Nairobi midnight and now, `days_ago` days back: inside today (or that day) and
    before this moment of it, so yesterday's counts against today whenever the test runs."""
    now = datetime.now(BUSINESS_TIMEZONE)
    midnight = datetime.combine(now.date(), time(), BUSINESS_TIMEZONE)
    return midnight + (now - midnight) / 2 - timedelta(days=days_ago)


def pay(url: str, at: datetime, amount: str, *, phone: str | None = "+254712000001", till: str | None = "514459",
        status: str = "received", kind: str = "buygoods", name: str = "Jane Wanjiru") -> None:
    engine = open_database(url)
    first, _, last = name.partition(" ")
    with engine.begin() as connection:
        n = connection.execute(sa.select(sa.func.count()).select_from(_T)).scalar_one() + 1
        connection.execute(sa.insert(_T).values(
            reference=f"UI{n:08d}", kind=kind, till_number=till, amount_cents=int(Decimal(amount) * 100),
            currency="KES", status=status, occurred_at=at, sender_phone=phone, sender_first_name=first,
            sender_last_name=last, event_id=f"evt-{n}", recorded_at=at))
    engine.dispose()


@pytest.fixture
def shop(database_url: str) -> str:
    pay(database_url, so_far(), "1500.00")
    pay(database_url, so_far(), "500.00", phone="+254712000002", till="514460", name="Akinyi Otieno")
    pay(database_url, so_far(), "300.00", status="reversed")
    pay(database_url, so_far(1), "1000.00", phone="+254712000003", name="Kamau Mwangi")
    pay(database_url, so_far(3), "250.00", kind="b2b", phone=None, till="514460", name="")
    return database_url


def run(page: AppTest) -> AppTest:
    page.run()
    assert not page.exception, page.exception
    return page


def tiles(page: AppTest) -> dict[str, tuple[str, str]]:
    return {metric.label: (metric.value, metric.proto.delta) for metric in page.metric}


def charts(page: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in page.get("plotly_chart")]


def test_today_against_yesterday_in_shillings(shop: str) -> None:
    page = run(page_as("pages/overview.py", Role.OWNER))
    assert page.header[0].value == "Overview"
    assert tiles(page) == {
        "Received": ("KES 2,000", "+KES 1,000 (+100%)"),
        "Payments": ("2", "+1 (+100%)"),
        "Average payment": ("KES 1,000", ""),
        "Payers": ("2", "+1 (+100%)"),
        "Taken back": ("KES 300", "+KES 300"),
    }
    assert page.caption[0].value.startswith("Compared with yesterday to ")
    assert "1 payment reversed or voided, not counted" in page.caption[0].value


def test_the_period_switches_to_this_month(shop: str) -> None:
    page = run(page_as("pages/overview.py", Role.OWNER))
    page.segmented_control(key="overview_period").set_value(service.Period.MONTH)
    run(page)
    received = tiles(page)["Received"][0]
    # Three days back may fall in last month on the first days of a month: count what this month holds.
    month_start = datetime.now(BUSINESS_TIMEZONE).date().replace(day=1)
    expected = 2000 + sum(amount for at, amount in ((so_far(1), 1000), (so_far(3), 250))
                          if at.date() >= month_start)
    assert received == f"KES {expected:,}"
    assert page.caption[0].value.startswith("Compared with last month to ")


def test_charts_and_top_payers(shop: str) -> None:
    page = run(page_as("pages/overview.py", Role.FINANCE))
    assert [header.value for header in page.subheader][1:] == [
        "When customers pay", "By till", "By kind of payment", "Top payers", "New and returning payers"]
    per_day, heatmap, by_till, by_kind, payers = charts(page)
    names = [trace["name"] for trace in per_day["data"]]
    assert names == ["Received", "Taken back (reversed or voided)"]
    kept, back = per_day["data"]
    assert kept["marker"]["color"] != back["marker"]["color"]
    assert min(back["y"]) == -300  # taken back drawn apart, below the line
    assert heatmap["data"][0]["y"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert heatmap["data"][0]["x"] == [f"{hour:02d}" for hour in range(24)]
    assert sum(map(sum, heatmap["data"][0]["z"])) == 4  # whole payments that stayed
    assert by_till["data"][0]["y"] == ["Till 514459", "Till 514460"]
    assert by_kind["data"][0]["y"] == ["Till payment", "From a business (B2B)"]
    assert [trace["name"] for trace in payers["data"]] == ["Returning", "New (first payment ever)"]
    top = page.dataframe[0].value
    assert list(top["name"]) == ["Jane Wanjiru", "Kamau Mwangi", "Akinyi Otieno"]  # the reversal not counted
    assert list(top["sender_phone"]) == ["0712 000 001", "0712 000 003", "0712 000 002"]
    assert [str(amount) for amount in top["amount"]] == ["1500.00", "1000.00", "500.00"]
    assert "None" not in top.to_string() and "+254" not in top.to_string()


def test_a_viewer_sees_phones_masked(shop: str) -> None:
    page = run(page_as("pages/overview.py", Role.VIEWER))
    phones = list(page.dataframe[0].value["sender_phone"])
    assert phones == ["0712 *** 001", "0712 *** 003", "0712 *** 002"]


def test_the_till_filter(shop: str) -> None:
    page = run(page_as("pages/overview.py", Role.OWNER))
    page.multiselect(key="overview_tills").set_value(["514460"])
    run(page)
    assert tiles(page)["Received"] == ("KES 500", "+KES 500")
    assert page.multiselect(key="overview_tills").options == ["Till 514459", "Till 514460"]


def test_nothing_yet_says_what_to_do(database_url: str) -> None:
    page = run(page_as("pages/overview.py", Role.CASHIER))
    assert tiles(page)["Received"] == ("KES 0", "")
    said = page.info[0].value
    assert said.startswith("No payments ") and "wider date range" in said and "Fill in history" in said
    assert not page.get("plotly_chart")


def test_reads_again_only_when_money_arrives(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[object] = []
    real = service.overview

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "overview", counted)
    page = run(page_as("pages/overview.py", Role.OWNER))
    run(page)
    run(page)
    assert len(reads) == 1  # nothing changed: the figures come from the cache
    pay(shop, so_far(), "99.00", phone="+254712000009", name="Baraka Juma")
    run(page)
    assert len(reads) == 2
    assert tiles(page)["Received"][0] == "KES 2,099"


def test_words_for_the_tiles() -> None:
    assert moved(Decimal("2000.00"), Decimal("1000.00")) == "+KES 1,000 (+100%)"
    assert moved(3, 5, money=False) == "-2 (-40%)"
    assert moved(5, 0, money=False) == "+5"  # no percentage against nothing
    assert moved(Decimal("7.00"), Decimal("7")) is None
    wednesday = datetime(2026, 11, 18, 14, 5, tzinfo=BUSINESS_TIMEZONE)
    assert compared_with("today", wednesday) == "yesterday to 14:05"
    assert compared_with("week", wednesday) == "last week to Wed 14:05"
    assert compared_with("month", wednesday) == "last month to 18 Nov, 14:05"
    assert (till_name("514459"), till_name(None)) == ("Till 514459", "No till number")


def test_home_shows_today_in_shillings(shop: str) -> None:
    page = run(page_as("pages/home.py", Role.CASHIER))
    assert page.header[0].value == "Today at a glance"
    assert tiles(page) == {
        "Received today": ("KES 2,000", "+KES 1,000 (+100%)"),
        "Payments today": ("2", "+1 (+100%)"),
        "Taken back today": ("KES 300", "+KES 300"),
    }

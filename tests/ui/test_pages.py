"""The entry page under Streamlit's AppTest, against a temporary SQLite file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from merchant import inbox
from merchant.db import open_database
from merchant.inbox import deliveries
from merchant.inbox.store import record_deliveries
from merchant.access import Role
from tests.merchant.conftest import buygoods, delivered

from .conftest import add, app, sign_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def run_page() -> AppTest:
    """The app as a signed-in owner sees it first (the Overview)."""
    add(os.environ["DATABASE_URL"], "wanjiku", Role.OWNER)
    page = sign_in(app(), "wanjiku")
    assert not page.exception, page.exception
    return page


def home(page: AppTest) -> AppTest:
    page.switch_page("pages/home.py")
    page.run()
    assert not page.exception, page.exception
    return page


TODAY = ["Received today", "Payments today", "Taken back today"]


def test_entry_page_in_demo_mode_says_no_real_money_moves(database_url: str) -> None:
    page = run_page()
    assert page.title[0].value == "K2 Merchant Dashboard"
    assert "No real money moves" in page.warning[0].value
    assert [metric.value for metric in page.metric] == ["KES 0", "0", "KES 0", "0", "KES 0"]  # the Overview's tiles
    assert not page.error


def test_entry_page_counts_what_is_stored_and_flags_failed_deliveries(database_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_database(database_url)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(buygoods(n)) for n in range(3)])
        record_deliveries(connection, [delivered(json.dumps({"no": "shape"}).encode())])
        record_deliveries(connection, [delivered(json.dumps(
            {"topic": "loyalty_points_awarded", "id": "evt-loyal", "created_at": "2026-11-20T10:00:00+03:00",
             "event": {"type": "Loyalty", "resource": {"points": 12}}}).encode())])
    engine.dispose()

    def every_row_counted(*args: object) -> None:
        raise AssertionError("Home counted every payment and delivery (slow at a million)")

    for module in (inbox, deliveries):
        monkeypatch.setattr(module, "counts", every_row_counted)
    page = home(run_page())
    assert [metric.label for metric in page.metric] == TODAY  # today's shillings, not all-time counters
    assert page.error[0].value == "1 stored delivery could not be read; it is kept for reprocessing (Event log)."
    assert page.expander[0].label == "2 deliveries kept that are not in the payment tables"
    shown = page.dataframe[0].value
    assert set(shown["kind"]) == {"Loyalty points awarded", "Unrecognised delivery"}
    assert str(shown["received_at"].dt.tz) == "Africa/Nairobi"


def test_entry_page_with_credentials_has_no_demo_banner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_CLIENT_ID", "id")
    monkeypatch.setenv("K2_CLIENT_SECRET", "secret")
    assert not run_page().warning


def test_entry_page_says_plainly_when_the_database_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "merchant.db").mkdir()  # a folder where the database file should be
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    page = app()
    assert "cannot be read right now" in page.error[0].value
    assert "merchant.db" not in page.error[0].value and not page.metric


def test_a_cashier_sees_today_but_not_the_deliveries_kept_unread(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(json.dumps({"no": "shape"}).encode())])
    engine.dispose()
    add(database_url, "achieng", Role.CASHIER)
    page = home(sign_in(app(), "achieng"))
    assert [metric.label for metric in page.metric] == TODAY
    assert not page.error and not page.expander
    assert page.info[0].value.startswith("No payments yet today (Nairobi time).")

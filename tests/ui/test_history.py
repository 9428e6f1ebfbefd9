"""The "Fill in history" page under AppTest, against a k2sim of its own and a temporary SQLite file: the outcome in
words, a second run that finds everything already here, the daily check's findings, K2's failures read plainly,
and only owner and finance may use it.

No receiver runs here (PUBLIC_BASE_URL points nowhere): the page reads each polling result by GET on its Location."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from merchant.money_in import BUSINESS_TIMEZONE, day_range

from .conftest import offered, page_as

TODAY = datetime.now(BUSINESS_TIMEZONE).date()
YESTERDAY = TODAY - timedelta(days=1)
FIRST, LAST = TODAY - timedelta(days=5), TODAY - timedelta(days=2)


@pytest.fixture
def k2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningSim, str]]:
    database_url = f"sqlite:///{tmp_path / 'merchant.db'}"
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0, delivery_max_attempts=1)) as sim:
        monkeypatch.setenv("K2_BASE_URL", sim.base_url)
        monkeypatch.setenv("K2_CLIENT_ID", sim.client_id)
        monkeypatch.setenv("K2_CLIENT_SECRET", sim.client_secret)
        monkeypatch.setenv("K2_API_KEY", sim.api_key)
        monkeypatch.setenv("K2_TILL_NUMBER", sim.config.till_number)
        monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")  # no receiver: results come by GET
        monkeypatch.setenv("DATABASE_URL", database_url)
        yield sim, database_url


def missed(sim: RunningSim, count: int, first: date, last: date) -> None:
    """Payments K2 holds whose webhooks never reached this dashboard."""
    start, end = day_range(first, last)
    httpx.post(f"{sim.base_url}/sim/traffic", timeout=30, json={
        "count": count, "from_time": (start + timedelta(hours=1)).isoformat(),
        "to_time": (end - timedelta(hours=1)).isoformat(), "webhooks": False}).raise_for_status()


def open_page(role: Role = Role.OWNER) -> AppTest:
    page = page_as("pages/history.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def fill(page: AppTest, first: date, last: date) -> AppTest:
    page.date_input(key="history_dates").set_value((first, last))
    page.button[0].click()  # the form's submit button
    page.run()
    assert not page.exception, page.exception
    return page


def said(page: AppTest) -> list[str]:
    return [element.value for kind in (page.success, page.warning, page.error) for element in kind]


@pytest.mark.parametrize("role", [Role.OWNER, Role.FINANCE])
def test_filling_in_says_what_was_missing_and_a_second_time_finds_it_all(k2, role: Role) -> None:
    sim, _ = k2
    missed(sim, 17, FIRST, LAST)
    page = fill(open_page(role), FIRST, LAST)
    assert said(page) == ["K2 listed 17 payments; 17 were missing and are now stored; 0 we already had."]
    table = page.dataframe[0].value
    assert len(table) == 17
    assert table["Amount"].str.fullmatch(r"KES [\d,]+(\.\d\d)?").all()
    assert not table.isin(["None", "buygoods", "received"]).any().any()
    assert any(c.value.startswith("17 payments in the last 30 days came only from K2's list.") for c in page.caption)

    page = fill(page, FIRST, LAST)
    assert said(page) == ["K2 listed 17 payments; 0 were missing and are now stored; 17 we already had."]


def test_checking_yesterday_on_demand_shows_the_check(k2) -> None:
    sim, _ = k2
    page = open_page()
    assert any("It has not run yet." in caption.value for caption in page.caption)
    missed(sim, 3, YESTERDAY, YESTERDAY)
    page.button(key="history_check_now").click()
    page.run()
    assert not page.exception, page.exception
    assert said(page) == ["K2 listed 3 payments; 3 were missing and are now stored; 0 we already had."]
    page.run()  # the check's line reads the audit trail
    assert any(caption.value.startswith(f"Daily check of {YESTERDAY:%a %-d %b}") and caption.value.endswith(
        "K2 listed 3 payments; 3 were missing and are now stored; 0 we already had.") for caption in page.caption)


def test_a_k2_fault_reads_plainly_and_stores_nothing(k2) -> None:
    sim, _ = k2
    missed(sim, 5, FIRST, LAST)
    httpx.post(f"{sim.base_url}/sim/faults", timeout=10,
               json={"type": "error", "status": 503, "path": "/api/v1/polling", "count": 10}).raise_for_status()
    page = fill(open_page(), FIRST, LAST)
    assert said(page) == [
        f"Stopped at {FIRST:%a %-d %b %Y}: K2 had a fault on its side (error 503). The days before it are filled "
        "in; nothing of that day was stored. Try again later: days already filled in are only checked again, never "
        "doubled."]
    assert "every payment K2 listed had come by webhook" in page.info[0].value


def test_one_day_picked_asks_for_the_other(k2) -> None:
    page = open_page()
    page.date_input(key="history_dates").set_value((FIRST,))
    page.button[0].click()
    page.run()
    assert page.error[0].value == "Pick the first and the last day: click both in the calendar."


@pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
def test_cashiers_and_viewers_get_only_a_refusal(k2, role: Role) -> None:
    page = open_page(role)
    assert [error.value for error in page.error] == [
        f"Your role ({role.value}) cannot do this; ask someone who is owner or finance."]
    assert not page.button and not page.date_input and not page.dataframe


@pytest.mark.parametrize("role", list(Role))
def test_the_navigation_offers_it_to_finance_and_the_owner_only(k2, role: Role) -> None:
    offered(k2[1], role, "pages/history.py", "Fill in history", to={Role.OWNER, Role.FINANCE})

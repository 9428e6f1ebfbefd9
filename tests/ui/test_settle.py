"""The "Settle to your account" page under AppTest, against a k2sim of its own and a temporary SQLite file.

No receiver runs here (PUBLIC_BASE_URL points nowhere), so a transfer stays "Sent" unless a test settles it; the
page's own runtime (no server lifespan under AppTest) runs the outbox worker."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import CONSOLE, Role
from merchant.db import open_database
from merchant.preferences import set_payout_api

from .conftest import add, app, page_as, sign_in

BRANCH = "633aa26c-7b7c-4091-ae28-96c0687cf886"


@pytest.fixture
def k2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningSim, str]]:
    database_url = f"sqlite:///{tmp_path / 'merchant.db'}"
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        monkeypatch.setenv("K2_BASE_URL", sim.base_url)
        monkeypatch.setenv("K2_CLIENT_ID", sim.client_id)
        monkeypatch.setenv("K2_CLIENT_SECRET", sim.client_secret)
        monkeypatch.setenv("K2_API_KEY", sim.api_key)
        monkeypatch.setenv("K2_TILL_NUMBER", sim.config.till_number)
        monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")  # no receiver: results come by status query
        monkeypatch.setenv("DATABASE_URL", database_url)
        yield sim, database_url


def open_page(role: Role = Role.FINANCE) -> AppTest:
    page = page_as("pages/settle.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def click(page: AppTest, key: str) -> AppTest:
    page.button(key=key).click()
    page.run()
    assert not page.exception, page.exception
    return page


def add_bank(page: AppTest, number: str = "0123456789", nickname: str = "Equity main") -> AppTest:
    page.text_input(key="settle_add_nickname").input(nickname)
    page.text_input(key="settle_add_account_name").input("Duka Letu Ltd")
    page.text_input(key="settle_add_account_number").input(number)
    page.text_input(key="settle_add_branch_ref").input(BRANCH)
    return click(page, "settle_add")


def review(page: AppTest, amount: str | None) -> AppTest:
    if amount is None:
        page.radio(key="settle_what").set_value("Everything available, to your default settlement account")
        page.run()
    else:
        box = page.selectbox(key="settle_account")
        if box.value is None and box.options:
            box.select_index(0)
        page.text_input(key="settle_amount").input(amount)
    return click(page, "settle_review")


def said(page: AppTest) -> str:
    return " ".join(element.value for kind in (page.success, page.info, page.warning, page.error) for element in kind)


def words(page: AppTest) -> str:
    return " ".join(element.value for element in page.markdown)


def table(page: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The shown table that has `column` (AppTest does not expose a dataframe's key)."""
    return next(frame.value for frame in page.dataframe if column in frame.value.columns)


def posts(sim: RunningSim, path: str) -> list[dict]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}).json()
    return [entry for entry in log if entry["method"] == "POST"]


def eventually(page: AppTest, done: Callable[[AppTest], bool], seconds: float = 15) -> AppTest:
    deadline = time.monotonic() + seconds
    while not done(page):
        assert time.monotonic() < deadline, said(page)
        time.sleep(0.2)
        page.run()
    return page


def test_the_page_opens_with_our_count_labelled_as_ours(k2) -> None:
    page = open_page()
    assert [tab.label for tab in page.tabs] == ["Transfer", "History", "Settlement accounts"]
    [metric] = page.metric
    assert metric.label == "Received since the last settlement" and metric.value == "KES 0"
    assert any("**Our own count**" in caption.value and "**not K2's balance**" in caption.value
               for caption in page.caption)
    assert any(caption.value.startswith("No settlement accounts yet.") for caption in page.caption)


def test_add_a_bank_account_then_transfer_to_it_after_confirming_in_words(k2) -> None:
    sim, _ = k2
    page = add_bank(open_page())
    assert page.success[0].value.startswith("Added Equity main (bank account 0123456789, Duka Letu Ltd). K2 says: "
                                            "Approved.")
    accounts = table(page, "nickname")
    assert list(accounts["status"]) == ["Approved"] and len(accounts["reference"][0]) == 36
    assert page.text_input(key="settle_add_account_number").value == ""  # the form is clear for the next one

    page = review(page, "12,500.50")
    assert "Transfer **KES 12,500.50** (twelve thousand five hundred shillings and fifty cents) to **Equity main " \
           "(bank account 0123456789, Duka Letu Ltd)**?" in words(page)
    assert posts(sim, "/api/v1/settlement_transfers") == []  # nothing is queued before the yes
    assert page.button(key="settle_yes").label == "Yes, transfer KES 12,500.50"
    page = click(page, "settle_yes")
    eventually(page, lambda p: "**Sent** · KES 12,500.50 to Equity main." in said(p))
    assert page.text_input(key="settle_amount").value == ""
    page.run()  # a rerun sends nothing more
    [post] = posts(sim, "/api/v1/settlement_transfers")
    assert post["body"]["amount"] == {"currency": "KES", "value": "12500.50"}
    history = table(page, "detail")
    assert list(history["status"]) == ["Sent"] and list(history["amount"]) == ["KES 12,500.50"]
    assert list(history["by"]) == ["wanjiku"]


def test_change_it_queues_nothing(k2) -> None:
    sim, _ = k2
    page = review(add_bank(open_page()), "500")
    page = click(page, "settle_change")
    assert "settle_confirm" not in page.session_state and "Transfer **KES 500**" not in words(page)
    assert posts(sim, "/api/v1/settlement_transfers") == []


def test_a_second_yes_for_the_same_confirmation_is_the_same_transfer(k2) -> None:
    sim, _ = k2
    page = review(add_bank(open_page()), "700")
    confirmation = page.session_state["settle_confirm"]
    page = click(page, "settle_yes")
    page.session_state["settle_confirm"] = confirmation  # the second click of a double click, as it arrives
    page.run()
    click(page, "settle_yes")
    assert len(posts(sim, "/api/v1/settlement_transfers")) <= 1
    time.sleep(1)
    assert len(posts(sim, "/api/v1/settlement_transfers")) == 1


def test_everything_to_the_default_account(k2) -> None:
    sim, _ = k2
    page = review(open_page(), None)
    assert "Transfer **everything available** in your K2 account to **your default settlement account** at K2?" \
        in words(page)
    page = click(page, "settle_yes")
    eventually(page, lambda p: "**Sent** · Everything available to default settlement account." in said(p))
    [post] = posts(sim, "/api/v1/settlement_transfers")
    assert post["body"].get("destination_reference") is None


def test_with_v2_the_page_looks_the_same_and_sends_send_money(k2) -> None:
    sim, database_url = k2
    engine = open_database(database_url)
    set_payout_api(engine, CONSOLE, "v2")
    engine.dispose()
    page = review(add_bank(open_page()), "1500")
    assert "Transfer **KES 1,500** (one thousand five hundred shillings) to **Equity main" in words(page)
    click(page, "settle_yes")
    eventually(page, lambda p: "**Sent** · KES 1,500 to Equity main." in said(p))
    [post] = posts(sim, "/api/v2/send_money")
    assert post["body"]["destinations"][0]["type"] == "merchant_bank_account"
    assert posts(sim, "/api/v1/settlement_transfers") == []


def test_bad_amounts_are_named_and_nothing_is_asked(k2) -> None:
    sim, _ = k2
    page = add_bank(open_page())
    page = review(page, "12.345")
    assert [error.value for error in page.error] == ["Amount: at most two decimal places (cents), not 12.345."]
    page = review(page, "")
    assert page.error[0].value.startswith("Amount: enter how many shillings")
    page.radio(key="settle_add_kind").set_value("M-Pesa wallet")
    page.run()
    page.text_input(key="settle_add_first").input("Achieng")
    page.text_input(key="settle_add_last").input("Otieno")
    page.text_input(key="settle_add_phone").input("0712 345 678")
    page = click(page, "settle_add")
    assert page.success[0].value.startswith("Added M-Pesa Achieng ·678 (M-Pesa 0712 345 678, Achieng Otieno).")
    choices = page.selectbox(key="settle_account").options
    page.selectbox(key="settle_account").select_index(next(i for i, o in enumerate(choices) if "M-Pesa" in o))
    page = review(page, "100.50")
    assert page.error[0].value.startswith("Amount: M-Pesa moves whole shillings")
    assert posts(sim, "/api/v1/settlement_transfers") == []


def test_a_bad_account_number_is_named(k2) -> None:
    page = open_page()
    page.text_input(key="settle_add_account_name").input("Duka")
    page = click(page, "settle_add")
    assert [error.value for error in page.error] == ["Account number: this is needed."]


@pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
def test_cashiers_and_viewers_get_only_a_refusal(k2, role: Role) -> None:
    page = open_page(role)
    assert [error.value for error in page.error] == [
        f"Your role ({role.value}) cannot do this; ask someone who is owner or finance."]
    assert not page.tabs and not page.metric and not page.button


@pytest.mark.parametrize("role", list(Role))
def test_the_navigation_offers_it_to_finance_and_the_owner_only(k2, role: Role) -> None:
    _, database_url = k2
    add(database_url, "someone", role)
    page = sign_in(app(), "someone")
    if role in (Role.OWNER, Role.FINANCE):
        page.switch_page("pages/settle.py")
        page.run()
        assert not page.exception, page.exception
        assert "Settle to your account" in [header.value for header in page.header]
    else:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            page.switch_page("pages/settle.py")

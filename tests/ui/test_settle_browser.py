"""Settle to your account in a real browser against a k2sim this test process runs (the app is `streamlit run
app.py`; K2's result callbacks and its settlement and payment webhooks come to the app's own route): a finance
clerk adds a bank account, transfers to it and watches it Completed, forces a failure and reads its reason; a
cashier never reaches the page. Screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from tests.servers import chromium, free_port, grid_cell, k2sim_env, open_from_menu, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add
from ui.signin import COOKIE

SHOTS = Path("/tmp/k2-shots")
V1_PATH = "/api/v1/settlement_transfers"
BRANCH = "633aa26c-7b7c-4091-ae28-96c0687cf886"
TITLE = "Settle to your account"


@dataclass(frozen=True)
class Setup:
    sim: RunningSim
    base: str
    shots: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A fresh k2sim subscribed to send settlement and payment webhooks to the app, the app pointed at it, a
    finance clerk and a cashier, and three payments received today."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    add(database_url, "njeri", Role.FINANCE)
    add(database_url, "achieng", Role.CASHIER)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        env = k2sim_env(sim, port=port, database_url=database_url)
        with running_app(env, tmp_path / "app.log", port=port) as base:
            with K2Client(sim.base_url, sim.client_id, sim.client_secret) as client:
                webhooks = f"{base}/api/k2/webhooks"
                client.webhook_subscriptions.create(event_type="settlement_transfer_completed", url=webhooks,
                                                    scope="company")
                client.webhook_subscriptions.create(event_type="buygoods_transaction_received", url=webhooks,
                                                    scope="till", scope_reference=sim.config.till_number)
            for amount in ("1250", "300", "4500"):
                httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": amount},
                           timeout=10).raise_for_status()
            yield Setup(sim, base, tmp_path)


def shoot(page: Page, setup: Setup, name: str) -> None:
    screenshot(page, setup.shots / name, SHOTS / name)


def transfers_at_k2(sim: RunningSim) -> list[dict[str, Any]]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": V1_PATH}).json()
    return [entry for entry in log if entry["method"] == "POST"]


def status_line(page: Page, nickname: str, amount: str) -> Locator:
    """The line about the transfer just queued: "<label> · <amount> to <nickname>. <what it means>" (by its amount
    too: while the page reruns, the line about the previous transfer may still be on screen beside it)."""
    return page.get_by_test_id("stAlert").filter(has_text=f"{amount} to {nickname}.")


def review(page: Page, nickname: str, amount: str) -> Locator:
    """Choose the account and the amount, review; returns the confirmation box."""
    page.get_by_role("tab", name="Transfer").click()
    page.get_by_test_id("stSelectbox").filter(has_text="To").click()
    page.get_by_role("option", name=re.compile(f"^{nickname}")).click()
    page.get_by_label("Amount (KES; cents allowed to a bank account)").fill(amount)
    page.get_by_role("button", name="Review the transfer").click()
    box = page.locator(".st-key-settle_confirm_box")
    expect(box).to_be_visible(timeout=30_000)
    return box


@pytest.mark.slow
def test_add_a_bank_account_transfer_to_it_and_read_a_failure(browser: Browser, setup: Setup) -> None:
    page = browser.new_page()
    page.goto(setup.base)
    sign_in(page, "njeri", PASSWORD)
    open_from_menu(page, TITLE, TITLE)
    metric = page.get_by_test_id("stMetric")
    expect(metric).to_contain_text("KES 6,050", timeout=30_000)  # the three payments received, our own count
    expect(page.get_by_text("Our own count")).to_be_visible()
    shoot(page, setup, "settle_empty.png")

    page.get_by_role("tab", name="Settlement accounts").click()
    page.get_by_label("Nickname (optional)").fill("Equity main")
    page.get_by_label("Account name, as the bank has it").fill("Duka Letu Ltd")
    page.get_by_label("Account number").fill("0123456789")
    page.get_by_label("Bank branch: K2's reference for it (from K2's dashboard)").fill(BRANCH)
    page.get_by_role("button", name="Add bank account").dblclick()  # a hurried double click: one account
    expect(page.get_by_text("Added Equity main (bank account 0123456789, Duka Letu Ltd). K2 says: Approved.")) \
        .to_be_visible(timeout=30_000)
    accounts = page.get_by_test_id("stDataFrame").filter(has_text="Nickname")
    expect(grid_cell(accounts, "K2 status")).to_have_text("Approved")
    expect(grid_cell(accounts, "K2 reference")).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    shoot(page, setup, "settle_account_added.png")
    posts = [entry for entry in httpx.get(f"{setup.sim.base_url}/sim/requests",
                                          params={"path": "/api/v1/merchant_bank_accounts"}).json()
             if entry["method"] == "POST"]
    assert len(posts) == 1

    box = review(page, "Equity main", "12,500.50")
    expect(box).to_contain_text("Transfer KES 12,500.50 (twelve thousand five hundred shillings and fifty cents) "
                                "to Equity main (bank account 0123456789, Duka Letu Ltd)?")
    shoot(page, setup, "settle_confirm.png")
    assert not transfers_at_k2(setup.sim)  # nothing goes before the yes
    box.get_by_role("button", name="Yes, transfer KES 12,500.50").dblclick()  # one transfer
    expect(status_line(page, "Equity main", "KES 12,500.50")).to_have_text(
        "Completed · KES 12,500.50 to Equity main. K2 gives no bank reference: look for it on your bank statement.",
        timeout=30_000)
    expect(metric).to_contain_text("KES 0")  # a settlement since: our count starts again
    expect(page.get_by_label("Amount (KES; cents allowed to a bank account)")).to_have_value("")
    shoot(page, setup, "settle_completed.png")
    page.keyboard.press("r")  # Streamlit's rerun
    page.wait_for_timeout(2_500)
    assert len(transfers_at_k2(setup.sim)) == 1

    httpx.post(f"{setup.sim.base_url}/sim/outcomes", json={"kind": "settlement_transfer",
                                                           "outcome": "INSUFFICIENT_FUNDS"}).raise_for_status()
    box = review(page, "Equity main", "80000")
    box.get_by_role("button", name="Yes, transfer KES 80,000").click()
    expect(status_line(page, "Equity main", "KES 80,000")).to_have_text(
        "Failed · KES 80,000 to Equity main. K2 says: Insufficient funds in the merchant account. Your K2 account "
        "holds less than this, so nothing moved. Transfer less, or choose everything available.", timeout=30_000)
    shoot(page, setup, "settle_failed.png")

    page.get_by_role("tab", name="History").click()
    history = page.get_by_test_id("stDataFrame").filter(has_text="What it means")
    expect(grid_cell(history, "Status", 0)).to_have_text("Failed", timeout=30_000)
    expect(grid_cell(history, "Status", 1)).to_have_text("Completed")
    expect(grid_cell(history, "Amount", 1)).to_have_text("KES 12,500.50")
    notices = page.get_by_test_id("stDataFrame").filter(has_text="Requested here")
    expect(grid_cell(notices, "Requested here")).to_have_text("Yes", timeout=30_000)
    shoot(page, setup, "settle_history.png")

    page.get_by_role("tab", name="Transfer").click()
    page.get_by_text("Everything available, to your default settlement account").click()
    page.get_by_role("button", name="Review the transfer").click()
    box = page.locator(".st-key-settle_confirm_box")
    expect(box).to_contain_text("Transfer everything available in your K2 account to your default settlement "
                                "account at K2?", timeout=30_000)
    shoot(page, setup, "settle_confirm_everything.png")
    box.get_by_role("button", name="Change it").click()
    expect(box).to_have_count(0, timeout=30_000)
    assert len(transfers_at_k2(setup.sim)) == 2


@pytest.mark.slow
def test_a_cashier_cannot_reach_the_page(browser: Browser, setup: Setup) -> None:
    page = browser.new_page()
    page.goto(setup.base)
    sign_in(page, "achieng", PASSWORD)
    expect(page.get_by_role("link", name="Ask to pay")).to_be_visible()
    expect(page.get_by_role("link", name=TITLE)).to_have_count(0)
    deadline = time.monotonic() + 15  # the sign-in cookie comes a moment after signing in
    while COOKIE not in {cookie["name"] for cookie in page.context.cookies()}:
        assert time.monotonic() < deadline, "no sign-in cookie"
        page.wait_for_timeout(100)
    page.goto(f"{setup.base}/settle")  # typed or bookmarked: it leads nowhere for this role
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(2_000)
    expect(page.get_by_role("heading", name=TITLE)).to_have_count(0)
    expect(page.get_by_text("Review the transfer")).to_have_count(0)
    shoot(page, setup, "settle_cashier.png")

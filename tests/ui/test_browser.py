"""A person opens the app in a real browser (Debian's Chromium) in demo mode, signs in, and sees the money arrive."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from merchant.access import Role
from tests.servers import chromium, grid_cell, open_from_menu, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add

OWNER = "amina"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Demo mode (no K2 credentials) over a fresh database that has its owner, added from the console."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    add(database_url, OWNER, Role.OWNER)
    return {"DATABASE_URL": database_url}


@pytest.mark.slow
def test_demo_mode_page_shows_banner_and_received_payments(
    browser: Browser, env: dict[str, str], tmp_path: Path
) -> None:
    with running_app(env, tmp_path / "app.log") as base:
        page = browser.new_page()
        page.goto(base)
        expect(page.get_by_role("heading", name="K2 Merchant Dashboard")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("No real money moves")).to_be_visible()
        sign_in(page, OWNER, PASSWORD)
        # the emulator's history arrives as signed webhooks; the Overview draws it as it comes, without a reload
        # while the page reruns the old heading and the new one can both be there for a moment
        expect(page.get_by_role("heading", name="Overview").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"^Received KES [\d,]+ from [1-9][\d,]* payments? by")).first).to_be_visible(
            timeout=60_000)
        screenshot(page, tmp_path / "demo.png")


@pytest.mark.slow
def test_owner_asks_a_customer_to_pay_and_sees_it_paid_then_counted(
    browser: Browser, env: dict[str, str], tmp_path: Path
) -> None:
    """Browser → page → k2 client → the embedded emulator → signed callback → the app's route → the live table."""
    with running_app(env, tmp_path / "app.log") as base:
        page = browser.new_page()
        page.goto(f"{base}/ask_to_pay")  # the first visit to a fresh server, straight to a page: still in its frame
        expect(page.get_by_text("No real money moves")).to_be_visible(timeout=30_000)
        sign_in(page, OWNER, PASSWORD)
        open_from_menu(page, "Ask to pay", "Ask a customer to pay")
        page.get_by_label("Customer's phone number").fill("0712 345 678")
        page.get_by_label("Amount (KES, whole shillings)").fill("150")
        page.get_by_label("Note for yourself (optional)").fill("2 kg sugar")
        page.get_by_role("button", name="Send M-Pesa prompt").click()
        # the emulator's callback may beat K2's answer to our POST: either way the line ends at Paid
        status = page.get_by_test_id("stAlert").filter(has_text="0712 345 678 · KES 150")
        expect(status).to_have_text(re.compile(r"^Paid · 0712 345 678 · KES 150\. The customer paid\."), timeout=30_000)
        recent = page.get_by_test_id("stDataFrame")
        shown = {"Phone": "0712 345 678", "Amount": "KES 150", "Status": "Paid", "Note": "2 kg sugar"}
        for column, words in shown.items():
            expect(grid_cell(recent, column)).to_have_text(words, timeout=10_000)

        open_from_menu(page, "Transactions", "Transactions")
        expect(page.get_by_text("Showing 1–")).to_be_visible(timeout=30_000)
        screenshot(page, tmp_path / "transactions.png")

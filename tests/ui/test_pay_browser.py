"""Pay someone and Payments in a real browser against a k2sim this test process runs (the app is `streamlit run
app.py`, K2's callbacks come to its own route): a finance clerk pays one recipient and watches it Processed with
its M-Pesa reference; above the owner's limit a payment waits for a second finance user, signed in elsewhere; a
failure reads its reason; a cashier never reaches these pages. Screenshots land in /tmp/k2-shots/ too."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import CONSOLE, Role
from merchant.config import Settings
from merchant.payouts.recipients import add_recipient
from merchant.runtime import Runtime
from tests.servers import chromium, free_port, grid_cell, k2sim_env, open_from_menu, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add

SHOTS = Path("/tmp/k2-shots")
V1_PATH = "/api/v1/payments"
RECIPIENTS = {  # nickname → phone; k2sim fails a payout to a phone ending 005 (the recipient cannot receive)
    "Jane Wanjiru": "0712345678",
    "Brian Otieno": "0722000005",
}


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
    """A fresh k2sim and the app pointed at it, over a database holding an owner, two finance users, a cashier and
    two recipients (added at k2sim from the console before the app starts)."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    for username, role in (("amina", Role.OWNER), ("njeri", Role.FINANCE), ("otieno", Role.FINANCE),
                           ("achieng", Role.CASHIER)):
        add(database_url, username, role)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        env = k2sim_env(sim, port=port, database_url=database_url)
        console = Runtime(Settings(k2_base_url=sim.base_url, k2_client_id=sim.client_id,
                                   k2_client_secret=sim.client_secret, k2_api_key=sim.api_key,
                                   database_url=database_url)).start()
        try:
            for nickname, phone in RECIPIENTS.items():
                first, last = nickname.split()
                add_recipient(console, CONSOLE, type="mobile_wallet", nickname=nickname,
                              details={"first_name": first, "last_name": last, "phone_number": phone})
        finally:
            console.stop()
        with running_app(env, tmp_path / "app.log", port=port) as base:
            yield Setup(sim, base, tmp_path)


def shoot(page: Page, setup: Setup, name: str) -> None:
    screenshot(page, setup.shots / name, SHOTS / name)


def signed_in(page: Page, base: str, username: str, title: str = "Pay someone", heading: str = "Pay someone") -> Page:
    page.goto(base)
    sign_in(page, username, PASSWORD)
    return open_from_menu(page, title, heading)


def review(page: Page, nickname: str, amount: str, description: str, reference: str = "") -> Locator:
    """Fill the form and review it; returns the confirmation box."""
    page.get_by_test_id("stSelectbox").filter(has_text="Recipient").click()
    page.get_by_role("option", name=re.compile(f"^{nickname}")).click()
    page.get_by_label("Amount (KES)").fill(amount)
    page.get_by_label("What it is for").fill(description)
    page.get_by_label("Your reference (optional)").fill(reference)
    page.get_by_role("button", name="Review payment").click()
    box = page.locator(".st-key-pay_confirm")
    expect(box).to_be_visible(timeout=30_000)
    return box


def status_line(page: Page, nickname: str) -> Locator:
    """The line about the payment just sent: "<label> · <nickname> · <amount>. <what it means>"."""
    return page.get_by_test_id("stAlert").filter(has_text=f" · {nickname} · ")


def payments_at_k2(sim: RunningSim) -> list[dict[str, Any]]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": V1_PATH}).json()
    return [entry for entry in log if entry["method"] == "POST"]


@pytest.mark.slow
def test_pay_one_recipient_and_watch_it_processed_with_its_m_pesa_reference(browser: Browser, setup: Setup) -> None:
    page = signed_in(browser.new_page(), setup.base, "njeri")
    shoot(page, setup, "pay_empty.png")
    box = review(page, "Jane Wanjiru", "12500", "Stock, invoice 114", reference="INV-114")
    expect(box).to_contain_text("To: Jane Wanjiru")
    expect(box).to_contain_text("Where: M-Pesa 0712 345 678")
    expect(box).to_contain_text("Amount: KES 12,500 (twelve thousand five hundred shillings)")
    expect(box).to_contain_text("For: Stock, invoice 114 · Your reference: INV-114")
    shoot(page, setup, "pay_confirm.png")
    assert not payments_at_k2(setup.sim)  # nothing goes before the yes

    box.get_by_role("button", name="Pay KES 12,500 now").dblclick()  # a hurried double click: one payment
    expect(status_line(page, "Jane Wanjiru")).to_have_text(
        re.compile(r"^Processed · Jane Wanjiru · KES 12,500\. Paid\. M-Pesa ref [A-Z0-9]{10}\.$"), timeout=30_000)
    expect(page.get_by_label("Amount (KES)")).to_have_value("")
    shoot(page, setup, "pay_processed.png")
    page.keyboard.press("r")  # Streamlit's rerun
    page.wait_for_timeout(2_500)
    [sent] = payments_at_k2(setup.sim)
    assert sent["body"]["metadata"]["reference"] == "INV-114"

    open_from_menu(page, "Payments", "Payments")
    table = page.get_by_test_id("stDataFrame")
    expect(grid_cell(table, "Status")).to_have_text("Processed", timeout=30_000)
    expect(grid_cell(table, "Recipient")).to_have_text("Jane Wanjiru")
    expect(grid_cell(table, "Amount")).to_have_text("KES 12,500")
    shoot(page, setup, "payments_history.png")


@pytest.mark.slow
def test_above_the_owners_limit_a_payment_waits_for_a_second_finance_user(browser: Browser, setup: Setup) -> None:
    owner = signed_in(browser.new_context().new_page(), setup.base, "amina")
    owner.get_by_text("Payout settings (owner only)").click()
    owner.get_by_role("textbox", name="Approval limit (KES)").fill("10,000")
    owner.get_by_role("button", name="Save payout settings").click()
    expect(owner.get_by_text("Saved. It applies to payments entered from now on.")).to_be_visible(timeout=30_000)
    shoot(owner, setup, "pay_owner_settings.png")

    maker = signed_in(browser.new_context().new_page(), setup.base, "njeri")
    box = review(maker, "Jane Wanjiru", "15000", "Rent, May")
    expect(box).to_contain_text("above the approval limit of KES 10,000")
    shoot(maker, setup, "pay_confirm_needs_approval.png")
    box.get_by_role("button", name="Send for approval").click()
    expect(status_line(maker, "Jane Wanjiru")).to_contain_text("Waiting for approval", timeout=30_000)
    maker.wait_for_timeout(1_000)
    assert not payments_at_k2(setup.sim)

    open_from_menu(maker, "Payments", "Payments")
    mine = maker.locator("[class*='st-key-payments_waiting_']")
    expect(mine).to_contain_text("KES 15,000 (fifteen thousand shillings) to Jane Wanjiru", timeout=30_000)
    expect(mine.get_by_role("button", name="Approve and pay")).to_be_disabled()
    expect(mine).to_contain_text("You entered this payment, so another finance user or the owner must approve it.")
    shoot(maker, setup, "payments_waiting_maker.png")

    wide = browser.new_context(viewport={"width": 1800, "height": 900})  # the whole history table on one screen
    checker = signed_in(wide.new_page(), setup.base, "otieno", "Payments", "Payments")
    waiting = checker.locator("[class*='st-key-payments_waiting_']")
    expect(waiting).to_contain_text("Entered by njeri", timeout=30_000)
    shoot(checker, setup, "payments_waiting_checker.png")
    waiting.get_by_role("button", name="Approve and pay").click()
    expect(checker.get_by_text("Approved: Jane Wanjiru is being paid KES 15,000.")).to_be_visible(timeout=30_000)
    expect(grid_cell(checker.get_by_test_id("stDataFrame"), "Status")).to_have_text("Processed", timeout=30_000)
    expect(grid_cell(checker.get_by_test_id("stDataFrame"), "Entered by")).to_have_text(
        "njeri, approved by otieno")
    shoot(checker, setup, "payments_approved.png")
    assert len(payments_at_k2(setup.sim)) == 1


@pytest.mark.slow
def test_a_failed_payment_reads_its_reason(browser: Browser, setup: Setup) -> None:
    page = signed_in(browser.new_page(), setup.base, "njeri")
    review(page, "Brian Otieno", "800", "Casual labour").get_by_role("button", name="Pay KES 800 now").click()
    expect(status_line(page, "Brian Otieno")).to_have_text(
        "Failed · Brian Otieno · KES 800. The recipient's account could not take the money; nothing was paid. "
        "Check their details with them, then pay again.", timeout=30_000)
    shoot(page, setup, "pay_failed.png")
    open_from_menu(page, "Payments", "Payments")
    table = page.get_by_test_id("stDataFrame")
    expect(grid_cell(table, "Status")).to_have_text("Failed", timeout=30_000)
    expect(grid_cell(table, "What it means")).to_contain_text("could not take the money")
    shoot(page, setup, "payments_failed.png")


@pytest.mark.slow
def test_a_cashier_cannot_reach_pay_or_payments(browser: Browser, setup: Setup) -> None:
    page = browser.new_page()
    page.goto(setup.base)
    sign_in(page, "achieng", PASSWORD)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="Ask to pay")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Pay someone")).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Payments")).to_have_count(0)
    for path in ("pay", "payments"):
        page.goto(f"{setup.base}/{path}")
        expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1_000)
        expect(page.get_by_role("heading", name="Pay someone")).to_have_count(0)
        expect(page.get_by_role("heading", name="Payments")).to_have_count(0)
        expect(page.get_by_label("Amount (KES)")).to_have_count(0)
    shoot(page, setup, "pay_cashier_refused.png")

"""Recipients in a real browser against a k2sim this test process runs: the owner names a bank branch in Settings,
a finance clerk adds one recipient of each type through the page and finds them listed, and a cashier cannot reach
the page. The screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from tests.servers import chromium, free_port, grid_cell, open_from_menu, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add

SHOTS = Path("/tmp/k2-shots")
BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"
OWNER, FINANCE, CASHIER = "amina", "otieno", "akinyi"


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
    """A fresh k2sim and the app (`streamlit run app.py`) pointed at it, with an owner, a finance clerk and a
    cashier added from the console."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    for username, role in ((OWNER, Role.OWNER), (FINANCE, Role.FINANCE), (CASHIER, Role.CASHIER)):
        add(database_url, username, role)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        env = {
            "K2_BASE_URL": sim.base_url, "K2_CLIENT_ID": sim.client_id, "K2_CLIENT_SECRET": sim.client_secret,
            "K2_API_KEY": sim.api_key, "K2_TILL_NUMBER": sim.config.till_number,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "DATABASE_URL": database_url,
        }
        with running_app(env, tmp_path / "app.log", port=port) as base:
            yield Setup(sim, base, tmp_path)


def shoot(page: Page, setup: Setup, name: str) -> None:
    screenshot(page, setup.shots / name, SHOTS / name)


def created_at_k2(sim: RunningSim) -> list[dict[str, Any]]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": "/api/v1/pay_recipients"}).json()
    return [entry for entry in log if entry["method"] == "POST"]


def signed_in(browser: Browser, setup: Setup, username: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(setup.base)
    sign_in(page, username, PASSWORD)
    return page


def add_one(page: Page, kind: str, fields: dict[str, str], nickname: str, said: str, shot: Path | None = None) -> None:
    """Pick the type, type the fields (labels as the form shows them), add, and wait for the page to say so."""
    page.get_by_test_id("stRadio").first.get_by_text(kind, exact=True).click()
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Nickname (optional: how you will find it; the name if left blank)").fill(nickname)
    if shot is not None:
        screenshot(page, shot)
    page.get_by_role("button", name="Add recipient").click()
    expect(page.get_by_test_id("stAlert").filter(has_text=said)).to_be_visible(timeout=30_000)


@pytest.mark.slow
def test_a_finance_clerk_adds_one_of_each_type_and_finds_them_listed(browser: Browser, setup: Setup) -> None:
    owner = open_from_menu(signed_in(browser, setup, OWNER), "Settings and health", "Settings and health")
    owner.get_by_label("Branch name").fill("Equity Bank, Moi Avenue")
    owner.get_by_label("K2 branch reference").fill(BRANCH)
    owner.get_by_role("button", name="Add the branch").click()
    expect(owner.get_by_text("Added Equity Bank, Moi Avenue.")).to_be_visible(timeout=30_000)
    expect(owner.get_by_label("Branch name")).to_have_value("")
    shoot(owner, setup, "recipients_settings_branches.png")
    owner.close()

    page = open_from_menu(signed_in(browser, setup, FINANCE), "Recipients", "Recipients")
    expect(page.get_by_text("No recipients yet: add the first one above.")).to_be_visible()
    shoot(page, setup, "recipients_empty.png")
    add_one(page, "M-Pesa wallet", {"First name": "Jane", "Last name": "Wanjiru", "Phone number": "0712 345 678"},
            "", "Added Jane Wanjiru (M-Pesa wallet). It can be paid.")
    add_one(page, "Bank account", {"Account name": "Baraka Properties Ltd", "Account number": "0100 2000 3001"},
            "Landlord", "Added Landlord (Bank account). It can be paid.", SHOTS / "recipients_bank_form.png")
    add_one(page, "Till", {"Till name": "Mama Mboga Stall", "Till number": "551101"}, "Vegetables",
            "Added Vegetables (Till). It can be paid.")
    add_one(page, "Paybill", {"Business name": "Kenya Power", "Paybill number": "888880",
                              "Account number at that paybill": "14253647"}, "Electricity",
            "Added Electricity (Paybill). It can be paid.")
    table = page.get_by_test_id("stDataFrame")
    expect(table.locator("table[role=grid]")).to_have_attribute("aria-rowcount", "5", timeout=30_000)
    expect(grid_cell(table, "Nickname", 0)).to_have_text("Electricity")
    expect(grid_cell(table, "Pays to", 0)).to_have_text("Paybill 888880, account 14253647")
    expect(grid_cell(table, "Nickname", 1)).to_have_text("Jane Wanjiru")
    expect(grid_cell(table, "Pays to", 1)).to_have_text("0712 345 678")
    expect(grid_cell(table, "Type", 1)).to_have_text("M-Pesa wallet")
    expect(grid_cell(table, "Pays to", 2)).to_have_text("010020003001 at Equity Bank, Moi Avenue")
    expect(grid_cell(table, "Pays to", 3)).to_have_text("Till 551101")
    for row in range(4):
        expect(grid_cell(table, "Status", row)).to_have_text("Ready")
        expect(grid_cell(table, "Added by", row)).to_have_text(FINANCE)
    shoot(page, setup, "recipients_listed.png")
    sent = created_at_k2(setup.sim)
    assert sorted(entry["body"]["type"] for entry in sent) == ["bank_account", "mobile_wallet", "paybill", "till"]
    [bank] = [entry for entry in sent if entry["body"]["type"] == "bank_account"]
    assert bank["body"]["pay_recipient"]["bank_branch_ref"] == BRANCH

    add_one(page, "M-Pesa wallet", {"First name": "Jane", "Last name": "W.", "Phone number": "+254712345678"},
            "Jane again", "This phone number is already a recipient: Jane Wanjiru (added by otieno). Add another "
            "recipient for it anyway?")
    shoot(page, setup, "recipients_duplicate.png")
    page.get_by_role("button", name="Do not add it").click()
    expect(page.get_by_text("already a recipient")).to_have_count(0)
    expect(page.get_by_label("Nickname (optional: how you will find it; the name if left blank)")).to_have_value("")
    assert len(created_at_k2(setup.sim)) == 4

    page.get_by_label("Find", exact=True).fill("0712")
    page.get_by_label("Find", exact=True).press("Enter")
    expect(table.locator("table[role=grid]")).to_have_attribute("aria-rowcount", "2", timeout=30_000)
    expect(page.get_by_text("K2 recipient reference")).to_be_visible()
    shoot(page, setup, "recipients_search_detail.png")


@pytest.mark.slow
def test_a_cashier_cannot_reach_the_page(browser: Browser, setup: Setup) -> None:
    page = signed_in(browser, setup, CASHIER)
    expect(page.get_by_role("link", name="Ask to pay")).to_be_visible()
    expect(page.get_by_role("link", name="Recipients")).to_have_count(0)
    page.goto(f"{setup.base}/recipients")
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1_500)
    expect(page.get_by_role("heading", name="Recipients")).to_have_count(0)
    expect(page.get_by_label("Phone number", exact=True)).to_have_count(0)
    shoot(page, setup, "recipients_cashier.png")
    assert not created_at_k2(setup.sim)

"""The Overview in a real browser (Debian's Chromium) against a k2sim this test process runs, as K2: it is the
first page after signing in, and a payment made at the till shows in its tiles and top payers without a reload.
Screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from merchant.access import Role
from tests.servers import Shop, chromium, grid_cell, k2sim_shop, pay_till, screenshot, sign_in
from tests.ui.conftest import PASSWORD

SHOTS = Path("/tmp/k2-shots")
OWNER = "wanjiku"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    """An owner's app against k2sim, one payment in."""
    with k2sim_shop(tmp_path, {OWNER: Role.OWNER}) as made:
        pay_till(made.sim, "1250", phone_number="+254712345678")
        yield made


@pytest.mark.slow
def test_a_payment_at_the_till_shows_without_a_reload(browser: Browser, shop: Shop) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(shop.base)
    sign_in(page, OWNER, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)  # the first page
    received = page.get_by_test_id("stMetric").filter(has_text="Received")
    expect(received).to_contain_text("KES 1,250", timeout=30_000)
    top = page.get_by_test_id("stDataFrame").filter(has_text="Phone")
    expect(grid_cell(top, "Phone")).to_have_text("0712 345 678", timeout=30_000)  # as Kenyans write it
    screenshot(page, shop.folder / "overview_before.png", SHOTS / "overview_before.png")
    page.evaluate("() => { window.stillTheSamePage = true }")  # gone if the browser loads the page again

    pay_till(shop.sim, "4500", phone_number="+254722000111")
    expect(received).to_contain_text("KES 5,750", timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Payments")).to_contain_text("2")
    expect(grid_cell(top, "Phone")).to_have_text("0722 000 111", timeout=30_000)  # the new top payer
    expect(grid_cell(top, "Phone", 1)).to_have_text("0712 345 678")
    assert page.evaluate("() => window.stillTheSamePage === true")
    screenshot(page, shop.folder / "overview_after.png", SHOTS / "overview_after.png")

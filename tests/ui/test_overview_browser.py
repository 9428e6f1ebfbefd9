"""The Overview in a real browser (Debian's Chromium) against a k2sim this test process runs, as K2: it is the
first page after signing in, and a payment made at the till shows in its tiles and top payers without a reload.
Screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from tests.servers import chromium, free_port, grid_cell, k2sim_env, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add

SHOTS = Path("/tmp/k2-shots")
OWNER = "wanjiku"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def pay(sim: RunningSim, amount: str, phone: str) -> None:
    """A customer pays the till (k2sim sends the signed webhook to the app's route)."""
    httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": amount,
                                                          "phone_number": phone}, timeout=10).raise_for_status()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[RunningSim, str, Path]]:
    """An owner, a k2sim subscribed to send till payments to the app, the app pointed at it, one payment in."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    add(database_url, OWNER, Role.OWNER)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=database_url), tmp_path / "app.log",
                         port=port) as base:
            with K2Client(sim.base_url, sim.client_id, sim.client_secret) as client:
                client.webhook_subscriptions.create(event_type="buygoods_transaction_received",
                                                    url=f"{base}/api/k2/webhooks", scope="till",
                                                    scope_reference=sim.config.till_number)
            pay(sim, "1250", "+254712345678")
            yield sim, base, tmp_path


@pytest.mark.slow
def test_a_payment_at_the_till_shows_without_a_reload(browser: Browser, shop: tuple[RunningSim, str, Path]) -> None:
    sim, base, shots = shop
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(base)
    sign_in(page, OWNER, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)  # the first page
    received = page.get_by_test_id("stMetric").filter(has_text="Received")
    expect(received).to_contain_text("KES 1,250", timeout=30_000)
    top = page.get_by_test_id("stDataFrame").filter(has_text="Phone")
    expect(grid_cell(top, "Phone")).to_have_text("0712 345 678", timeout=30_000)  # as Kenyans write it
    screenshot(page, shots / "overview_before.png", SHOTS / "overview_before.png")
    page.evaluate("() => { window.stillTheSamePage = true }")  # gone if the browser loads the page again

    pay(sim, "4500", "+254722000111")
    expect(received).to_contain_text("KES 5,750", timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Payments")).to_contain_text("2")
    expect(grid_cell(top, "Phone")).to_have_text("0722 000 111", timeout=30_000)  # the new top payer
    expect(grid_cell(top, "Phone", 1)).to_have_text("0712 345 678")
    assert page.evaluate("() => window.stillTheSamePage === true")
    screenshot(page, shots / "overview_after.png", SHOTS / "overview_after.png")

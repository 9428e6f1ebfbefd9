"""Transactions in a real browser (Debian's Chromium) against a k2sim this test process runs, as K2: a payment
made at the till appears in the open page without a reload, and the downloaded exports add up to what the database
holds for the same filter. Screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from merchant.access import Role
from merchant.db.tables import Transaction
from merchant.money_in import BUSINESS_TIMEZONE, day_range
from tests.servers import Shop, chromium, grid_cell, k2sim_shop, open_from_menu, pay_till, screenshot, sign_in
from tests.ui.conftest import PASSWORD

SHOTS = Path("/tmp/k2-shots")
CLERK = "wairimu"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    """A finance clerk's app against k2sim, three payments already received."""
    with k2sim_shop(tmp_path, {CLERK: Role.FINANCE}) as made:
        for amount in ("1250", "300", "4500"):
            pay_till(made.sim, amount)
        yield made


def received_in_database(database_url: str) -> Decimal:
    """What the database holds as received over the page's default range (the last 30 Nairobi days), summed in
    SQL here rather than through the code under test."""
    today = datetime.now(BUSINESS_TIMEZONE).date()
    start, end = day_range(today - timedelta(days=29), today)
    table = Transaction.__table__  # type: ignore[attr-defined]
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        cents = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(table.c.amount_cents), 0))
            .where(table.c.status == "received", table.c.occurred_at >= start, table.c.occurred_at < end)
        ).scalar_one()
    engine.dispose()
    return Decimal(cents) / 100


def download(page: Page, label: str) -> bytes:
    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name=label).click()
    path = started.value.path()
    return Path(path).read_bytes()


@pytest.mark.slow
def test_a_new_payment_appears_live_and_the_exports_add_up(browser: Browser, shop: Shop) -> None:
    page = browser.new_page()
    page.goto(shop.base)
    sign_in(page, CLERK, PASSWORD)
    open_from_menu(page, "Transactions", "Transactions")
    expect(page.get_by_text("Showing 1–3 of 3")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Received KES 6,050 from 3 payments")).to_be_visible()

    pay_till(shop.sim, "777", phone_number="0712345678")  # while the page is open
    expect(page.get_by_text("Showing 1–4 of 4")).to_be_visible(timeout=30_000)  # no reload: the table reruns
    table = page.get_by_test_id("stDataFrame").first
    expect(grid_cell(table, "Amount")).to_have_text("KES 777", timeout=10_000)
    expect(grid_cell(table, "Phone")).to_have_text("0712 345 678")
    expect(grid_cell(table, "Kind")).to_have_text("Till payment")
    expect(page.get_by_text("Received KES 6,827 from 4 payments")).to_be_visible()
    screenshot(page, shop.folder / "transactions.png", SHOTS / "transactions.png")

    held = received_in_database(shop.database_url)
    assert held == Decimal("6827")
    lines = list(csv.DictReader(io.StringIO(download(page, "Download CSV").decode("utf-8-sig"))))
    assert len(lines) == 4 and sum(Decimal(line["Amount"]) for line in lines if line["Amount"]) == held
    sheet = openpyxl.load_workbook(io.BytesIO(download(page, "Download Excel")))["Transactions"]
    amounts = [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(amounts) == 4 and Decimal(str(sum(amount or 0 for amount in amounts))) == held

"""Bulk payouts in a real browser against a k2sim this test process runs (the app is `streamlit run app.py`; K2's
results come to its own route): a finance clerk downloads the template, uploads a file with bad rows, reads the
errors, fixes the cells on the page, submits (a double click: one batch) and cannot approve it herself; a second
finance user, signed in elsewhere, approves it; the progress is watched to the end and the results downloaded.
Screenshots land in /tmp/k2-shots/ too."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from k2sim import SimConfig, start_in_thread
from merchant.access import Role
from merchant.db import open_database
from merchant.payouts.batches import RESULT_COLUMNS, list_batches
from merchant.payouts.sheet import TEMPLATE_COLUMNS
from tests.servers import chromium, free_port, k2sim_env, open_from_menu, running_app, screenshot, settled, sign_in
from tests.ui.conftest import PASSWORD, add

SHOTS = Path("/tmp/k2-shots")
V1_PATH = "/api/v1/payments"
# Columns from "Row in file" in the page's editor: What to fix, Type, Name, Phone, ... Amount.
PHONE, AMOUNT = 4, 9
ROWS = [  # by row: Type, Name, Phone, Till, Paybill, Account, Amount; k2sim fails a phone ending 002 (no funds)
    ("M-Pesa", "Jane Wanjiru", "0712 345 678", "", "", "", "1,500"),
    ("M-Pesa", "Brian Otieno", "0712 34", "", "", "", "2000"),  # a phone cut short
    ("Till", "Kamau Hardware", "", "555123", "", "", "12.50"),  # cents to M-Pesa
    ("M-Pesa", "Achieng Odhiambo", "0722 000 002", "", "", "", "700"),
    ("Paybill", "Kenya Power", "", "", "888880", "14123", "950"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def shoot(page: Page, shots: Path, name: str) -> None:
    screenshot(page, shots / name, SHOTS / name)


def signed_in(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(base)
    sign_in(page, username, PASSWORD)
    return open_from_menu(page, "Bulk payouts", "Bulk payouts")


def download(page: Page, label: str) -> bytes:
    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name=label).click()
    return Path(started.value.path()).read_bytes()


def filled_in(template: bytes) -> bytes:
    """The template's header with our rows in place of its examples, as a clerk fills it in."""
    header = next(csv.reader(io.StringIO(template.decode("utf-8-sig"))))
    assert tuple(header) == TEMPLATE_COLUMNS
    out = io.StringIO()
    writer = csv.DictWriter(out, header)
    writer.writeheader()
    for kind, name, phone, till, paybill, account, amount in ROWS:
        writer.writerow({"Type": kind, "Name": name, "Phone": phone, "Till number": till, "Paybill number": paybill,
                         "Account number": account, "Amount": amount, "Description": "November",
                         "Reference": f"NOV-{name.split()[0]}"})
    return out.getvalue().encode()


def edit_cell(page: Page, row: int, rightwards: int, text: str) -> None:
    """Type into one cell of the data editor as a person does: click its row, step right, Enter, type, Enter."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 50, box["y"] + 35 + 35 * row + 17)  # "Row in file", under the 35-pixel header
    for _ in range(rightwards):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")
    editor.fill(text)
    editor.press("Enter")
    expect(editor).to_have_count(0)
    settled(page)  # the run the edit started: a click meanwhile lands on a table being drawn again, and is lost
    expect(grid.locator("td[role=gridcell]", has_text=text)).to_have_count(1)  # the grid draws what was typed


def payments_at_k2(base_url: str) -> Counter[str]:
    log = httpx.get(f"{base_url}/sim/requests", params={"path": V1_PATH}).json()
    return Counter(entry["body"]["metadata"]["request_ref"] for entry in log if entry["method"] == "POST")


@pytest.mark.slow
def test_upload_fix_submit_approve_watch_and_download_the_results(browser: Browser, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    for username, role in (("amina", Role.OWNER), ("njeri", Role.FINANCE), ("otieno", Role.FINANCE)):
        add(database_url, username, role)
    # K2's results a second late, so the progress can be watched
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=1.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=database_url), tmp_path / "app.log",
                         port=port) as base:
            clerk = signed_in(browser, base, "njeri")
            expect(clerk.get_by_text("up to 10,000 payments and 5 MB a file")).to_be_visible()
            upload = filled_in(download(clerk, "Download the template (CSV)"))
            clerk.locator("input[type=file]").set_input_files(
                files=[{"name": "november.csv", "mimeType": "text/csv", "buffer": upload}])
            errors = clerk.get_by_test_id("stAlert").filter(
                has_text=re.compile("problems?: fix (them|it) in the table"))
            expect(errors).to_have_text(re.compile("^2 problems"), timeout=30_000)
            expect(clerk.get_by_text("Row 3, Phone: '0712 34' is not a Kenyan mobile number")).to_be_visible()
            expect(clerk.get_by_text("Row 4, Amount: M-Pesa moves whole shillings; pay 12 or 13, not 12.50.")) \
                .to_be_visible()
            submit = clerk.get_by_role("button", name=re.compile("^Submit"))
            expect(submit).to_be_disabled()
            shoot(clerk, tmp_path, "bulk_problems.png")

            edit_cell(clerk, 0, PHONE, "0712 345 679")  # rows with problems come first: row 3, then row 4
            edit_cell(clerk, 1, AMOUNT, "3,000")
            clerk.get_by_role("button", name="Check again").click()
            settled(clerk)
            expect(errors).to_have_count(0)
            submit = clerk.get_by_role("button", name="Submit 5 payments (KES 8,150) for approval")
            expect(submit).to_be_enabled(timeout=30_000)
            expect(clerk.get_by_text("M-Pesa: 3 (KES 4,200) · Till: 1 (KES 3,000) · Paybill: 1 (KES 950)")) \
                .to_be_visible()
            shoot(clerk, tmp_path, "bulk_fixed.png")

            submit.dblclick()  # a hurried double click: one batch
            expect(clerk.get_by_text("Batch 1 is waiting for approval by another finance user or the owner.")) \
                .to_be_visible(timeout=30_000)
            mine = clerk.locator(".st-key-bulk_waiting_1")
            expect(mine).to_contain_text("Submitted by you at")
            expect(mine).to_contain_text("You submitted this batch; another person must approve it.")
            expect(mine.get_by_role("button", name="Approve and send")).to_have_count(0)
            expect(mine.get_by_role("button", name="Decline")).to_be_visible()
            shoot(clerk, tmp_path, "bulk_submitted.png")
            engine = open_database(database_url)
            assert [(batch.row_count, batch.created_by) for batch in list_batches(engine)] == [(5, "njeri")]
            assert not payments_at_k2(sim.base_url), "nothing goes before a second person approves"

            checker = signed_in(browser, base, "otieno")
            waiting = checker.locator(".st-key-bulk_waiting_1")
            expect(waiting).to_contain_text("Batch 1 · november.csv · 5 payments, KES 8,150")
            expect(waiting).to_contain_text("Submitted by njeri at")
            shoot(checker, tmp_path, "bulk_waiting.png")
            waiting.get_by_role("button", name="Approve and send").click()
            expect(checker.get_by_text("Approved batch 1: 5 payments going out now.")).to_be_visible(timeout=30_000)
            going = checker.locator(".st-key-bulk_sending_1")
            expect(going.get_by_test_id("stProgress")).to_be_visible(timeout=30_000)
            shoot(checker, tmp_path, "bulk_sending.png")

            expect(checker.get_by_text("Done: 4 paid, 1 failed").first).to_be_visible(timeout=90_000)
            expect(going).to_have_count(0)
            shoot(checker, tmp_path, "bulk_results.png")
            results = list(csv.DictReader(io.StringIO(download(checker, "Download CSV").decode("utf-8-sig"))))
            assert list(results[0]) == list(RESULT_COLUMNS)
            outcome = {int(line["Row"]): line for line in results}
            assert sorted(outcome) == [2, 3, 4, 5, 6]
            assert [outcome[row]["Status"] for row in range(2, 7)] == ["Paid", "Paid", "Paid", "Failed", "Paid"]
            assert outcome[3]["Destination"] == "0712 345 679" and outcome[4]["Amount (KES)"] == "3000.00"
            assert all(re.fullmatch(r"[A-Z0-9]{10}", outcome[row]["M-Pesa or bank reference"]) for row in (2, 3, 4, 6))
            assert "insufficient" in outcome[5]["Reason"].lower()
            sent = payments_at_k2(sim.base_url)
            assert len(sent) == 5 and set(sent.values()) == {1}, "each row paid once"

            clerk.reload()  # the submitter, later: her batch's results, and still no approving her own
            open_from_menu(clerk, "Bulk payouts", "Bulk payouts")
            expect(clerk.get_by_text("Done: 4 paid, 1 failed").first).to_be_visible(timeout=30_000)
            expect(clerk.get_by_role("button", name="Approve and send")).to_have_count(0)
            engine.dispose()

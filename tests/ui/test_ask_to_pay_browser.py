"""Ask to pay in a real browser against a k2sim this test process runs, so the test reads what K2 was sent
(`/sim/requests`) and makes callbacks late (`/sim/faults`): a hurried owner still sends one prompt, and tabs left
open do not multiply K2's status queries. The screenshots land in /tmp/k2-shots/ too, for a person to look at."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from merchant.db import open_database
from merchant.outbound.states import OutboxState
from merchant.payment_requests import recent_requests
from tests.servers import chromium, free_port, grid_cell, k2sim_env, open_from_menu, running_app, screenshot, sign_in
from tests.ui.conftest import PASSWORD, add
from ui.signin import COOKIE

SHOTS = Path("/tmp/k2-shots")
NAIROBI = ZoneInfo("Africa/Nairobi")
OWNER = "amina"
STK_PATH = "/api/v1/incoming_payments"
LATE_AFTER = timedelta(seconds=20)  # the outbox worker's `check_after`: a callback this late gets a status query
OPEN_FOR = timedelta(minutes=1)
SETTLE_MS = 2_500  # a prompt sent by mistake would be at k2sim and in the table (refreshed every 2 s) by then


@dataclass(frozen=True)
class Setup:
    sim: RunningSim
    base: str
    shots: Path
    database_url: str


class HeldReplies:
    """Between the browser and Streamlit's websocket: while `holding`, what the server says is kept from the page
    (as on a slow line) and given to it, in order, on `release`; what the page says always goes through."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[tuple[WebSocketRoute, str | bytes]] = []

    def route(self, page_side: WebSocketRoute) -> None:
        server = page_side.connect_to_server()
        page_side.on_message(server.send)
        server.on_message(lambda message: self.pass_on(page_side, message))

    def pass_on(self, page_side: WebSocketRoute, message: str | bytes) -> None:
        if self.holding:
            self.held.append((page_side, message))
        else:
            page_side.send(message)

    def release(self) -> None:
        self.holding = False
        for page_side, message in self.held:
            page_side.send(message)
        self.held.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A fresh k2sim and the app (`streamlit run app.py`) pointed at it, K2's callbacks coming to the app's route,
    over a database whose owner was added from the console."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    add(database_url, OWNER, Role.OWNER)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        env = k2sim_env(sim, port=port, database_url=database_url)
        with running_app(env, tmp_path / "app.log", port=port) as base:
            yield Setup(sim, base, tmp_path, database_url)


def prompts_at_k2(sim: RunningSim, e164: str) -> list[dict[str, Any]]:
    """The STK pushes k2sim received for this phone."""
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": STK_PATH}).json()
    return [entry for entry in log if entry["method"] == "POST" and entry["body"]["subscriber"]["phone_number"] == e164]


def drop_next_callback(sim: RunningSim) -> None:
    """K2's result for the next request never comes: only a status query can settle it."""
    httpx.post(f"{sim.base_url}/sim/faults", json={"type": "drop"}).raise_for_status()


def signed_in_on_ask_to_pay(page: Page, base: str) -> Page:
    page.goto(base)
    sign_in(page, OWNER, PASSWORD)
    return open_from_menu(page, "Ask to pay", "Ask a customer to pay")


def holds_cookie(context: BrowserContext, page: Page, seconds: float = 15) -> None:
    """Wait until the browser has the sign-in cookie (set by a component just after signing in)."""
    deadline = time.monotonic() + seconds
    while COOKIE not in {cookie["name"] for cookie in context.cookies()}:
        assert time.monotonic() < deadline, "no sign-in cookie"
        page.wait_for_timeout(100)


def another_tab_on_ask_to_pay(context: BrowserContext, base: str) -> Page:
    """A new tab of a signed-in browser: its cookie lets it in."""
    page = context.new_page()
    page.goto(base)
    return open_from_menu(page, "Ask to pay", "Ask a customer to pay")


def fill(page: Page, phone: str, amount: str, *, name: str = "", note: str = "") -> Locator:
    """Type a request into the form; returns the Send button."""
    page.get_by_label("Customer's phone number").fill(phone)
    page.get_by_label("Amount (KES, whole shillings)").fill(amount)
    page.get_by_label("Customer's first name (optional)").fill(name)
    page.get_by_label("Note for yourself (optional)").fill(note)
    return page.get_by_role("button", name="Send M-Pesa prompt")


def status_line(page: Page, phone: str, amount: str) -> Locator:
    """The line about the request just sent: "**<label>** · <phone> · <amount>. <what it means>"."""
    return page.get_by_test_id("stAlert").filter(has_text=f"{phone} · {amount}")


def paid(phone: str, amount: str) -> re.Pattern[str]:
    return re.compile(rf"^Paid · {phone} · {amount}\. The customer paid\. M-Pesa ref [A-Z0-9]{{10}}\.$")


def rows(page: Page) -> int:
    """Rows the Recent requests table shows (its header not counted)."""
    grid = page.get_by_test_id("stDataFrame").locator("table[role=grid]")
    expect(grid).to_be_attached(timeout=30_000)
    return int(grid.get_attribute("aria-rowcount") or 1) - 1


def shoot(page: Page, setup: Setup, name: str) -> None:
    screenshot(page, setup.shots / name, SHOTS / name)


@pytest.mark.slow
def test_a_double_click_a_triple_click_and_a_rerun_each_leave_one_prompt(browser: Browser, setup: Setup) -> None:
    """The rerun ("r") comes once the send has shown: pressed within ~100 ms of the click, Streamlit stops the run
    that was sending, and the page can lose the click or keep a spent form token (reported, not asserted here)."""
    page = signed_in_on_ask_to_pay(browser.new_page(), setup.base)

    fill(page, "0712 345 678", "1250", name="Achieng", note="2 kg sugar").dblclick()
    expect(status_line(page, "0712 345 678", "KES 1,250")).to_have_text(
        paid("0712 345 678", "KES 1,250"), timeout=30_000
    )
    expect(page.get_by_label("Customer's phone number")).to_have_value("")  # cleared: the send is done
    shoot(page, setup, "ask_to_pay_paid.png")
    page.keyboard.press("r")  # Streamlit's rerun shortcut (the focus is on the button, not in a field)
    page.wait_for_timeout(SETTLE_MS)
    assert rows(page) == 1
    assert len(prompts_at_k2(setup.sim, "+254712345678")) == 1

    fill(page, "0722 000 111", "300").click(click_count=3, delay=0)
    expect(status_line(page, "0722 000 111", "KES 300")).to_have_text(paid("0722 000 111", "KES 300"), timeout=30_000)
    page.keyboard.press("r")
    page.wait_for_timeout(SETTLE_MS)
    assert rows(page) == 2
    assert len(prompts_at_k2(setup.sim, "+254722000111")) == 1


@pytest.mark.slow
def test_a_second_click_that_reaches_the_server_after_the_first_was_paid_sends_nothing(
    browser: Browser, setup: Setup
) -> None:
    """On a slow line the page still shows the filled-in form after the first click has been sent and paid; a
    second click then comes from a form already used, and must not ask the customer again."""
    line = HeldReplies()
    page = browser.new_page()
    page.route_web_socket(re.compile(r".*/_stcore/stream"), line.route)
    signed_in_on_ask_to_pay(page, setup.base)

    send = fill(page, "0711 222 333", "800")
    line.holding = True
    send.click()
    engine = open_database(setup.database_url)
    deadline = time.monotonic() + 30
    while (requests := recent_requests(engine)).empty or requests["state"].iloc[0] != OutboxState.SUCCEEDED:
        assert time.monotonic() < deadline, "the first click's prompt was never paid"
        page.wait_for_timeout(200)
    expect(page.get_by_label("Customer's phone number")).to_have_value("0711 222 333")  # the page has heard nothing
    send.click()
    page.wait_for_timeout(SETTLE_MS)  # the second click's run, at the server
    line.release()

    expect(status_line(page, "0711 222 333", "KES 800")).to_have_text(paid("0711 222 333", "KES 800"), timeout=30_000)
    page.wait_for_timeout(SETTLE_MS)
    assert rows(page) == 1
    assert len(prompts_at_k2(setup.sim, "+254711222333")) == 1
    assert len(recent_requests(engine)) == 1
    engine.dispose()


@pytest.mark.slow
def test_five_tabs_open_for_a_minute_cause_one_status_query(browser: Browser, setup: Setup) -> None:
    context = browser.new_context()
    first = signed_in_on_ask_to_pay(context.new_page(), setup.base)
    holds_cookie(context, first)
    tabs = [first] + [another_tab_on_ask_to_pay(context, setup.base) for _ in range(4)]
    opened = time.monotonic()
    drop_next_callback(setup.sim)
    fill(tabs[2], "0733 111 222", "500").click()
    sent = time.monotonic()
    expect(status_line(tabs[2], "0733 111 222", "KES 500")).to_contain_text("Waiting for customer", timeout=30_000)
    [prompt] = prompts_at_k2(setup.sim, "+254733111222")
    resource = prompt["resource_id"]
    [callback] = httpx.get(f"{setup.sim.base_url}/sim/deliveries", params={"resource_id": resource}).json()
    assert callback["state"] == "dropped"

    for tab in tabs:  # every tab shows it waiting, then paid once the one status query has settled it
        expect(grid_cell(tab.get_by_test_id("stDataFrame"), "Status")).to_have_text("Waiting for customer")
    for tab in tabs:
        expect(grid_cell(tab.get_by_test_id("stDataFrame"), "Status")).to_have_text(
            "Paid", timeout=(LATE_AFTER + timedelta(seconds=15)).total_seconds() * 1000
        )
    assert time.monotonic() - sent >= LATE_AFTER.total_seconds() - 1  # settled by the late query, not sooner
    expect(status_line(tabs[2], "0733 111 222", "KES 500")).to_have_text(paid("0733 111 222", "KES 500"))

    time.sleep(max(0.0, OPEN_FOR.total_seconds() - (time.monotonic() - opened)))
    for tab in tabs:
        expect(grid_cell(tab.get_by_test_id("stDataFrame"), "Status")).to_have_text("Paid")
    log = httpx.get(f"{setup.sim.base_url}/sim/requests", params={"resource_id": resource}).json()
    assert [entry["method"] for entry in log] == ["POST", "GET"]  # the prompt, then one status query
    context.close()


@pytest.mark.slow
def test_a_second_prompt_to_a_phone_that_has_not_answered_waits_when_told(browser: Browser, setup: Setup) -> None:
    page = signed_in_on_ask_to_pay(browser.new_page(), setup.base)
    expect(page.get_by_text("No requests yet.")).to_be_visible()
    shoot(page, setup, "ask_to_pay_empty.png")

    drop_next_callback(setup.sim)  # the customer has not answered (until the status query, 20 s on)
    fill(page, "0712 345 678", "1500", name="Wanjiku", note="school shoes").click()
    expect(status_line(page, "0712 345 678", "KES 1,500")).to_contain_text("Waiting for customer", timeout=30_000)
    expect(grid_cell(page.get_by_test_id("stDataFrame"), "Status")).to_have_text("Waiting for customer")
    shoot(page, setup, "ask_to_pay_waiting.png")

    fill(page, "0712 345 678", "2000").click()
    warning = page.get_by_test_id("stAlert").filter(has_text="A second prompt could be paid twice.")
    expect(warning).to_be_visible(timeout=30_000)
    asked = re.search(r"was asked for KES 1,500 at (\d\d:\d\d) and has not answered yet", warning.inner_text())
    assert asked, warning.inner_text()
    now = datetime.now(NAIROBI)
    assert asked[1] in {f"{now:%H:%M}", f"{now - timedelta(minutes=1):%H:%M}"}  # Nairobi's clock
    expect(warning).to_have_text(
        f"0712 345 678 was asked for KES 1,500 at {asked[1]} and has not answered yet. "
        "A second prompt could be paid twice. Send another prompt anyway?"
    )
    expect(page.get_by_role("button", name="Send another prompt")).to_be_visible()
    shoot(page, setup, "ask_to_pay_second_prompt.png")

    page.get_by_role("button", name="Wait for the first one").click()
    expect(warning).to_have_count(0, timeout=30_000)
    page.wait_for_timeout(SETTLE_MS)
    assert rows(page) == 1
    assert [entry["body"]["amount"]["value"] for entry in prompts_at_k2(setup.sim, "+254712345678")] == ["1500"]

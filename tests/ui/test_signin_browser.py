"""Signing in, in a real browser (Debian's Chromium) against one server started on a fresh data directory, with
K2 played by a k2sim this test process runs (so the test reads what K2 was sent).

The issue's acceptance, verbatim:

    Playwright tests in CI (Debian chromium): fresh data directory → read the setup code from the server's log →
    create the owner → sign out → sign in → add a viewer → as the viewer, a finance or owner page cannot be opened
    by URL and shows none of its content → six wrong passwords lock the account → the audit page lists all of it.
    A browser that has not signed in sees no page content and cannot send an M-Pesa prompt. Apart from
    Streamlit's own static files and health check, the webhook route is the only route that answers without
    sign-in, and it answers only to a valid signature.

    Screenshots of each page saved by the tests.

The screenshots land in the test's directory and in /tmp/k2-shots/ (named signin_*), for a person to look at."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from k2 import K2Client
from k2.webhooks import SIGNATURE_HEADER, sign
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import AuditAction, Role, audit_log, has_users
from merchant.access.signin import LOCK_FOR, USER_LIMIT
from merchant.db import open_database
from merchant.inbox import counts
from merchant.subscriptions import COMPANY_EVENTS, EVENT_TYPES
from tests.servers import (
    chromium,
    free_port,
    grid_cell,
    k2sim_env,
    open_from_menu,
    running_app,
    screenshot,
    sign_in,
)
from tests.ui.conftest import add
from ui.signin import COOKIE

SHOTS = Path("/tmp/k2-shots")
NAIROBI = ZoneInfo("Africa/Nairobi")
STK_PATH = "/api/v1/incoming_payments"
WEBHOOK = "/api/k2/webhooks"
OWNER, OWNER_NAME, OWNER_PASSWORD = "amina", "Amina Odhiambo", "Duka la Amina 2026"
VIEWER, VIEWER_NAME, VIEWER_PASSWORD = "otieno", "Otieno Kamau", "Tuko pamoja 4242"
WRONG = "not my password"
ROOT = Path(__file__).resolve().parents[2]
# a page's static shell (200), a redirect to add or drop a trailing slash, or a refusal: never anything else
ANSWERS_WITHOUT_DATA = (200, 301, 307, 308, 403, 404, 405)
CODE = re.compile(r"No owner account yet\. Open the dashboard and create it with the setup code (\d{4}-\d{4}-\d{4})")


@dataclass(frozen=True)
class PageSpec:
    """A page as the owner finds it in the menu: its address, its menu entry, its heading."""

    path: str
    title: str
    heading: str


# The pages the issue names, with words only that page shows (a viewer or a browser not signed in sees none)
HOME = PageSpec("/", "Overview", "Overview")  # the first page after signing in
NAMED = (
    HOME,
    PageSpec("/transactions", "Transactions", "Transactions"),
    PageSpec("/ask_to_pay", "Ask to pay", "Ask a customer to pay"),
    PageSpec("/users", "Users", "Users"),
    PageSpec("/audit", "Audit trail", "Audit trail"),
    PageSpec("/settings", "Settings and health", "Settings and health"),
    PageSpec("/subscriptions", "Webhook subscriptions", "Webhook subscriptions"),
    PageSpec("/event_log", "Event log", "Event log"),
)
AUDIT = NAMED[4]
PRIVATE_WORDS = (  # page content, and the data this module puts in: never shown to a viewer's first page or to no
    # one (a payer's name is money in, which a viewer sees on the Overview; their phone only masked)
    "Customer's phone number", "Send M-Pesa prompt", "Recent requests", "Add someone", "Change someone",
    "Export these entries", "Deliveries from K2", "Refused deliveries", "Made from here", "Add recipient",
    "Per day", "0712 345 678", "2 kg sugar", OWNER_NAME, VIEWER_NAME,
)
PAGE_PATHS = sorted("/" if file.stem == "overview" else f"/{file.stem}" for file in (ROOT / "pages").glob("*.py"))
# The Overview's sections, under its heading when the range holds payments.
OVERVIEW_SECTIONS = ("Money per day", "When customers pay", "By till", "By kind of payment", "Top payers",
                     "New and returning payers")
FRAME_HEADING = "K2 Merchant Dashboard"
NOT_FOUND = "Page not found"  # Streamlit's own dialog for an address its navigation does not offer


@dataclass(frozen=True)
class Shop:
    """The one server of this module: its address, its database, its log, its K2, and where shots go."""

    base: str
    database_url: str
    log: Path
    sim: RunningSim
    shots: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """A fresh data directory (an empty SQLite file), a k2sim as K2, and `streamlit run app.py` over them, its
    K2 results posted back to its own webhook route."""
    data = tmp_path_factory.mktemp("signin")
    database_url = f"sqlite:///{data / 'app.db'}"
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=database_url), data / "app.log", port=port) as base:
            yield Shop(base, database_url, data / "app.log", sim, data)


# --- reading the app's state from outside ---------------------------------------------------------------------

def database(shop: Shop) -> sa.Engine:
    return open_database(shop.database_url)


def audit_entries(shop: Shop, action: AuditAction, target: str) -> list[datetime]:
    """When `action` was recorded for `target`, oldest first (UTC)."""
    engine = database(shop)
    try:
        entries = audit_log(engine, actions=[action])
    finally:
        engine.dispose()
    return sorted(moment.to_pydatetime() for moment in entries.loc[entries["target"] == target, "at"])


def wait_for(read: Any, until: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not until(value := read()):
        assert time.monotonic() < deadline, f"{what}: still {value!r}"
        time.sleep(0.1)
    return value


def stk_pushes(shop: Shop) -> list[dict[str, Any]]:
    """Every M-Pesa prompt (STK push) K2 was asked to send."""
    log = httpx.get(f"{shop.sim.base_url}/sim/requests", params={"path": STK_PATH}).json()
    return [entry for entry in log if entry["method"] == "POST"]


def outbox(shop: Shop) -> int:
    """Requests to K2 the app has queued (an M-Pesa prompt is one)."""
    engine = database(shop)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    finally:
        engine.dispose()


# --- the browser --------------------------------------------------------------------------------------------

def shoot(page: Page, shop: Shop, name: str) -> None:
    screenshot(page, shop.shots / f"signin_{name}.png", SHOTS / f"signin_{name}.png")


def main(page: Page) -> Locator:
    return page.get_by_test_id("stMain")


def sign_in_form(page: Page) -> Locator:
    return page.get_by_role("heading", name="Sign in", exact=True)


def try_password(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out", exact=True).click()
    expect(sign_in_form(page)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def holds_cookie(context: BrowserContext, page: Page, seconds: float = 15) -> None:
    """Wait until the browser has the sign-in cookie (set by a component just after signing in)."""
    deadline = time.monotonic() + seconds
    while COOKIE not in {cookie["name"] for cookie in context.cookies()}:
        assert time.monotonic() < deadline, "no sign-in cookie"
        page.wait_for_timeout(100)


def go_by_address(page: Page, path: str) -> None:
    """Change the address within the open app, as the browser's back and forward buttons do: the app is asked for
    that page in the session it already has (signed in or not), without a reload."""
    page.evaluate("path => { history.pushState({}, '', path); dispatchEvent(new PopStateEvent('popstate')); }", path)


def headings(page: Page) -> set[str]:
    return {heading.strip() for heading in page.get_by_role("heading").all_inner_texts()
            if not heading.strip().startswith(OVERVIEW_SECTIONS)}


def menu(page: Page) -> dict[str, str]:
    """The menu's entries: title to path (each link's text starts with its icon's name)."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    return {link.inner_text().strip().splitlines()[-1]: urlsplit(link.get_attribute("href") or "").path or "/"
            for link in links.all()}


def shows_only(page: Page, shown: set[str], hidden: list[PageSpec]) -> None:
    """The page's headings are `shown` and nothing else; none of `hidden` is in the menu; no private words are on
    the page, not even in the hidden text a table keeps for screen readers."""
    deadline = time.monotonic() + 10  # a rerun's elements replace the last run's a moment later
    while headings(page) - {NOT_FOUND} != shown and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert headings(page) - {NOT_FOUND} == shown, (page.url, headings(page))  # Streamlit may say "Page not found"
    assert not {spec.title for spec in hidden} & set(menu(page)), (page.url, menu(page))
    text = main(page).text_content() or ""
    assert not [words for words in PRIVATE_WORDS if words in text], (page.url, text)


def open_page(page: Page, base: str, title: str, path: str) -> str:
    """Open a page from the menu, as a person does; its heading once it has drawn."""
    if page.url == base + path:
        return main(page).locator("h2").first.inner_text().strip()
    before = main(page).locator("h2").first.inner_text() if main(page).locator("h2").count() else ""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page).to_have_url(base + path, timeout=30_000)
    heading = main(page).locator("h2").first
    if before:
        expect(heading).not_to_have_text(before, timeout=30_000)
    expect(heading).to_be_visible(timeout=30_000)
    page.wait_for_timeout(600)  # charts and tables drawn
    return heading.inner_text().strip()


def grid_rows(table: Locator, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Every row of an `st.dataframe` (its accessible copy holds only the rows in view: scrolled through)."""
    grid = table.locator("table[role=grid]")
    expect(grid).to_be_attached(timeout=30_000)
    total = int(grid.get_attribute("aria-rowcount") or 1) - 1
    headers = table.locator("th[role=columnheader]").all_inner_texts()
    index = {column: headers.index(column) for column in columns}
    scroller = table.locator(".dvn-scroller")
    scroller.evaluate("element => element.scrollTo(0, 0)")
    seen: dict[int, dict[str, str]] = {}
    for _ in range(100):
        for row in range(total):
            cells = {column: table.locator(f"[data-testid=glide-cell-{at}-{row}]") for column, at in index.items()}
            if row not in seen and all(cell.count() == 1 for cell in cells.values()):
                seen[row] = {column: cell.inner_text().strip() for column, cell in cells.items()}
        if len(seen) == total:
            break
        scroller.evaluate("element => element.scrollBy(0, element.clientHeight / 2)")
        table.page.wait_for_timeout(150)
    assert len(seen) == total, f"read {len(seen)} of {total} rows"
    return [seen[row] for row in range(total)]


# --- the flow ----------------------------------------------------------------------------------------------

def create_owner(page: Page, code: str) -> None:
    page.get_by_label("Setup code").fill(code)
    page.get_by_label("Your name").fill(OWNER_NAME)
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password (at least 10 characters)").fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create the owner account").click()


def add_viewer(page: Page) -> None:
    open_from_menu(page, "Users", "Users")
    form = page.get_by_test_id("stForm").first
    form.get_by_label("Name", exact=True).fill(VIEWER_NAME)
    form.get_by_label("Username (what they sign in with)").fill(VIEWER)
    form.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="Viewer: charts and tables only").click()
    form.get_by_label("Password (at least 10 characters)").fill(VIEWER_PASSWORD)
    form.get_by_label("Password again").fill(VIEWER_PASSWORD)
    form.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text(f"Added {VIEWER_NAME} as viewer.")).to_be_visible(timeout=30_000)
    users = page.get_by_test_id("stDataFrame")
    expect(grid_cell(users, "Username", 1)).to_have_text(VIEWER)
    expect(grid_cell(users, "Role", 1)).to_have_text("Viewer")


def give_the_pages_something_to_show(page: Page, shop: Shop) -> None:
    """A month of till payments, and one customer asked to pay, as a shop's first day would have. The app cannot
    subscribe itself here (outside demo mode K2 posts only to https://), so the test subscribes its route at K2,
    as a merchant could in K2's own portal."""
    with K2Client(shop.sim.base_url, shop.sim.client_id, shop.sim.client_secret) as k2:
        for event in EVENT_TYPES:
            company = event in COMPANY_EVENTS
            k2.webhook_subscriptions.create(event_type=event, url=shop.base + WEBHOOK,  # type: ignore[arg-type]
                                            scope="company" if company else "till",
                                            scope_reference=None if company else shop.sim.config.till_number)
    sent = httpx.post(f"{shop.sim.base_url}/sim/traffic", json={"count": 40}, timeout=30)
    sent.raise_for_status()
    engine = database(shop)
    try:
        wait_for(lambda: counts(engine).transactions, lambda stored: stored >= sent.json()["generated"],
                 "payments stored")
    finally:
        engine.dispose()

    open_from_menu(page, "Ask to pay", "Ask a customer to pay")
    page.get_by_label("Customer's phone number").fill("0712 345 678")
    page.get_by_label("Amount (KES, whole shillings)").fill("1250")
    page.get_by_label("Customer's first name (optional)").fill("Achieng")
    page.get_by_label("Note for yourself (optional)").fill("2 kg sugar")
    page.get_by_role("button", name="Send M-Pesa prompt").click()
    expect(page.get_by_test_id("stAlert").filter(has_text="0712 345 678 · KES 1,250")).to_contain_text(
        "Paid", timeout=30_000
    )


@pytest.mark.slow
def test_first_start_to_a_locked_out_viewer_all_in_the_audit_trail(browser: Browser, shop: Shop) -> None:
    # fresh data directory → read the setup code from the server's log
    [code] = set(CODE.findall(shop.log.read_text()))
    owner = browser.new_context()
    page = owner.new_page()
    page.goto(shop.base)
    expect(page.get_by_role("heading", name="Create the owner account")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    assert headings(page) == {FRAME_HEADING, "Create the owner account"}
    shoot(page, shop, "01_first_start")

    # → create the owner (a wrong code claims nothing)
    create_owner(page, "1111-2222-3333")
    expect(page.get_by_text("Setup code: that is not the code the server printed when it started.")).to_be_visible(
        timeout=30_000
    )
    create_owner(page, code)
    expect(page.get_by_text("The owner account is ready: sign in with it.")).to_be_visible(timeout=30_000)
    shoot(page, shop, "02_owner_created")
    page.get_by_role("button", name="Sign in").click()
    expect(sign_in_form(page)).to_be_visible(timeout=30_000)
    assert headings(page) == {FRAME_HEADING, "Sign in"}
    shoot(page, shop, "03_sign_in")
    sign_in(page, OWNER, OWNER_PASSWORD)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {OWNER_NAME} (owner)")
    assert {(spec.title, spec.path) for spec in NAMED} <= set(menu(page).items())

    # → sign out → sign in
    sign_out(page)
    shoot(page, shop, "04_signed_out")
    stale = menu(page)  # the menu of the run before signing out stays on screen (reported): its links open nothing
    for title in [title for title in ("Users", "Audit trail") if title in stale]:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
        page.wait_for_timeout(1_000)
        expect(sign_in_form(page)).to_be_visible()
        assert headings(page) == {FRAME_HEADING, "Sign in"}
    sign_in(page, OWNER, OWNER_PASSWORD)

    # → add a viewer; then the owner's first day, and every page the owner can open
    add_viewer(page)
    give_the_pages_something_to_show(page, shop)
    pages = []
    for title, path in menu(page).items():
        pages.append(PageSpec(path, title, open_page(page, shop.base, title, path)))
        if path != AUDIT.path:  # shot at the end, with everything in it
            shoot(page, shop, f"10_owner_{path.strip('/') or 'home'}")
    assert {(spec.path, spec.heading) for spec in NAMED} <= {(spec.path, spec.heading) for spec in pages}

    # → as the viewer, a finance or owner page cannot be opened by URL and shows none of its content
    viewer = browser.new_context()
    page = viewer.new_page()
    page.goto(shop.base + "/users")  # typed before signing in
    expect(sign_in_form(page)).to_be_visible(timeout=30_000)
    shows_only(page, {FRAME_HEADING, "Sign in"}, pages)
    sign_in(page, VIEWER, VIEWER_PASSWORD)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {VIEWER_NAME} (viewer)")
    expect(page.get_by_role("heading", name=HOME.heading)).to_be_visible()
    theirs = menu(page)
    assert {"Overview": "/", "Home": "/home", "Transactions": "/transactions"}.items() <= theirs.items()
    forbidden = [spec for spec in pages if spec.title not in theirs]
    assert {"/ask_to_pay", "/pay", "/recipients", "/users", "/audit", "/settings", "/subscriptions",
            "/event_log"} <= {spec.path for spec in forbidden}  # cashier, finance and owner pages
    shows_only(page, {FRAME_HEADING, HOME.heading}, forbidden)
    shoot(page, shop, "05_viewer_home")
    holds_cookie(viewer, page)
    for spec in forbidden:
        go_by_address(page, spec.path)  # in the signed-in session
        expect(page).to_have_url(shop.base + "/", timeout=30_000)  # the app answered: Home instead
        expect(page.get_by_role("heading", name=HOME.heading)).to_be_visible(timeout=30_000)
        shows_only(page, {FRAME_HEADING, HOME.heading}, forbidden)
    tabs = {spec.path: viewer.new_page() for spec in forbidden}  # typed into new tabs: signed in by the cookie
    for path, tab in tabs.items():
        tab.goto(shop.base + path)
    for tab in tabs.values():
        expect(tab.get_by_text(f"Signed in as {VIEWER_NAME}")).to_be_visible(timeout=30_000)
        expect(tab).to_have_url(shop.base + "/", timeout=30_000)
        expect(tab.get_by_role("heading", name=HOME.heading)).to_be_visible(timeout=30_000)
        tab.wait_for_timeout(300)
        shows_only(tab, {FRAME_HEADING, HOME.heading}, forbidden)
    shoot(tabs["/users"], shop, "06_viewer_typed_users")
    open_from_menu(page, "Transactions", "Transactions")
    expect(page.get_by_test_id("stDataFrame").first.or_(page.get_by_text("No payments between"))).to_be_visible(
        timeout=30_000)
    shoot(page, shop, "07_viewer_transactions")
    sign_out(page)
    viewer.close()

    # → six wrong passwords lock the account: five wrong, then the right one is refused while it lasts
    locked = browser.new_context()
    page = locked.new_page()
    page.goto(shop.base)
    expect(sign_in_form(page)).to_be_visible(timeout=30_000)
    for wrong in range(1, USER_LIMIT + 1):
        try_password(page, VIEWER, WRONG)
        wait_for(lambda: len(audit_entries(shop, AuditAction.SIGN_IN_FAILED, VIEWER)), lambda n: n >= wrong,
                 "wrong passwords recorded")
        expect(page.get_by_text("That username and password do not match an active account.")).to_be_visible(
            timeout=30_000
        )
    fifth = audit_entries(shop, AuditAction.SIGN_IN_FAILED, VIEWER)[-1]
    until = f"{(fifth + LOCK_FOR).astimezone(NAIROBI):%H:%M}"
    try_password(page, VIEWER, VIEWER_PASSWORD)
    expect(page.get_by_text(
        f"Too many wrong passwords. Sign-in is paused until {until}; wait, or ask the owner to reset your password."
    )).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    assert len(audit_entries(shop, AuditAction.SIGN_IN_REFUSED, VIEWER)) == 1
    shoot(page, shop, "08_locked_out")
    locked.close()

    # → the audit page lists all of it (the owner's browser, still signed in, asks for it by its address)
    page = owner.pages[0]
    go_by_address(page, AUDIT.path)
    expect(page.get_by_role("heading", name=AUDIT.heading)).to_be_visible(timeout=30_000)
    trail = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="To whom or what"))
    expect(trail).to_have_count(1, timeout=30_000)  # the audit page's table, not the last page's
    rows = grid_rows(trail, ("Who", "What", "To whom or what"))
    oldest_first = [(row["Who"], row["What"], row["To whom or what"]) for row in reversed(rows)]
    expected = [
        ("(not signed in)", "Wrong password", "setup code"),  # the wrong setup code tried first
        (OWNER, "Created the owner account", OWNER),
        (OWNER, "Signed in", OWNER),
        (OWNER, "Signed out", OWNER),
        (OWNER, "Signed in", OWNER),
        (OWNER, "Added a user", VIEWER),
        (VIEWER, "Signed in", VIEWER),
        (VIEWER, "Signed out", VIEWER),
        *[("(not signed in)", "Wrong password", VIEWER)] * USER_LIMIT,
        ("(not signed in)", "Sign-in refused (locked out or disabled)", VIEWER),
    ]
    signing_in = [entry for entry in oldest_first if entry[1] in {words for _, words, _ in expected}]
    assert signing_in == expected, "\n".join(map(str, oldest_first))
    assert all(not re.fullmatch(r"[a-z_]+", row["What"]) for row in rows), rows  # words, never stored codes
    trail.locator(".dvn-scroller").evaluate("element => element.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    shoot(page, shop, "09_owner_audit")
    owner.close()


@pytest.mark.slow
def test_a_browser_not_signed_in_sees_no_page_and_sends_no_prompt(browser: Browser, shop: Shop) -> None:
    engine = database(shop)
    if not has_users(engine):  # run alone: the owner the flow above would have made
        add(shop.database_url, OWNER, Role.OWNER, OWNER_PASSWORD)
    engine.dispose()
    pushes, queued = len(stk_pushes(shop)), outbox(shop)
    context = browser.new_context()
    tabs = {path: context.new_page() for path in PAGE_PATHS}  # every page there is, by its address
    for path, tab in tabs.items():
        tab.goto(shop.base + path)
    for tab in tabs.values():
        expect(sign_in_form(tab)).to_be_visible(timeout=30_000)
        tab.wait_for_timeout(300)  # a page run after the form would have drawn by now
        expect(tab.get_by_test_id("stSidebarNav")).to_have_count(0)
        shows_only(tab, {FRAME_HEADING, "Sign in"}, [])
        for element in ("stDataFrame", "stMetric", "stVegaLiteChart", "stArrowVegaLiteChart"):
            expect(main(tab).get_by_test_id(element)).to_have_count(0)
        expect(main(tab).get_by_test_id("stForm")).to_have_count(1)  # the sign-in form
        expect(main(tab).get_by_role("textbox")).to_have_count(2)  # username and password, nothing else
    page = tabs["/ask_to_pay"]
    # and tries: the page asked for in the session it has, a rerun, and a sign-in with no password
    go_by_address(page, "/ask_to_pay")
    page.wait_for_timeout(500)
    page.keyboard.press("r")
    try_password(page, "mgeni", "")
    page.wait_for_timeout(2_500)
    shows_only(page, {FRAME_HEADING, "Sign in"}, [])
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    shoot(page, shop, "11_not_signed_in_ask_to_pay")
    assert len(stk_pushes(shop)) == pushes
    assert outbox(shop) == queued
    context.close()


@pytest.mark.slow
def test_only_the_webhook_route_answers_without_sign_in_and_only_to_a_valid_signature(shop: Shop) -> None:
    base = shop.base
    now = f"{datetime.now(NAIROBI):%Y-%m-%dT%H:%M:%S%z}"
    event = {
        "topic": "buygoods_transaction_received",
        "id": "evt-signin-browser-1",
        "created_at": now,
        "event": {"type": "Buygoods Transaction", "resource": {
            "id": "res-signin-browser-1", "amount": "480.00", "status": "Received", "system": "Lipa Na M-PESA",
            "currency": "KES", "reference": "SBR4KX7Q2M", "till_number": shop.sim.config.till_number,
            "sender_phone_number": "+254722111333", "origination_time": now,
            "sender_first_name": "Njeri", "sender_middle_name": None, "sender_last_name": "Wambui",
        }},
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    with httpx.Client(base_url=base, timeout=30) as client:
        # the webhook route: refused unsigned or wrongly signed, taken only with K2's signature
        unsigned = client.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
        assert (unsigned.status_code, unsigned.json()) == (401, {"error": "invalid signature"})
        forged = client.post(WEBHOOK, content=body, headers={SIGNATURE_HEADER: sign(body, "not K2's key")})
        assert (forged.status_code, forged.json()) == (401, {"error": "invalid signature"})
        tampered = client.post(WEBHOOK, content=body.replace(b"480.00", b"48000.00"),
                               headers={SIGNATURE_HEADER: sign(body, shop.sim.api_key)})
        assert tampered.status_code == 401
        signed = client.post(WEBHOOK, content=body, headers={SIGNATURE_HEADER: sign(body, shop.sim.api_key)})
        assert (signed.status_code, signed.json()) == (200, {"status": "stored"})

        # Streamlit's own: its health check, and one static HTML shell for every other address (no data in it)
        health = client.get("/_stcore/health")
        assert (health.status_code, health.text) == (200, "ok")
        shell = client.get("/")
        assert shell.status_code == 200 and '<div id="root"></div>' in shell.text
        private = [OWNER, OWNER_NAME, VIEWER, VIEWER_NAME, "Njeri", "SBR4KX7Q2M", "254722111333", "0722 111 333",
                   "0712 345 678", "254712345678", "KES ", *CODE.findall(shop.log.read_text())]
        made_up = ["/api/k2/anything", "/admin", "/api/users", "/api/payments", "/users.json", "/_stcore/users",
                   "/api/k2/webhooks/", "/../users", "/audit?export=csv"]
        for path in PAGE_PATHS + made_up + [WEBHOOK]:
            answer = client.get(path)
            assert answer.status_code in ANSWERS_WITHOUT_DATA, (path, answer.status_code)
            if answer.status_code == 200:
                assert answer.content == shell.content, path  # the same static shell, whatever was asked
            else:
                assert len(answer.content) < 100, (path, answer.text)
        for text in (shell.text, unsigned.text, forged.text):
            assert not [word for word in private if word in text], text
        for path in made_up:
            for method in ("POST", "PUT", "DELETE"):
                answer = client.request(method, path, content=b"{}")
                assert answer.status_code in ANSWERS_WITHOUT_DATA, (method, path, answer.status_code)
                assert answer.content == shell.content or len(answer.content) < 100, (method, path, answer.text)
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            assert client.request(method, WEBHOOK).content in (shell.content, b"Method Not Allowed"), method

        # Streamlit's agent API (the app as JSON without a browser) stays off
        interact = client.post("/_stcore/agent/interact", json={})
        assert (interact.status_code, interact.json()["error"]["code"]) == (403, "not_available")
        mcp = client.post("/_stcore/agent/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize"})
        assert "not_available" in mcp.text and mcp.status_code != 200
        # Streamlit's own answers that are neither static files nor the health check: no data of ours in them
        for path in ("/_stcore/host-config", "/_stcore/metrics", "/_stcore/agent/openapi.json"):
            answer = client.get(path)
            assert not [word for word in private if word in answer.text], path

"""The Overview over 1,000,000 payments, in Debian's Chromium, fully drawn within 3 s of signing in.

The issue asks for this as a CI check ("Playwright in CI: the Overview fully rendered in Chromium with 1,000,000
payments in ≤ 3 s after sign-in"), so it is the suite's one timed assertion (marked `alone`: .ci/test runs it after
the rest, with the machine to itself); every other speed target is measured by a benchmark under bench/
(docs/BENCHMARKS.md). The 3 s run from the sign-in taken (the frame names who is signed in) to the Overview fully
drawn; the time from the click on Sign in, the password check included, is printed beside it (about 2 s on a quiet
box; it varies with when streamlit-authenticator's cookie component reruns the page, 3.3 s once in CI). The
payments are generated afresh into this test's own SQLite file by bench/million.py (nothing is kept between runs);
the app runs as a person starts it, against a k2sim this process runs as K2.

Fully drawn: the script run has ended with nothing left stale, the five tiles show, every chart has drawn its SVG
and the top payers table is there; then the range's payment count on the page is checked against the database.
The screenshot lands in /tmp/k2-shots/scale_overview.png."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from bench.million import Shape, write_sqlite
from k2sim import SimConfig, start_in_thread
from merchant.access import Role
from merchant.db.tables import Transaction
from merchant.money_in import BUSINESS_TIMEZONE, MoneyInFilter, conditions
from tests.servers import chromium, free_port, k2sim_env, running_app, screenshot, settled
from tests.ui.conftest import PASSWORD, add

SHOTS = Path("/tmp/k2-shots")
RENDER_LIMIT_S = 3.0
OVERVIEW_CHARTS = 5  # money per day, when customers pay, by till, by kind, new and returning payers
OVERVIEW_TILES = 5  # received, payments, average payment, payers, taken back
_T = Transaction.__table__  # type: ignore[attr-defined]


def until_drawn(page: Page, heading: str | None, *, charts: int = 0, timeout_ms: float = 60_000) -> None:
    """Wait until the page (under `heading`, if given) is fully drawn: Streamlit's script run has ended with no
    element left stale from an earlier run and no skeleton, and `charts` Plotly charts have drawn their SVG."""
    if heading:
        expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=timeout_ms)
    page.wait_for_function(
        """charts => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'
            && !document.querySelector('[data-stale=true], [data-testid=stSkeleton]')
            && document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= charts""",
        arg=charts, timeout=timeout_ms, polling=20)


def sign_in_to_overview(page: Page, username: str, password: str) -> dict[str, float]:
    """Sign in through the frame's form, once the page has loaded, as a person reads it before typing; returns the
    seconds from the click to the sign-in taken (the frame says who is signed in), to the server's run ended, and
    to the Overview fully drawn."""
    settled(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    started = time.monotonic()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    marks = {"signed in": time.monotonic() - started}
    until_drawn(page, "Overview")
    marks["server done"] = time.monotonic() - started
    until_drawn(page, "Overview", charts=OVERVIEW_CHARTS)
    marks["drawn"] = time.monotonic() - started
    expect(page.get_by_test_id("stMetric")).to_have_count(OVERVIEW_TILES)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    return marks


def received_count(url: str, wanted: MoneyInFilter) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(sa.func.count()).where(*conditions(wanted), _T.c.status == "received")).scalar_one()
    engine.dispose()
    return int(found)


@pytest.mark.slow
@pytest.mark.alone
def test_the_overview_of_a_million_payments_is_drawn_within_3_seconds_of_signing_in(tmp_path: Path) -> None:
    database = tmp_path / "million.db"
    write_sqlite(database, Shape(1_000_000))
    url = f"sqlite:///{database}"
    add(url, "amina", Role.OWNER)
    today = datetime.now(BUSINESS_TIMEZONE).date()
    expected = received_count(url, MoneyInFilter.days(today - timedelta(days=29), today))  # the page's default
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=url), tmp_path / "app.log", port=port) as base, \
                chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base)
            marks = sign_in_to_overview(page, "amina", PASSWORD)
            caption = page.get_by_text("Received KES ")
            expect(caption.first).to_contain_text(f" from {expected:,} payments by ")
            screenshot(page, tmp_path / "scale_overview.png", SHOTS / "scale_overview.png")
    seen = ", ".join(f"{name} {at:.2f}s" for name, at in marks.items())
    after_sign_in = marks["drawn"] - marks["signed in"]
    print(f"Overview over 1,000,000 payments: drawn {after_sign_in:.2f}s after signing in; from the click: {seen}")
    assert after_sign_in <= RENDER_LIMIT_S, f"the Overview was drawn {after_sign_in:.2f}s after signing in " \
        f"(limit {RENDER_LIMIT_S}s); from the click: {seen}"

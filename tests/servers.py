"""Real servers for tests: a free loopback port, the app itself (`streamlit run app.py`) as a user starts it, and
the browser a person would open it in (Debian's Chromium, driven by Playwright)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import Role
from ui.signin import COOKIE

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own download is never used
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def k2sim_env(sim: RunningSim, *, port: int, database_url: str) -> dict[str, str]:
    """The app's environment against an emulator in the test process: real-K2 mode, results posted back to the
    app's own webhook route on `port`."""
    return {
        "K2_BASE_URL": sim.base_url,
        "K2_CLIENT_ID": sim.client_id,
        "K2_CLIENT_SECRET": sim.client_secret,
        "K2_API_KEY": sim.api_key,
        "K2_TILL_NUMBER": sim.config.till_number,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(env: dict[str, str], log_path: Path, *, port: int | None = None) -> Iterator[str]:
    """Yield the base URL once `/_stcore/health` answers; SIGTERM on exit must shut the server down cleanly.

    `port` is for a caller whose env must name the app's own address (`PUBLIC_BASE_URL`, where K2 posts results):
    it takes `free_port()`, builds the env from it, and passes it here; otherwise a free port is picked."""
    port = port or free_port()
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # no file watcher: the server runs the code it started with, whatever is saved meanwhile
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=base_env | env, stdout=log, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(process, base, log_path)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail("streamlit did not stop on SIGTERM")
    # uvicorn re-raises SIGTERM after a clean shutdown
    assert process.returncode in (0, -signal.SIGTERM), log_path.read_text()[-2000:]


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"streamlit did not answer /_stcore/health within {START_TIMEOUT_S:.0f}s: {log_path.read_text()[-2000:]}")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless; a module-scoped fixture shares one across its tests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, *paths: Path) -> None:
    """The whole page to each path. Streamlit scrolls inside its main section, not the document, so Playwright's
    `full_page` alone stops at the window: the window is made as tall as the content for the shot."""
    size = page.viewport_size
    height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    if size is not None and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    if size is not None:
        page.set_viewport_size(size)


def grid_cell(table: Locator, column: str, row: int = 0) -> Locator:
    """A cell of an `st.dataframe` by its column's title, in the grid's accessible copy of what its canvas draws."""
    headers = table.locator("th[role=columnheader]")
    expect(headers.first).to_be_attached(timeout=30_000)
    return table.locator(f"[data-testid=glide-cell-{headers.all_inner_texts().index(column)}-{row}]")


def sign_in(page: Page, username: str, password: str) -> None:
    """Through the frame's sign-in form. The browser then gets the session cookie (a moment later), with which its
    other tabs are let in without the form."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
    for _ in range(100):  # the cookie comes from a browser component, a moment after the page says so
        if any(cookie["name"] == COOKIE for cookie in page.context.cookies()):
            break
        page.wait_for_timeout(100)
    settled(page)


def settled(page: Page, timeout_ms: float = 30_000, quiet_ms: float = 500) -> None:
    """Until Streamlit's script run has ended with nothing left stale from an earlier run, and stayed so for
    `quiet_ms` (signing in runs the page twice, the second run a moment after the first ends; while it draws, the
    first one's elements are still there, a heading twice for a moment)."""
    page.evaluate("() => { window.k2QuietSince = undefined; }")
    page.wait_for_function(
        """(quietMs) => {
            const idle = document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'
                && !document.querySelector('[data-stale=true]');
            if (!idle) { window.k2QuietSince = undefined; return false; }
            window.k2QuietSince ??= performance.now();
            return performance.now() - window.k2QuietSince >= quietMs;
        }""",
        arg=quiet_ms, timeout=timeout_ms, polling=50)


def open_from_menu(page: Page, title: str, heading: str) -> Page:
    """Open a page from the sidebar of a signed-in browser, as a person does (a typed address lands on Home
    after signing in)."""
    target = page.get_by_role("heading", name=heading)
    for _ in range(3):  # a click that lands while the page is still rerunning after sign-in can be lost
        page.get_by_role("link", name=title).click()
        try:
            expect(target).to_be_visible(timeout=15_000)
            return page
        except AssertionError:
            continue
    expect(target).to_be_visible(timeout=15_000)
    return page


@dataclass(frozen=True)
class Shop:
    """A till's app against a k2sim in the test process: K2 at `sim`, the app at `base` over `database_url`;
    `folder` holds the database, the app's log and the test's screenshots."""

    sim: RunningSim
    base: str
    database_url: str
    folder: Path


@contextmanager
def k2sim_shop(folder: Path, users: Mapping[str, Role]) -> Iterator[Shop]:
    """A fresh SQLite database with `users` (password `tests.ui.conftest.PASSWORD`), a k2sim subscribed to send
    till payments to the app's webhook route, and the app pointed at it as at K2."""
    from tests.ui.conftest import add  # the console's way in; tests/ui imports this module, not the other way

    database_url = f"sqlite:///{folder / 'app.db'}"
    for username, role in users.items():
        add(database_url, username, role)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=database_url), folder / "app.log",
                         port=port) as base:
            with K2Client(sim.base_url, sim.client_id, sim.client_secret) as client:
                client.webhook_subscriptions.create(event_type="buygoods_transaction_received",
                                                    url=f"{base}/api/k2/webhooks", scope="till",
                                                    scope_reference=sim.config.till_number)
            yield Shop(sim, base, database_url, folder)


def pay_till(sim: RunningSim, amount: str, **more: str) -> None:
    """A customer pays the till (k2sim sends the signed webhook to the app's route); `more`: e.g. phone_number."""
    httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": amount, **more},
               timeout=10).raise_for_status()

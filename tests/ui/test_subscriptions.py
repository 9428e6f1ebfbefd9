"""Webhook subscriptions against a live k2sim: the page under AppTest on a temporary SQLite file, and the service on
SQLite and PostgreSQL. One button makes one subscription per event type, a second click (or a second owner) makes
nothing more, what is missing is listed, and a public URL that is not HTTPS is refused outside demo mode."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim
from merchant.access import CONSOLE, NotAllowed, Role, User, audit_log
from merchant.config import Settings
from merchant.db import open_database
from merchant.errors import InputError
from merchant.runtime import Runtime
from merchant.subscriptions import COMPANY_EVENTS, EVENT_TYPES, missing_events, subscribe_webhooks, subscriptions
from tests.merchant.conftest import database_url  # noqa: F401  (SQLite and PostgreSQL, for the service)

from .conftest import add, app, page_as, sign_in

SUBSCRIPTIONS = "/api/v1/webhook_subscriptions"
TILL_EVENTS = [event for event in EVENT_TYPES if event not in COMPANY_EVENTS]


@dataclass
class K2:
    sim: RunningSim
    public: str  # this test's PUBLIC_BASE_URL: unique, so the shared k2sim's log can be read per test
    database: str

    @property
    def url(self) -> str:
        return f"{self.public}/api/k2/webhooks"


def made_at_k2(k2: K2) -> list[tuple[str, str, str | None]]:
    """(event type, scope, till) of every subscription k2sim made for this test's URL, in order."""
    log = httpx.get(f"{k2.sim.base_url}/sim/requests", params={"path": SUBSCRIPTIONS}).json()
    return [(entry["body"]["event_type"], entry["body"]["scope"], entry["body"].get("scope_reference"))
            for entry in log if entry["method"] == "POST" and entry["status"] == 201
            and entry["body"]["url"] == k2.url]


def asked_k2(k2: K2) -> int:
    """Subscription requests k2sim received for this test's URL, answered or not."""
    log = httpx.get(f"{k2.sim.base_url}/sim/requests", params={"path": SUBSCRIPTIONS}).json()
    return sum(1 for entry in log if entry["method"] == "POST" and entry["body"].get("url") == k2.url)


@pytest.fixture
def k2(live_k2sim: RunningSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K2]:
    public = f"https://shop-{uuid.uuid4().hex[:8]}.example.co.ke"
    database = f"sqlite:///{tmp_path / 'merchant.db'}"
    for name, value in {"K2_BASE_URL": live_k2sim.base_url, "K2_CLIENT_ID": live_k2sim.client_id,
                        "K2_CLIENT_SECRET": live_k2sim.client_secret, "K2_API_KEY": live_k2sim.api_key,
                        "K2_TILL_NUMBER": live_k2sim.config.till_number, "PUBLIC_BASE_URL": public,
                        "DATABASE_URL": database}.items():
        monkeypatch.setenv(name, value)
    yield K2(live_k2sim, public, database)
    httpx.delete(f"{live_k2sim.base_url}/sim/faults")


def open_page(role: Role = Role.OWNER) -> AppTest:
    page = page_as("pages/subscriptions.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def click(page: AppTest) -> AppTest:
    page.button(key="subscriptions_create").click().run()
    assert not page.exception, page.exception
    return page


def listed(page: AppTest) -> list[dict[str, object]]:
    return page.dataframe[0].value.to_dict("records")


class TestPage:
    def test_one_button_subscribes_every_event_type_and_lists_them(self, k2: K2) -> None:
        page = open_page()
        assert page.warning[0].value.startswith("Missing 10 of 10: Till payment received, Till payment reversed,")
        assert page.caption[0].value.startswith("Nothing yet: press the button above")
        click(page)
        assert page.success[0].value.startswith("Subscribed: Till payment received,")
        assert page.success[1].value == "Subscribed to all 10 kinds of event at this address."
        till = k2.sim.config.till_number
        assert sorted(made_at_k2(k2)) == sorted(
            [(event, "company", None) for event in COMPANY_EVENTS] + [(event, "till", till) for event in TILL_EVENTS])
        rows = listed(page)
        assert len(rows) == 10
        by_event = {row["event_type"]: row for row in rows}
        assert by_event["Till payment received"]["scope_reference"] == f"Till {till}"
        assert by_event["New customer"]["scope_reference"] == "Whole business"
        assert {row["url"] for row in rows} == {k2.url} and {row["created_by"] for row in rows} == {"wanjiku"}
        assert all(str(row["location"]).startswith(f"{k2.sim.base_url}{SUBSCRIPTIONS}/") for row in rows)
        assert str(page.dataframe[0].value["created_at"].dt.tz) == "Africa/Nairobi"
        engine = open_database(k2.database)
        [entry] = audit_log(engine).to_dict("records")
        engine.dispose()
        assert (entry["action"], entry["actor"], entry["target"]) == ("webhooks_subscribed", "wanjiku", k2.url)

    def test_a_second_click_or_a_second_owner_creates_nothing_more(self, k2: K2) -> None:
        other = open_page()  # another owner's browser, opened while everything was still missing
        page = click(open_page())
        assert len(made_at_k2(k2)) == 10
        click(page)
        assert page.info[0].value == "Nothing was missing: every kind of event was already subscribed."
        assert other.warning[0].value.startswith("Missing 10 of 10")
        click(other)
        assert other.info[0].value.startswith("Nothing was missing")
        assert asked_k2(k2) == 10 and len(listed(other)) == 10
        engine = open_database(k2.database)
        assert len(audit_log(engine)) == 1  # only the click that asked K2
        engine.dispose()

    def test_what_is_missing_is_listed_and_made_for_a_new_till(self, k2: K2, monkeypatch: pytest.MonkeyPatch) -> None:
        click(open_page())
        monkeypatch.setenv("K2_TILL_NUMBER", "K777777")
        page = open_page()
        assert page.warning[0].value == (
            "Missing 7 of 10: Till payment received, Till payment reversed, Payment from another till, "
            "Payment from another till reversed, Card payment received, Card payment voided, Card payment reversed.")
        click(page)
        assert sorted(event for event, _, till in made_at_k2(k2) if till == "K777777") == sorted(TILL_EVENTS)
        assert asked_k2(k2) == 17 and len(listed(page)) == 17

    def test_one_k2_refuses_is_said_and_stays_missing_until_the_next_click(self, k2: K2) -> None:
        httpx.post(f"{k2.sim.base_url}/sim/faults",
                   json={"type": "error", "status": 500, "count": 1, "path": SUBSCRIPTIONS}).raise_for_status()
        page = click(open_page())
        assert page.error[0].value.startswith("K2 did not subscribe Till payment received: ")
        assert page.warning[0].value == "Missing 1 of 10: Till payment received."
        assert len(listed(page)) == 9
        click(page)
        assert page.success[0].value == "Subscribed: Till payment received."
        assert len(made_at_k2(k2)) == 10 and len(listed(page)) == 10

    def test_a_public_url_that_is_not_https_is_refused_outside_demo_mode(
        self, k2: K2, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PUBLIC_BASE_URL", k2.public.replace("https://", "http://"))
        page = open_page()
        assert "PUBLIC_BASE_URL" in page.error[0].value and "https://" in page.error[0].value
        assert not [button for button in page.button if button.key == "subscriptions_create"]
        assert asked_k2(K2(k2.sim, k2.public.replace("https://", "http://"), k2.database)) == 0

    def test_without_a_k2_account_the_page_says_what_to_set(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
        page = open_page()
        assert page.info[0].value.startswith("Subscribing needs a K2 account: set K2_CLIENT_ID")
        assert not page.button

    @pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
    def test_only_an_owner_is_offered_the_page(self, k2: K2, role: Role) -> None:
        add(k2.database, "someone", role)
        page = sign_in(app(), "someone")
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            page.switch_page("pages/subscriptions.py")
        page.run()
        assert "Webhook subscriptions" not in [header.value for header in page.header]
        assert not [button for button in page.button if button.key == "subscriptions_create"]
        assert asked_k2(k2) == 0

    def test_an_owner_opens_it_from_the_navigation(self, k2: K2) -> None:
        add(k2.database, "wanjiku", Role.OWNER)
        page = sign_in(app(), "wanjiku")
        page.switch_page("pages/subscriptions.py")
        page.run()
        assert not page.exception, page.exception
        assert "Webhook subscriptions" in [header.value for header in page.header]
        click(page)
        assert len(made_at_k2(k2)) == 10


def owner() -> User:
    return User("wanjiku", "Wanjiku", None, Role.OWNER, False, datetime.now(UTC), None, None)


@pytest.fixture
def runtime(live_k2sim: RunningSim, database_url: str) -> Iterator[Runtime]:  # noqa: F811
    """A started runtime on the test database, pointed at the live k2sim with a unique HTTPS public URL."""
    settings = Settings(k2_base_url=live_k2sim.base_url, k2_client_id=live_k2sim.client_id,
                        k2_client_secret=live_k2sim.client_secret, k2_api_key=live_k2sim.api_key,
                        k2_till_number=live_k2sim.config.till_number, database_url=database_url,
                        public_base_url=f"https://shop-{uuid.uuid4().hex[:8]}.example.co.ke")
    started = Runtime(settings).start()
    yield started
    started.stop()


def k2_of(runtime: Runtime, sim: RunningSim) -> K2:
    return K2(sim, runtime.settings.public_base_url, runtime.settings.database_url)


class TestService:
    def test_two_owners_at_once_make_each_subscription_once(self, runtime: Runtime, live_k2sim: RunningSim) -> None:
        results = []
        start = threading.Barrier(2)

        def subscribe() -> None:
            start.wait()
            results.append(subscribe_webhooks(runtime, owner()))

        threads = [threading.Thread(target=subscribe) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(event for done in results for event in done.created) == sorted(EVENT_TYPES)
        assert not any(done.failed for done in results)
        assert asked_k2(k2_of(runtime, live_k2sim)) == 10
        assert missing_events(runtime) == [] and len(subscriptions(runtime)) == 10

    def test_an_http_public_url_is_refused_outside_demo_mode_and_k2_is_not_asked(
        self, runtime: Runtime, live_k2sim: RunningSim
    ) -> None:
        plain = Runtime(Settings(**{**vars(runtime.settings),
                                    "public_base_url": runtime.settings.public_base_url.replace("https", "http")}),
                        client=runtime.client)
        plain.engine, plain.client = runtime.engine, runtime.client
        with pytest.raises(InputError) as refused:
            subscribe_webhooks(plain, CONSOLE)
        assert refused.value.field == "PUBLIC_BASE_URL" and "https://" in refused.value.message
        assert asked_k2(k2_of(plain, live_k2sim)) == 0

    def test_demo_mode_may_use_plain_http_on_loopback(self, runtime: Runtime, live_k2sim: RunningSim) -> None:
        demo = Runtime(Settings(**{**vars(runtime.settings), "public_base_url": "http://127.0.0.1:8501",
                                   "emulated": True}), client=runtime.client)
        demo.engine, demo.client = runtime.engine, runtime.client
        done = subscribe_webhooks(demo, CONSOLE)
        assert len(done.created) == 10 and done.url == "http://127.0.0.1:8501/api/k2/webhooks"

    @pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
    def test_only_a_role_that_manages_settings_may_subscribe(
        self, runtime: Runtime, live_k2sim: RunningSim, role: Role
    ) -> None:
        someone = User("someone", "Someone", None, role, False, datetime.now(UTC), None, None)
        with pytest.raises(NotAllowed, match="owner"):
            subscribe_webhooks(runtime, someone)
        assert asked_k2(k2_of(runtime, live_k2sim)) == 0
        assert audit_log(runtime.engine).empty  # type: ignore[arg-type]

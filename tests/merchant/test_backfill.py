"""History from K2's polling API, against a real k2sim and a real receiver, on SQLite and PostgreSQL: payments
we hold and payments whose webhooks never came end with each stored exactly once, a second run changes nothing,
K2's failures stop between days with a plain reason, the daily check, and the command line."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client
from k2sim import RunningSim
from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, audit_log
from merchant.db import open_database
from merchant.errors import InputError
from merchant.inbox import map_event
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.money_in.backfill import (
    DailyCheck,
    Filled,
    Waits,
    check_yesterday,
    fill_in,
    found_by_polling,
    last_check,
)
from merchant.money_in.filters import day_range
from tests.ui.conftest import a_user

from .conftest import KEY, Receiver, count, eventually, rows

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.now(BUSINESS_TIMEZONE).date()
FIRST, LAST = TODAY - timedelta(days=6), TODAY - timedelta(days=2)
QUICK = Waits(pauses=(0.02,), give_up_after=5.0)
RECEIVED_TOPICS = ("buygoods_transaction_received", "buygoods_transaction_reversed", "b2b_transaction_received",
                   "b2b_transaction_reversed", "m2m_transaction_received")


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The migrated database the receiver and the backfill share."""
    made = open_database(database_url)
    yield made
    made.dispose()


@pytest.fixture
def client(sim: RunningSim) -> Iterator[K2Client]:
    made = K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY, retry_backoff=0, timeout=2.0,
                    max_retries=1)
    yield made
    made.close()


def subscribe(client: K2Client, receiver: Receiver) -> None:
    """The receiver gets every money-in webhook, as a subscribed dashboard does."""
    for topic in RECEIVED_TOPICS:
        client.webhook_subscriptions.create(event_type=topic, url=receiver.url, scope="company")


def traffic(sim: RunningSim, count_: int, first: date, last: date, *, webhooks: bool) -> dict:
    """Payments over whole Nairobi days (an hour inside either edge), with or without their webhooks."""
    start, end = day_range(first, last)
    body = {"count": count_, "from_time": (start + timedelta(hours=1)).isoformat(),
            "to_time": (end - timedelta(hours=1)).isoformat(), "webhooks": webhooks}
    made = httpx.post(f"{sim.base_url}/sim/traffic", json=body, timeout=30)
    made.raise_for_status()
    return made.json()


def cents(total: str) -> int:
    return int(Decimal(total) * 100)


def stored(engine: sa.Engine) -> list[tuple]:
    """Every transaction as stored, in a stable order: what 'changes nothing' compares."""
    return [tuple(row) for row in rows(engine, "SELECT * FROM transactions ORDER BY reference")]


def fill(engine: sa.Engine, client: K2Client, receiver: Receiver, first: date = FIRST, last: date = LAST,
         **options: object) -> Filled:
    return fill_in(engine, client, CONSOLE, first, last, callback_url=receiver.url, waits=QUICK, **options)


def drained(sim: RunningSim) -> None:
    """Every callback and webhook the emulator owes has been delivered."""
    httpx.post(f"{sim.base_url}/sim/drain", timeout=30).raise_for_status()


def polled(*items: tuple[str, dict]) -> dict:
    """A polling result holding these `(type, resource)` items."""
    return {"data": {"id": "p-1", "type": "polling", "attributes": {
        "status": "Success", "transactions": [{"type": kind, "resource": resource} for kind, resource in items]}}}


class TestMapping:
    def test_a_polled_item_keeps_its_kind_and_a_reversed_one_is_a_reversal(self) -> None:
        at = "2026-11-20T10:43:19+03:00"
        body = polled(
            ("Buygoods Transaction", {"id": "b", "reference": "RB1", "amount": "250.00", "status": "Received",
                                      "origination_time": at, "till_number": "K000000",
                                      "sender_phone_number": "+254712345678"}),
            ("External Till to Till Transaction", {"id": "t", "reference": "RT1", "amount": "9000", "status":
                                                   "Complete", "origination_time": at, "sending_till": "890642"}),
            ("Merchant to Merchant Transaction", {"id": "m-7", "amount": "4000", "status": "Received",
                                                  "origination_time": at, "sending_merchant": "Jane Flowers"}),
            ("Buygoods Transaction", {"id": "r", "reference": "RR1", "amount": "100", "status": "Reversed",
                                      "origination_time": at}),
        )
        mapped = map_event(body, event_id="polling:p-1:Success", received_at=datetime.now(BUSINESS_TIMEZONE))
        kinds = {row["reference"]: (row["kind"], row["sender_till"], row["sender_merchant"])
                 for row in mapped.transactions}
        assert kinds == {"RB1": ("buygoods", None, None), "RT1": ("b2b", "890642", None),
                         "m-7": ("m2m", None, "Jane Flowers"), "RR1": ("buygoods", None, None)}
        assert [(row["reference"], row["status"]) for row in mapped.reversals] == [("RR1", "reversed")]


class TestFillIn:
    def test_held_and_missed_payments_end_each_exactly_once(self, sim, client, receiver, engine) -> None:
        subscribe(client, receiver)
        held = traffic(sim, 60, FIRST, LAST, webhooks=True)
        drained(sim)
        assert eventually(lambda: count(engine, "transactions"), lambda n: n == 60) == 60
        missed = traffic(sim, 40, FIRST, LAST, webhooks=False)
        drained(sim)
        assert count(engine, "transactions") == 60  # their webhooks never came

        filled = fill(engine, client, receiver)

        assert (filled.listed, filled.stored, filled.already_had) == (100, 40, 60)
        assert filled.complete and filled.days_done == filled.days == 5
        drained(sim)  # each polling result also came to the route by callback: the same event, stored once
        assert count(engine, "transactions") == 100
        assert count(engine, "webhook_events", "kind = 'polling'") == 5
        total = rows(engine, "SELECT sum(amount_cents) AS c FROM transactions")[0].c
        assert total == cents(held["total"]) + cents(missed["total"])
        assert count(engine, "transactions", "status = 'reversed'") == held["reversals"] + missed["reversals"]
        by_kind = dict(rows(engine, "SELECT t.kind, count(*) FROM transactions t JOIN webhook_events e "
                                    "ON e.id = t.event_id WHERE e.kind = 'polling' GROUP BY t.kind"))
        assert by_kind == missed["by_kind"]  # b2b and m2m stay what they are, not buygoods

    def test_a_second_run_changes_nothing(self, sim, client, receiver, engine) -> None:
        traffic(sim, 30, FIRST, LAST, webhooks=False)
        first = fill(engine, client, receiver)
        before = stored(engine)

        again = fill(engine, client, receiver)

        assert (first.listed, first.stored, first.already_had) == (30, 30, 0)
        assert (again.listed, again.stored, again.already_had) == (30, 0, 30)
        assert stored(engine) == before

    def test_it_is_audited_with_what_it_found(self, sim, client, receiver, engine) -> None:
        traffic(sim, 12, FIRST, FIRST, webhooks=False)
        fill(engine, client, receiver, FIRST, FIRST, source="10.0.0.7")
        entry = audit_log(engine, actions=[AuditAction.HISTORY_FILLED]).iloc[0]
        assert (entry["actor"], entry["target"], entry["source"]) == ("console", f"{FIRST}/{FIRST}", "10.0.0.7")
        found = last_check(engine, AuditAction.HISTORY_FILLED)
        assert found is not None and (found.listed, found.stored, found.already_had) == (12, 12, 0)

    def test_progress_is_told_day_by_day(self, sim, client, receiver, engine) -> None:
        seen: list[tuple[int, int]] = []
        fill(engine, client, receiver, progress=lambda done: seen.append((done.days_done, done.days)))
        assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    @pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
    def test_cashiers_and_viewers_may_not(self, client, receiver, engine, role: Role) -> None:
        with pytest.raises(NotAllowed, match="owner or finance"):
            fill_in(engine, client, a_user(role), FIRST, LAST, callback_url=receiver.url)

    @pytest.mark.parametrize(("first", "last", "says"), [
        (LAST, FIRST, "is after the last"),
        (TODAY, TODAY + timedelta(days=1), "is after today"),
        (TODAY - timedelta(days=800), TODAY, "at most two years"),
    ])
    def test_dates_that_cannot_be_asked_are_named(self, client, receiver, engine, first, last, says) -> None:
        with pytest.raises(InputError, match=says):
            fill_in(engine, client, CONSOLE, first, last, callback_url=receiver.url)
        assert audit_log(engine, actions=[AuditAction.HISTORY_FILLED]).empty

    def test_without_an_address_for_the_callback_it_says_what_to_set(self, client, engine) -> None:
        with pytest.raises(InputError, match="set PUBLIC_BASE_URL"):
            fill_in(engine, client, CONSOLE, FIRST, LAST, callback_url="")


def fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json={"path": "/api/v1/polling", **spec}, timeout=10).raise_for_status()


def fail_after_the_first_day(sim: RunningSim, **spec: object) -> Callable[[Filled], None]:
    """A `progress` that makes K2 fail from the second day on."""
    def progress(done: Filled) -> None:
        if done.days_done == 1:
            fault(sim, **spec)
    return progress


def each_once(engine: sa.Engine, made: dict) -> None:
    assert count(engine, "transactions") == made["generated"]
    assert rows(engine, "SELECT sum(amount_cents) AS c FROM transactions")[0].c == cents(made["total"])


class TestK2Failures:
    def test_a_5xx_mid_way_keeps_whole_days_and_a_rerun_doubles_nothing(self, sim, client, receiver, engine) -> None:
        made = traffic(sim, 50, FIRST, LAST, webhooks=False)

        broken = fill(engine, client, receiver, progress=fail_after_the_first_day(sim, type="error", status=503,
                                                                                  count=5))

        assert (broken.days_done, broken.complete) == (1, False)
        assert broken.failure == (
            f"Stopped at {FIRST + timedelta(days=1):%a %-d %b %Y}: K2 had a fault on its side (error 503). The days "
            "before it are filled in; nothing of that day was stored. Try again later: days already filled in are "
            "only checked again, never doubled.")
        assert count(engine, "transactions") == broken.stored == broken.listed  # the first day, whole
        httpx.delete(f"{sim.base_url}/sim/faults", timeout=10).raise_for_status()

        again = fill(engine, client, receiver)

        assert again.complete and (again.listed, again.stored) == (50, 50 - broken.stored)
        each_once(engine, made)
        assert "error 503" in audit_log(engine, actions=[AuditAction.HISTORY_FILLED], limit=2).iloc[1]["detail"]

    def test_a_timeout_stores_nothing_that_would_double_later(self, sim, client, receiver, engine) -> None:
        made = traffic(sim, 50, FIRST, LAST, webhooks=False)

        broken = fill(engine, client, receiver, progress=fail_after_the_first_day(sim, type="timeout", seconds=4,
                                                                                  count=1))

        assert broken.days_done == 1 and "K2 did not answer in time" in (broken.failure or "")
        drained(sim)  # K2 took the request it never answered: its result still comes to the route by callback
        again = fill(engine, client, receiver)
        assert again.complete and again.listed == 50
        each_once(engine, made)

    def test_refused_credentials_say_which_settings_to_check(self, sim, receiver, engine) -> None:
        traffic(sim, 10, FIRST, LAST, webhooks=False)
        wrong = K2Client(sim.base_url, sim.client_id, "not-the-secret", retry_backoff=0, max_retries=0)
        try:
            refused = fill_in(engine, wrong, CONSOLE, FIRST, LAST, callback_url=receiver.url, waits=QUICK)
        finally:
            wrong.close()
        assert refused.days_done == 0 and refused.stored == 0
        assert "refused this dashboard's credentials (401)" in (refused.failure or "")
        assert "K2_CLIENT_ID and K2_CLIENT_SECRET" in (refused.failure or "")
        assert count(engine, "transactions") == 0

    def test_a_list_k2_never_finishes_is_given_up_plainly(self, start_sim, receiver, engine) -> None:
        slow = start_sim(callback_delay_s=60.0)
        client = K2Client(slow.base_url, slow.client_id, slow.client_secret, retry_backoff=0)
        try:
            waited = fill_in(engine, client, CONSOLE, FIRST, LAST, callback_url=receiver.url,
                             waits=Waits(pauses=(0.1,), give_up_after=2.0))
        finally:
            client.close()
        assert waited.days_done == 0 and "K2 was still preparing the list after 2 seconds" in (waited.failure or "")


class TestDailyCheck:
    def test_yesterday_is_compared_and_the_missing_kept_and_shown(self, sim, client, receiver, engine) -> None:
        yesterday = TODAY - timedelta(days=1)
        subscribe(client, receiver)
        traffic(sim, 20, yesterday, yesterday, webhooks=True)
        drained(sim)
        eventually(lambda: count(engine, "transactions"), lambda n: n == 20)
        traffic(sim, 3, yesterday, yesterday, webhooks=False)

        checked = check_yesterday(engine, client, callback_url=receiver.url, waits=QUICK)

        assert (checked.first, checked.last) == (yesterday, yesterday)
        assert (checked.listed, checked.stored, checked.already_had) == (23, 3, 20)
        last = last_check(engine)
        assert last is not None and (last.first, last.listed, last.stored, last.failure) == (yesterday, 23, 3, None)
        found, total = found_by_polling(engine, *day_range(yesterday, yesterday))
        assert total == len(found) == 3
        assert all(isinstance(one.payment.amount, Decimal) and one.payment.payer for one in found)
        assert [one.payment.occurred_at for one in found] == sorted((one.payment.occurred_at for one in found),
                                                                    reverse=True)
        assert found_by_polling(engine, *day_range(yesterday, yesterday), limit=2)[1] == 3
        assert audit_log(engine, actions=[AuditAction.HISTORY_CHECKED]).iloc[0]["actor"] == "daily-check"

    def test_the_runtime_thread_runs_it_soon_after_start(self, sim, client, receiver, engine) -> None:
        traffic(sim, 4, TODAY - timedelta(days=1), TODAY - timedelta(days=1), webhooks=False)
        check = DailyCheck(engine, client, callback_url=receiver.url, first_after=timedelta(0))
        check.start()
        try:
            done = eventually(lambda: last_check(engine), lambda found: found is not None, timeout=20)
        finally:
            check.stop()
        assert done is not None and done.stored == 4
        assert count(engine, "transactions") == 4


def run_cli(sim: RunningSim, receiver: Receiver, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy() | {
        "DATABASE_URL": database_url, "K2_BASE_URL": sim.base_url, "K2_CLIENT_ID": sim.client_id,
        "K2_CLIENT_SECRET": sim.client_secret, "K2_API_KEY": KEY,
        "PUBLIC_BASE_URL": receiver.url.removesuffix("/api/k2/webhooks"),
    }
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "merchant.backfill", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


class TestCommandLine:
    def test_it_prints_what_it_fetched_stored_and_already_had(self, sim, receiver, engine, database_url) -> None:
        traffic(sim, 25, FIRST, LAST, webhooks=False)
        done = run_cli(sim, receiver, database_url, "--from", FIRST.isoformat(), "--to", f"{LAST:%d/%m/%Y}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            f"fetched: K2 listed 25 payments from {FIRST:%d/%m/%Y} to {LAST:%d/%m/%Y} (5 of 5 days asked)",
            "stored: 25 that were missing",
            "already had: 0",
        ]
        again = run_cli(sim, receiver, database_url, "--from", FIRST.isoformat(), "--to", LAST.isoformat())
        assert again.returncode == 0 and "stored: 0 that were missing" in again.stdout
        assert "already had: 25" in again.stdout
        assert count(engine, "transactions") == 25

    def test_bad_dates_are_named(self, sim, receiver, database_url) -> None:
        done = run_cli(sim, receiver, database_url, "--from", "31/11/2026", "--to", "2026-12-01")
        assert done.returncode == 2
        assert "'31/11/2026' is not a date: write it as 2026-11-30 or 30/11/2026" in done.stderr
        backwards = run_cli(sim, receiver, database_url, "--from", LAST.isoformat(), "--to", FIRST.isoformat())
        assert backwards.returncode == 2
        assert f"The first day ({LAST:%d/%m/%Y}) is after the last ({FIRST:%d/%m/%Y})." in backwards.stderr

    def test_a_k2_failure_exits_1_with_the_reason(self, sim, receiver, database_url) -> None:
        fault(sim, type="error", status=502, count=5)
        done = run_cli(sim, receiver, database_url, "--from", FIRST.isoformat(), "--to", LAST.isoformat())
        assert done.returncode == 1
        assert "K2 had a fault on its side (error 502)" in done.stderr
        assert "stored: 0 that were missing" in done.stdout

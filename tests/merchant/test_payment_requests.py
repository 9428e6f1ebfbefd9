"""Asking a customer to pay, over real HTTP: our client → k2sim → signed callback → a real receiver → the tables
(SQLite and PostgreSQL). Money is never asked for twice: a POST that got no answer is settled, never resent."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant import (
    InputError,
    load_settings,
    open_database,
    recent_requests,
    refresh_pending,
    request_payment,
)
from merchant.config import Settings, use_settings
from merchant.payment_requests import NOT_SENT, PENDING, REJECTED, UNKNOWN, shown_status
from merchant.webhooks import WEBHOOK_PATH

from .conftest import KEY, Receiver, count, rows

pytestmark = pytest.mark.slow

STK_PATH = "/api/v1/incoming_payments"


@pytest.fixture
def start_sim() -> Iterator[Callable[..., RunningSim]]:
    running: list[RunningSim] = []

    def start(callback_delay_s: float = 0.0) -> RunningSim:
        sim = start_in_thread(SimConfig(api_key=KEY, callback_delay_s=callback_delay_s, delivery_backoff_s=0.0))
        running.append(sim)
        return sim

    yield start
    for sim in running:
        sim.stop()


@pytest.fixture
def sim(start_sim: Callable[..., RunningSim]) -> RunningSim:
    return start_sim()


def client_for(sim: RunningSim) -> K2Client:
    return K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY, retry_backoff=0)


@pytest.fixture
def store(receiver: Receiver, database_url: str) -> Iterator[sa.Engine]:
    """The engine `request_payment` writes with (the receiver has brought the schema up to date)."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def settings_for(sim: RunningSim, receiver: Receiver, database_url: str) -> Settings:
    return Settings(
        k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret, k2_api_key=KEY,
        k2_till_number=sim.config.till_number, public_base_url=receiver.url.removesuffix(WEBHOOK_PATH),
        database_url=database_url,
    )


def settle(sim: RunningSim) -> None:
    httpx.post(f"{sim.base_url}/sim/drain", params={"timeout": "10"}, timeout=15).raise_for_status()


def stk_posts(sim: RunningSim) -> list[dict]:
    sent = httpx.get(f"{sim.base_url}/sim/requests", params={"path": STK_PATH}, timeout=10).json()
    return [request for request in sent if request["method"] == "POST"]


def only_request(engine: sa.Engine) -> sa.Row:
    [row] = rows(engine, "SELECT * FROM incoming_payments")
    return row


def test_paid_request_records_the_mpesa_reference_and_one_payment(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    with client_for(sim) as client:
        sent = request_payment(
            store, client, settings_for(sim, receiver, database_url), phone_number="0712 345 678",
            amount="1,350.50", note="2 kg sugar", first_name="Wanjiru",
        )
    assert sent.status in {PENDING, "Success"} and sent.phone_number == "+254712345678"
    assert sent.amount == Decimal("1350.50")
    settle(sim)

    row = only_request(store)
    assert (row.status, row.amount_cents, row.requested_cents, row.k2_id) == ("Success", 135050, 135050, sent.k2_id)
    assert (row.note, row.first_name, row.till_number) == ("2 kg sugar", "Wanjiru", sim.config.till_number)
    assert row.mpesa_reference and row.requested_at is not None
    [paid] = rows(store, "SELECT * FROM transactions")
    assert (paid.reference, paid.amount_cents, paid.sender_phone) == (row.mpesa_reference, 135050, "+254712345678")
    [shown] = recent_requests(store).to_dict("records")
    assert (shown["shown_status"], shown["amount"], shown["note"]) == ("Paid", Decimal("1350.50"), "2 kg sugar")
    assert len(stk_posts(sim)) == 1


def test_cancelled_request_says_so_and_keeps_the_amount_asked(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    with client_for(sim) as client:
        request_payment(store, client, settings_for(sim, receiver, database_url),
                        phone_number="0712345001", amount=Decimal(200))  # suffix 001: the customer cancels
    settle(sim)

    row = only_request(store)
    assert row.status == "Failed" and "cancelled" in row.errors.lower()
    [shown] = recent_requests(store).to_dict("records")
    assert (shown["shown_status"], shown["amount"]) == ("Cancelled", Decimal("200.00"))
    assert count(store, "transactions") == 0


def test_no_answer_is_settled_by_the_status_query_without_a_callback(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    with client_for(sim) as client:
        sent = request_payment(store, client, settings_for(sim, receiver, database_url),
                               phone_number="0712345003", amount="75")  # suffix 003: no answer, no callback
        settle(sim)
        assert only_request(store).status == PENDING
        assert refresh_pending(store, client) == 0  # not late yet: the callback may still come
        assert refresh_pending(store, client, older_than=timedelta(0)) == 1
        assert refresh_pending(store, client, older_than=timedelta(0)) == 0

    row = only_request(store)
    assert row.status == "Failed" and "did not respond" in row.errors
    assert row.result_event_id == f"incoming_payment:{sent.k2_id}:Failed"
    assert count(store, "webhook_events", f"id = '{row.result_event_id}'") == 1
    [shown] = recent_requests(store).to_dict("records")
    assert shown["shown_status"] == "No answer"


def test_paid_request_whose_callback_was_lost_is_settled_by_the_status_query(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json={"type": "drop"}, timeout=10).raise_for_status()
    with client_for(sim) as client:
        request_payment(store, client, settings_for(sim, receiver, database_url),
                        phone_number="0712345678", amount="500")
        settle(sim)
        assert only_request(store).status == PENDING
        assert refresh_pending(store, client, older_than=timedelta(0)) == 1

    row = only_request(store)
    assert row.status == "Success" and row.mpesa_reference
    assert [paid.reference for paid in rows(store, "SELECT reference FROM transactions")] == [row.mpesa_reference]


def test_timed_out_request_is_unknown_until_its_callback_settles_it_and_is_sent_once(
    start_sim: Callable[..., RunningSim], receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    sim = start_sim(callback_delay_s=1.5)  # the callback comes after our client has given up
    fault = {"type": "timeout", "seconds": 2, "path": STK_PATH}
    httpx.post(f"{sim.base_url}/sim/faults", json=fault, timeout=10).raise_for_status()
    with client_for(sim) as client:
        sent = request_payment(store, client.with_options(timeout=0.5), settings_for(sim, receiver, database_url),
                               phone_number="0712345678", amount="900")
    assert (sent.status, sent.shown_status, sent.k2_id) == (UNKNOWN, "Outcome unknown", None)
    settle(sim)

    row = only_request(store)
    assert (row.request_ref, row.status, row.amount_cents) == (sent.request_ref, "Success", 90000)
    assert row.k2_id and row.location
    assert count(store, "transactions") == 1
    assert len(stk_posts(sim)) == 1  # the money was asked for exactly once


class CallbackFirst:
    """Our client, but K2's callback is delivered and stored before `create` returns (a fast customer)."""

    def __init__(self, client: K2Client, sim: RunningSim) -> None:
        self.client, self.sim = client, sim

    @property
    def incoming_payments(self) -> CallbackFirst:
        return self

    def create(self, **params: object) -> str:
        location = self.client.incoming_payments.create(**params)
        settle(self.sim)
        return location


def test_callback_that_beats_our_answer_is_not_overwritten_by_our_update(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    with client_for(sim) as client:
        sent = request_payment(store, CallbackFirst(client, sim), settings_for(sim, receiver, database_url),  # type: ignore[arg-type]
                               phone_number="0712345678", amount="300")
    assert (sent.status, sent.shown_status) == ("Success", "Paid")
    row = only_request(store)
    assert row.status == "Success" and row.k2_id and row.location and row.mpesa_reference
    assert count(store, "transactions") == 1


def test_asking_again_while_the_first_prompt_is_unsettled_is_refused_and_not_sent(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    settings = settings_for(sim, receiver, database_url)
    with client_for(sim) as client:
        first = request_payment(store, client, settings, phone_number="0712345003", amount="75")  # no answer yet
        assert first.status == PENDING
        with pytest.raises(InputError) as raised:  # a double click on Send
            request_payment(store, client, settings, phone_number="0712 345 003", amount="KES 75.00")
        assert raised.value.field == "phone_number" and "wait for that request" in raised.value.message
        assert len(stk_posts(sim)) == 1
        request_payment(store, client, settings, phone_number="0712345003", amount="80")  # another amount is asked
    assert len(stk_posts(sim)) == 2 and count(store, "incoming_payments") == 2


def test_request_still_pending_at_k2_is_not_asked_about_again_until_it_is_late_again(
    start_sim: Callable[..., RunningSim], receiver: Receiver, store: sa.Engine, database_url: str
) -> None:
    sim = start_sim(callback_delay_s=30)  # K2 keeps it pending for the whole test
    with client_for(sim) as client:
        request_payment(store, client, settings_for(sim, receiver, database_url), phone_number="0712345678",
                        amount="60")
        with store.begin() as connection:  # no news for a minute: late
            connection.execute(sa.text("UPDATE incoming_payments SET updated_at = :then"),
                               {"then": datetime.now(UTC) - timedelta(minutes=1)})
        assert refresh_pending(store, client) == 0  # asked: still pending
        assert refresh_pending(store, client) == 0  # asked a moment ago: not again
    gets = httpx.get(f"{sim.base_url}/sim/requests", timeout=10).json()
    assert [r["method"] for r in gets if r["method"] == "GET" and STK_PATH in r["path"]] == ["GET"]
    assert only_request(store).status == PENDING


@pytest.mark.parametrize(("status", "stored"), [(429, REJECTED), (503, UNKNOWN)])
def test_k2_error_answers_become_outcomes(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str, status: int, stored: str
) -> None:
    fault = {"type": "error", "status": status, "path": STK_PATH}
    httpx.post(f"{sim.base_url}/sim/faults", json=fault, timeout=10).raise_for_status()
    with client_for(sim) as client:
        sent = request_payment(store, client, settings_for(sim, receiver, database_url),
                               phone_number="0712345678", amount="100")
    assert sent.status == stored and sent.reason
    assert len(stk_posts(sim)) == 1


def test_unreachable_k2_is_not_sent(receiver: Receiver, store: sa.Engine, database_url: str) -> None:
    settings = Settings(k2_till_number="K000000", public_base_url="http://127.0.0.1:9", database_url=database_url)
    with K2Client("http://127.0.0.1:9", "id", "secret", max_retries=0) as client:
        sent = request_payment(store, client, settings, phone_number="0712345678", amount="100")
    assert (sent.status, sent.shown_status) == (NOT_SENT, "Not sent")


@pytest.mark.parametrize(
    ("phone", "amount", "field", "words"),
    [
        ("12345", "100", "phone_number", "Phone number"),
        ("+255712345678", "100", "phone_number", "Phone number"),  # Tanzanian: M-Pesa Kenya cannot reach it
        ("0712345678", "ten", "amount", "Amount"),
        ("0712345678", "0", "amount", "Amount"),
        ("0712345678", "10.005", "amount", "Amount"),
        ("0712345678", "250000.01", "amount", "Amount"),
    ],
)
def test_bad_input_names_the_field_and_nothing_is_stored_or_sent(
    sim: RunningSim, receiver: Receiver, store: sa.Engine, database_url: str,
    phone: str, amount: str, field: str, words: str,
) -> None:
    with client_for(sim) as client, pytest.raises(InputError) as raised:
        request_payment(store, client, settings_for(sim, receiver, database_url), phone_number=phone, amount=amount)
    assert raised.value.field == field and raised.value.message.startswith(words)
    assert count(store, "incoming_payments") == 0
    assert stk_posts(sim) == []


def test_missing_callback_address_is_named(sim: RunningSim, receiver: Receiver, store: sa.Engine,
                                           database_url: str) -> None:
    settings = settings_for(sim, receiver, database_url)
    with client_for(sim) as client, pytest.raises(InputError) as raised:
        request_payment(store, client, Settings(**{**vars(settings), "public_base_url": ""}),
                        phone_number="0712345678", amount="100")
    assert raised.value.field == "PUBLIC_BASE_URL"
    assert count(store, "incoming_payments") == 0


def test_shown_status_in_the_owners_words() -> None:
    fresh, late = timedelta(seconds=5), timedelta(minutes=3)
    assert shown_status("Success", None, fresh) == ("Paid", None)
    assert shown_status("Failed", "Request cancelled by user", fresh)[0] == "Cancelled"
    assert shown_status("Failed", "The balance is insufficient for the transaction.", fresh) == (
        "Failed", "The balance is insufficient for the transaction."
    )
    assert shown_status("Pending", None, fresh)[0] == "Waiting for customer"
    assert shown_status("Pending", None, late)[0] == "No answer yet"
    assert shown_status("Requested", None, late)[0] == "Outcome unknown"
    assert shown_status("Unknown", None, fresh)[0] == "Outcome unknown"


def test_use_settings_hands_the_demo_settings_to_every_load() -> None:
    demo = Settings(k2_client_id="sim-id", k2_client_secret="sim-secret", public_base_url="http://127.0.0.1:8501",
                    emulated=True)
    use_settings(demo)
    assert load_settings() is demo and load_settings().demo_mode  # the emulator's credentials keep the banner
    assert load_settings({}) == Settings()  # an explicit environment is read, not the override
    use_settings(None)
    assert load_settings() != demo

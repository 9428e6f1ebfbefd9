"""The whole loop over real HTTP: our client asks the emulator to move money, the emulator's signed callbacks and
webhooks reach a real receiver, and the outcome tables and money-in rows end right (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client, MobileWalletRecipient
from k2sim import RunningSim, SimConfig, start_in_thread

from .conftest import KEY, Receiver, count, rows

pytestmark = pytest.mark.slow


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with start_in_thread(SimConfig(api_key=KEY, callback_delay_s=0.0, delivery_backoff_s=0.0)) as running:
        yield running


@pytest.fixture
def client(sim: RunningSim) -> Iterator[K2Client]:
    with K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY, retry_backoff=0) as k2:
        yield k2


def settle(sim: RunningSim) -> None:
    httpx.post(f"{sim.base_url}/sim/drain", params={"timeout": "10"}, timeout=15).raise_for_status()


def subscribe_all(client: K2Client, sim: RunningSim, url: str) -> None:
    till = sim.config.till_number.removeprefix("K")
    for event_type in ("buygoods_transaction_received", "buygoods_transaction_reversed"):
        client.webhook_subscriptions.create(event_type=event_type, url=url, scope="till", scope_reference=till)
    for event_type in ("customer_created", "settlement_transfer_completed"):
        client.webhook_subscriptions.create(event_type=event_type, url=url, scope="company")


def test_stk_push_paid_and_cancelled(client: K2Client, sim: RunningSim, receiver: Receiver, engine: sa.Engine) -> None:
    subscribe_all(client, sim, receiver.url)
    for ref, phone in (("stk-paid", "0712345678"), ("stk-cancelled", "0712345001")):  # suffix 001: customer cancels
        client.incoming_payments.create(
            till_number=sim.config.till_number, phone_number=phone, amount=Decimal("350.50"),
            callback_url=receiver.url, metadata={"request_ref": ref},
        )
    settle(sim)

    requests = {row.request_ref: row for row in rows(engine, "SELECT * FROM incoming_payments")}
    assert requests["stk-paid"].status == "Success" and requests["stk-paid"].amount_cents == 35050
    assert requests["stk-cancelled"].status == "Failed" and requests["stk-cancelled"].errors
    # the paid push is money in once, though the result callback and the buygoods webhook both report it
    [paid] = rows(engine, "SELECT * FROM transactions")
    assert (paid.reference, paid.amount_cents, paid.sender_phone) == (
        requests["stk-paid"].mpesa_reference, 35050, "+254712345678"
    )
    assert count(engine, "customers", "phone_number = '+254712345678'") == 1


def test_payout_and_settlement_outcomes(client: K2Client, sim: RunningSim, receiver: Receiver, engine: sa.Engine) -> None:
    subscribe_all(client, sim, receiver.url)
    recipient = client.pay_recipients.get(client.pay_recipients.create(
        MobileWalletRecipient(first_name="Amina", last_name="Otieno", phone_number="0722000111", email="a@o.test")
    ))
    client.payments.create(
        destination_type="mobile_wallet", destination_reference=recipient.recipient_reference or "",
        amount=Decimal("1200"), description="November wages", callback_url=receiver.url,
        metadata={"request_ref": "pay-1"},
    )
    wallet = client.merchant_wallets.get(
        client.merchant_wallets.create(first_name="Own", last_name="Float", phone_number="0722000222")
    )
    client.settlement_transfers.create(
        amount=Decimal("5000"), destination_type="merchant_wallet",
        destination_reference=wallet.account_reference or "", callback_url=receiver.url,
        metadata={"request_ref": "settle-1"},
    )
    settle(sim)

    [payment] = rows(engine, "SELECT * FROM payments")
    assert (payment.request_ref, payment.status, payment.amount_cents) == ("pay-1", "Processed", 120000)
    [leg] = json.loads(payment.disbursements_json)
    assert leg["transaction_reference"] and leg["status"] == "Transferred"
    [transfer] = rows(engine, "SELECT * FROM transfers")
    assert (transfer.status, transfer.amount_cents) == ("Processed", 500000)
    [settlement] = rows(engine, "SELECT * FROM settlements")
    assert (settlement.amount_cents, settlement.destination_type) == (500000, "Mobile Wallet")


def test_duplicated_and_reordered_deliveries_store_once(
    client: K2Client, sim: RunningSim, receiver: Receiver, engine: sa.Engine
) -> None:
    subscribe_all(client, sim, receiver.url)
    faults = f"{sim.base_url}/sim/faults"
    httpx.post(faults, json={"type": "duplicate", "count": 3}, timeout=10).raise_for_status()
    httpx.post(faults, json={"type": "out_of_order", "count": 2}, timeout=10).raise_for_status()
    httpx.post(f"{sim.base_url}/sim/traffic", json={"count": 40}, timeout=30).raise_for_status()
    settle(sim)
    deliveries = httpx.get(f"{sim.base_url}/sim/deliveries", timeout=10).json()
    assert all(delivery["state"] == "delivered" for delivery in deliveries)
    assert {"duplicate", "out_of_order"} <= {delivery["fault"] for delivery in deliveries}

    received = {d["body"]["event"]["resource"].get("reference") or d["body"]["event"]["resource"]["id"]
                for d in deliveries if d.get("topic") == "buygoods_transaction_received"}
    assert len(received) > 20 and count(engine, "transactions") == len(received)
    distinct_events = {d["body"]["id"] for d in deliveries}
    assert count(engine, "webhook_events") == len(distinct_events)

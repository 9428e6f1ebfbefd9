"""The client's main flows against a live k2sim on loopback: two independent readings of K2 agreeing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from k2 import (
    IncomingPayment,
    InternalServerError,
    K2Client,
    MerchantWalletDestination,
    MobileWalletDestination,
    MobileWalletRecipient,
    OutcomeUnknownError,
    ValidationError,
    WebhookEvent,
    parse_event,
    verify_signature,
)
from k2.webhooks import SIGNATURE_HEADER
from k2sim import RunningSim, SimConfig, start_in_thread

pytestmark = pytest.mark.slow

CALLBACK = "http://127.0.0.1:9/api/k2/webhooks"  # nothing listens: deliveries fail fast, statuses still settle


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    running = start_in_thread(SimConfig(callback_delay_s=0.0, delivery_max_attempts=1, delivery_backoff_s=0.0))
    yield running
    running.stop()


@pytest.fixture
def bearers() -> list[str]:
    return []


@pytest.fixture
def client(sim: RunningSim, bearers: list[str]) -> Iterator[K2Client]:
    def remember(request: httpx.Request) -> None:
        if "Authorization" in request.headers:
            bearers.append(request.headers["Authorization"].removeprefix("Bearer "))

    httpx.post(
        f"{sim.base_url}/sim/reset", timeout=10
    ).raise_for_status()  # a full balance for each test (sweeps empty it)
    http = httpx.Client(event_hooks={"request": [remember]}, timeout=10)
    with K2Client(
        sim.base_url, sim.client_id, sim.client_secret, api_key=sim.api_key, http_client=http, retry_backoff=0
    ) as k2:
        yield k2
    http.close()


def settle(sim: RunningSim) -> None:
    """Let the emulator run every pending resolution (the callbacks go nowhere)."""
    answer = httpx.post(f"{sim.base_url}/sim/drain", params={"timeout": "10"}, timeout=15)
    answer.raise_for_status()


class TestTokens:
    def test_token_info_and_introspection(self, client: K2Client, sim: RunningSim) -> None:
        token = client.tokens.create()
        value = token.access_token.get_secret_value()
        assert token.expires_in > 0
        assert client.tokens.introspect(value).active is True
        assert client.tokens.info(value).application["uid"] == sim.client_id
        client.tokens.revoke(value)
        assert client.tokens.introspect(value).active is False

    def test_revoked_token_gets_401_and_is_replaced_once(self, client: K2Client, bearers: list[str]) -> None:
        location = client.v2.webhook_subscriptions.create(event_type="customer_created", url=CALLBACK, scope="company")
        first = bearers[-1]
        client.tokens.revoke(first)
        assert client.v2.webhook_subscriptions.get(location).event_type == "customer_created"
        assert bearers[-2:] == [first, bearers[-1]] and bearers[-1] != first


class TestMoneyIn:
    def test_stk_push_then_reversal(self, client: K2Client, sim: RunningSim) -> None:
        location = client.incoming_payments.create(
            till_number=sim.config.till_number,
            phone_number="0712345678",
            amount=Decimal("150.50"),
            callback_url=CALLBACK,
            first_name="Jane",
            metadata={"order": "A-1"},
        )
        assert location.startswith(sim.base_url + "/api/v1/incoming_payments/")
        settle(sim)
        payment = client.incoming_payments.get(location)
        assert payment.status == "Success"
        assert payment.metadata == {"order": "A-1"}
        assert payment.resource is not None and payment.resource.amount == Decimal("150.50")
        assert payment.resource.reference

        reversal_location = client.v2.reversals.create(
            transaction_reference=payment.resource.reference, reason="Customer returned goods", callback_url=CALLBACK
        )
        settle(sim)
        reversal = client.v2.reversals.get(reversal_location)
        assert reversal.transaction_reference == payment.resource.reference
        assert reversal.status in {"Received", "Processed"}

    def test_server_side_validation_error_names_the_field(self, client: K2Client) -> None:
        with pytest.raises(ValidationError) as caught:  # 8 digits: our rule allows it, k2sim's does not
            client.incoming_payments.create(
                till_number="K12345678", phone_number="0712345678", amount=Decimal("10"), callback_url=CALLBACK
            )
        assert caught.value.status_code == 422
        assert caught.value.field == "till_number"

    def test_payment_link_create_get_cancel(self, client: K2Client, sim: RunningSim) -> None:
        location = client.v2.payment_links.create(
            till_number=sim.config.till_number,
            amount=Decimal("999"),
            payment_reference="INV-7",
            note="Order 7",
            callback_url=CALLBACK,
        )
        link = client.v2.payment_links.get(location)
        assert link.amount == Decimal("999") and link.payment_reference == "INV-7"
        client.v2.payment_links.cancel(location)
        assert client.v2.payment_links.get(location).payment_link != link.payment_link


class TestMoneyOut:
    def test_pay_recipient_then_payment(self, client: K2Client, sim: RunningSim) -> None:
        recipient_location = client.pay_recipients.create(
            MobileWalletRecipient(first_name="Jane", last_name="Doe", phone_number="0712345678", email="jane@doe.test")
        )
        recipient = client.pay_recipients.get(recipient_location)
        assert recipient.recipient_reference
        location = client.payments.create(
            destination_type="mobile_wallet",
            destination_reference=recipient.recipient_reference,
            amount=Decimal("250"),
            description="Supplier",
            callback_url=CALLBACK,
            metadata={"row": "1"},
        )
        settle(sim)
        payment = client.payments.get(location)
        assert payment.status == "Processed"
        assert payment.amount is not None and payment.amount.value == Decimal("250")

    def test_settlement_transfer_targeted_and_blind(self, client: K2Client, sim: RunningSim) -> None:
        account = client.merchant_wallets.get(
            client.merchant_wallets.create(first_name="Own", last_name="Wallet", phone_number="0712345678")
        )
        assert account.account_reference
        targeted = client.settlement_transfers.create(
            amount=Decimal("100"),
            destination_type="merchant_wallet",
            destination_reference=account.account_reference,
            callback_url=CALLBACK,
        )
        blind = client.settlement_transfers.sweep(callback_url=CALLBACK)
        settle(sim)
        transfers = client.settlement_transfers.get_many([targeted, blind], concurrency=2)
        assert [transfer.type for transfer in transfers] == ["settlement_transfer"] * 2
        assert transfers[0].amount is not None and transfers[0].amount.value == Decimal("100")

    def test_v2_send_money_to_wallet_and_own_account(self, client: K2Client, sim: RunningSim) -> None:
        account = client.v2.merchant_wallets.get(
            client.v2.merchant_wallets.create(first_name="Own", last_name="Float", phone_number="0722000000")
        )
        location = client.v2.send_money.create(
            destinations=[
                MobileWalletDestination(phone_number="0712345678", amount=Decimal("10"), description="Refund"),
                MerchantWalletDestination(reference=account.account_reference or "", amount=Decimal("20")),
            ],
            callback_url=CALLBACK,
            metadata={"batch": "7"},
        )
        settle(sim)
        result = client.v2.send_money.get(location)
        assert result.status == "Processed"
        assert result.metadata == {"batch": "7"}


class TestSubscriptionsAndPolling:
    def test_webhook_subscription(self, client: K2Client, sim: RunningSim) -> None:
        location = client.webhook_subscriptions.create(
            event_type="buygoods_transaction_received", url=CALLBACK, scope="till", scope_reference="555555"
        )
        subscription = client.webhook_subscriptions.get(location)
        assert (subscription.event_type, subscription.webhook_uri) == ("buygoods_transaction_received", CALLBACK)

    def test_polling(self, client: K2Client, sim: RunningSim) -> None:
        now = datetime.now(timezone.utc)
        location = client.polling.create(
            scope="company", from_time=now - timedelta(days=1), to_time=now, callback_url=CALLBACK
        )
        settle(sim)
        polling = client.polling.get(location)
        assert polling.type == "polling" and polling.status == "Success"


class CallbackReceiver:
    """A real HTTP endpoint on loopback that keeps each callback's exact bytes and signature header."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((body, self.headers.get(SIGNATURE_HEADER)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/k2/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running = CallbackReceiver()
    yield running
    running.close()


def inject_fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json=spec, timeout=10).raise_for_status()


def requests_to(sim: RunningSim, path: str) -> list[dict]:
    answer = httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}, timeout=10)
    answer.raise_for_status()
    return answer.json()


class TestCallbacksOverTheNetwork:
    def test_k2_verifies_and_parses_the_signed_result_callback(
        self, client: K2Client, sim: RunningSim, receiver: CallbackReceiver
    ) -> None:
        location = client.incoming_payments.create(
            till_number=sim.config.till_number, phone_number="0712345678", amount=Decimal("75"),
            callback_url=receiver.url, metadata={"request_ref": "stk-42"},
        )
        settle(sim)
        [(raw, signature)] = receiver.received
        assert verify_signature(raw, signature, sim.api_key)
        assert not verify_signature(raw.replace(b"75", b"76", 1), signature, sim.api_key)
        callback = parse_event(raw)
        assert isinstance(callback, IncomingPayment)
        assert callback == client.incoming_payments.get(location)
        assert callback.metadata == {"request_ref": "stk-42"}

    def test_sms_notification_for_a_received_payment_webhook(
        self, client: K2Client, sim: RunningSim, receiver: CallbackReceiver
    ) -> None:
        client.webhook_subscriptions.create(
            event_type="buygoods_transaction_received", url=receiver.url, scope="till",
            scope_reference=sim.config.till_number.removeprefix("K"),
        )
        httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": "120"}, timeout=10)
        settle(sim)
        webhook = parse_event(receiver.received[-1][0])
        assert isinstance(webhook, WebhookEvent) and webhook.topic == "buygoods_transaction_received"
        location = client.transaction_sms_notifications.create(
            webhook_event_reference=webhook.id, message="Asante! We received KES 120.", callback_url=CALLBACK
        )
        settle(sim)
        notification = client.transaction_sms_notifications.get(location)
        assert (notification.status, notification.webhook_event_reference) == ("Success", webhook.id)


class TestFaultsAgainstTheEmulator:
    def test_status_get_retries_through_injected_503s(self, client: K2Client, sim: RunningSim) -> None:
        location = client.incoming_payments.create(
            till_number=sim.config.till_number, phone_number="0712345678", amount=Decimal("10"), callback_url=CALLBACK
        )
        path = location.removeprefix(sim.base_url)
        inject_fault(sim, type="error", status=503, count=2, path=path)
        assert client.incoming_payments.get(location).id == path.rsplit("/", 1)[-1]
        assert [entry["status"] for entry in requests_to(sim, path)] == [503, 503, 200]

    def test_money_post_answered_5xx_is_not_retried(self, client: K2Client, sim: RunningSim) -> None:
        inject_fault(sim, type="error", status=500, count=1, path="/api/v1/incoming_payments")
        with pytest.raises(InternalServerError):
            client.incoming_payments.create(
                till_number=sim.config.till_number, phone_number="0712345678", amount=Decimal("10"),
                callback_url=CALLBACK,
            )
        assert len(requests_to(sim, "/api/v1/incoming_payments")) == 1

    def test_money_post_that_times_out_is_outcome_unknown_and_sent_once(
        self, client: K2Client, sim: RunningSim
    ) -> None:
        inject_fault(sim, type="timeout", seconds=2, count=1, path="/api/v1/incoming_payments")
        impatient = client.with_options(timeout=0.5)
        with pytest.raises(OutcomeUnknownError) as caught:
            impatient.incoming_payments.create(
                till_number=sim.config.till_number, phone_number="0712345678", amount=Decimal("10"),
                callback_url=CALLBACK, metadata={"request_ref": "stk-unknown"},
            )
        assert caught.value.metadata == {"request_ref": "stk-unknown"}
        posts = [entry for entry in requests_to(sim, "/api/v1/incoming_payments") if entry["method"] == "POST"]
        assert len(posts) == 1 and posts[0]["resource_id"]  # K2 did create it: only a status query can tell

"""The client's main flows against a live k2sim on loopback: two independent readings of K2 agreeing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from k2 import (
    K2Client,
    MerchantWalletDestination,
    MobileWalletDestination,
    MobileWalletRecipient,
    ValidationError,
)
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

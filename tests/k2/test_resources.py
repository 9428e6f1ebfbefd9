"""Every resource: the path and body it sends, the Location it returns, the model its GET returns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from k2 import (
    BankAccountDestination,
    BankAccountRecipient,
    IncomingPayment,
    K2Client,
    MerchantBankAccount,
    MerchantBankAccountDestination,
    MerchantWallet,
    MerchantWalletDestination,
    MobileWalletDestination,
    MobileWalletRecipient,
    NotFoundError,
    PaybillDestination,
    PaybillRecipient,
    Payment,
    PaymentLink,
    PayRecipient,
    Polling,
    RequestValidationError,
    Reversal,
    SendMoney,
    SettlementTransfer,
    SmsNotification,
    TillDestination,
    TillRecipient,
    WebhookSubscription,
)

from .conftest import BASE_URL, FakeK2, created, document, sent_json

CALLBACK = "https://shop.test/api/k2/webhooks"
Load = Callable[[str], Any]


def only(fake: FakeK2, method: str, path: str) -> Any:
    (request,) = fake.sent(method, path)
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["Content-Type"] == "application/json"
    return sent_json(request)


class TestIncomingPayments:
    def test_create_sends_stk_body_and_returns_location(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/incoming_payments"
        fake.route("POST", path, created(path, "ip-1"))
        location = client.incoming_payments.create(
            till_number="K000000",
            phone_number="0712345678",
            amount=Decimal("20000"),
            callback_url=CALLBACK,
            first_name="Joe",
            last_name="Buyer",
            email="jbuyer@mail.net",
            metadata={"customer_id": "123456789", "reference": "123456"},
        )
        assert location == f"{BASE_URL}{path}/ip-1"
        assert only(fake, "POST", path) == {
            "payment_channel": "M-PESA STK Push",
            "till_number": "K000000",
            "subscriber": {
                "first_name": "Joe",
                "last_name": "Buyer",
                "phone_number": "+254712345678",
                "email": "jbuyer@mail.net",
            },
            "amount": {"currency": "KES", "value": "20000"},
            "metadata": {"customer_id": "123456789", "reference": "123456"},
            "_links": {"callback_url": CALLBACK},
        }

    def test_v2_create_uses_the_v2_path(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/incoming_payments"
        fake.route("POST", path, created(path))
        client.v2.incoming_payments.create(
            till_number="K000000", phone_number="0712345678", amount=Decimal(1), callback_url=CALLBACK
        )
        assert len(fake.sent("POST", path)) == 1 and fake.sent("POST", "/api/v1/incoming_payments") == []

    def test_get_success_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        body = load("responses/stk.json")["status"]
        fake.route("GET", "/api/v1/incoming_payments/ip-1", httpx.Response(200, json=body))
        payment = client.incoming_payments.get(f"{BASE_URL}/api/v1/incoming_payments/ip-1")
        assert isinstance(payment, IncomingPayment)
        assert payment.status == "Success"
        assert payment.resource is not None and isinstance(payment.resource.amount, Decimal)

    def test_get_pending_fixture_by_id(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route(
            "GET",
            "/api/v1/incoming_payments/ip-2",
            httpx.Response(200, json=load("responses/stk.json")["statusPending"]),
        )
        payment = client.incoming_payments.get("ip-2")
        assert (payment.status, payment.resource) == ("Pending", None)

    def test_get_location_on_another_host_is_asked_of_base_url_only(
        self, client: K2Client, fake: FakeK2, load: Load
    ) -> None:
        fake.route(
            "GET", "/api/v1/incoming_payments/ip-3", httpx.Response(200, json=load("responses/php_stkStatus.json"))
        )
        client.incoming_payments.get("https://evil.test/api/v1/incoming_payments/ip-3")
        assert {request.url.host for request in fake.requests} == {"k2.test"}

    def test_get_refuses_an_empty_location(self, client: K2Client, fake: FakeK2) -> None:
        with pytest.raises(RequestValidationError) as caught:
            client.incoming_payments.get(" ")
        assert caught.value.field == "location"
        assert fake.requests == []

    def test_get_many_keeps_order_on_a_bounded_pool(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        body = load("responses/stk.json")["status"]
        workers: set[str] = set()

        def echo(request: httpx.Request) -> httpx.Response:
            workers.add(threading.current_thread().name)
            resource_id = request.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json={"data": {**body["data"], "id": resource_id}})

        ids = [f"ip-{n}" for n in range(40)]
        for resource_id in ids:
            fake.route("GET", f"/api/v1/incoming_payments/{resource_id}", echo)
        payments = client.incoming_payments.get_many(
            [f"{BASE_URL}/api/v1/incoming_payments/{i}" for i in ids], concurrency=8
        )
        assert [payment.id for payment in payments] == ids
        assert fake.tokens_issued == 1
        assert 1 <= len(workers) <= 8 and all(name.startswith("k2-get") for name in workers)

    def test_get_many_raises_the_first_error(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route(
            "GET", "/api/v1/incoming_payments/ok", httpx.Response(200, json=load("responses/stk.json")["status"])
        )
        with pytest.raises(NotFoundError, match="missing"):
            client.incoming_payments.get_many(["ok", "missing", "ok"], concurrency=2)

    def test_get_many_refuses_zero_concurrency(self, client: K2Client) -> None:
        with pytest.raises(RequestValidationError):
            client.incoming_payments.get_many(["a"], concurrency=0)


class TestPayRecipients:
    @pytest.mark.parametrize(
        ("recipient", "expected"),
        [
            (
                MobileWalletRecipient(first_name="Jane", last_name="Doe", phone_number="0712345678", email="j@d.test"),
                {
                    "type": "mobile_wallet",
                    "pay_recipient": {
                        "first_name": "Jane",
                        "last_name": "Doe",
                        "phone_number": "+254712345678",
                        "network": "Safaricom",
                        "email": "j@d.test",
                    },
                },
            ),
            (
                BankAccountRecipient(
                    account_name="Jane", account_number="0123", bank_branch_ref="b-1", settlement_method="EFT"
                ),
                {
                    "type": "bank_account",
                    "pay_recipient": {
                        "account_name": "Jane",
                        "account_number": "0123",
                        "bank_branch_ref": "b-1",
                        "settlement_method": "EFT",
                    },
                },
            ),
            (
                TillRecipient(till_name="Shop", till_number="555555"),
                {"type": "till", "pay_recipient": {"till_name": "Shop", "till_number": "555555"}},
            ),
            (
                PaybillRecipient(paybill_name="KPLC", paybill_number="888880", paybill_account_number="ACC-1"),
                {
                    "type": "paybill",
                    "pay_recipient": {
                        "paybill_name": "KPLC",
                        "paybill_number": "888880",
                        "paybill_account_number": "ACC-1",
                    },
                },
            ),
        ],
        ids=["mobile_wallet", "bank_account", "till", "paybill"],
    )
    def test_create_each_type(self, client: K2Client, fake: FakeK2, recipient: Any, expected: dict[str, Any]) -> None:
        path = "/api/v1/pay_recipients"
        fake.route("POST", path, created(path, "r-1"))
        assert client.pay_recipients.create(recipient) == f"{BASE_URL}{path}/r-1"
        assert only(fake, "POST", path) == expected

    def test_get(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {
            "recipient_type": "Mobile Wallet",
            "status": "Approved",
            "recipient_reference": "ref-9",
            "first_name": "Jane",
            "last_name": "Doe",
            "phone_number": "+254712345678",
            "network": "Safaricom",
            "email": "",
        }
        fake.route("GET", "/api/v1/pay_recipients/r-1", document("pay_recipient", attributes, "r-1"))
        recipient = client.pay_recipients.get("r-1")
        assert isinstance(recipient, PayRecipient)
        assert (recipient.recipient_reference, recipient.status, recipient.email) == ("ref-9", "Approved", None)


class TestExternalRecipients:
    def test_create_wraps_in_external_recipient_under_v2(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/external_recipients"
        fake.route("POST", path, created(path))
        client.v2.external_recipients.create(TillRecipient(till_name="Shop", till_number="555555", nickname="corner"))
        assert only(fake, "POST", path) == {
            "type": "till",
            "external_recipient": {"till_name": "Shop", "till_number": "555555", "nickname": "corner"},
        }

    def test_get(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {"recipient_type": "Till", "status": "Approved", "till_number": "555555"}
        fake.route("GET", "/api/v2/external_recipients/x", document("external_recipient", attributes, "x"))
        assert client.v2.external_recipients.get("x").till_number == "555555"


class TestPayments:
    def test_create(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/payments"
        fake.route("POST", path, created(path, "p-1"))
        location = client.payments.create(
            destination_type="mobile_wallet",
            destination_reference="9764ef5f",
            amount=Decimal("10"),
            description="Salary payment for May 2018",
            callback_url=CALLBACK,
            category="salaries",
            tags=["tag 1"],
            metadata={"customerId": "8675309"},
        )
        assert location.endswith("/p-1")
        assert only(fake, "POST", path) == {
            "destination_type": "mobile_wallet",
            "destination_reference": "9764ef5f",
            "amount": {"currency": "KES", "value": "10"},
            "description": "Salary payment for May 2018",
            "category": "salaries",
            "tags": ["tag 1"],
            "metadata": {"customerId": "8675309"},
            "_links": {"callback_url": CALLBACK},
        }

    def test_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route("GET", "/api/v1/payments/p-1", httpx.Response(200, json=load("responses/php_payStatus.json")))
        payment = client.payments.get(f"{BASE_URL}/api/v1/payments/p-1")
        assert isinstance(payment, Payment)
        assert payment.transfer_batches[0].disbursements[0].amount > 0


class TestMerchantAccounts:
    def test_create_bank_account(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/merchant_bank_accounts"
        fake.route("POST", path, created(path))
        client.merchant_bank_accounts.create(
            account_name="Shop Ltd", account_number="01234", bank_branch_ref="br-1", settlement_method="RTS"
        )
        assert only(fake, "POST", path) == {
            "account_name": "Shop Ltd",
            "account_number": "01234",
            "bank_branch_ref": "br-1",
            "settlement_method": "RTS",
        }

    def test_create_wallet_v2_with_nickname(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/merchant_wallets"
        fake.route("POST", path, created(path))
        client.v2.merchant_wallets.create(
            first_name="Jo", last_name="Doe", phone_number="254712345678", nickname="till float"
        )
        assert only(fake, "POST", path) == {
            "first_name": "Jo",
            "last_name": "Doe",
            "phone_number": "+254712345678",
            "network": "Safaricom",
            "nickname": "till float",
        }

    def test_create_wallet_v1(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/merchant_wallets"
        fake.route("POST", path, created(path, "w-1"))
        location = client.merchant_wallets.create(first_name="Jo", last_name="Doe", phone_number="+254712345678")
        assert location == f"{BASE_URL}{path}/w-1"
        assert only(fake, "POST", path)["phone_number"] == "+254712345678"

    def test_create_bank_account_v2(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/merchant_bank_accounts"
        fake.route("POST", path, created(path))
        client.v2.merchant_bank_accounts.create(
            account_name="Shop Ltd", account_number="01234", bank_branch_ref="br-1", settlement_method="EFT"
        )
        assert only(fake, "POST", path)["settlement_method"] == "EFT"

    def test_get_bank_account(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {
            "status": "Approved",
            "account_reference": "acc-1",
            "account_name": "Shop",
            "settlement_method": "EFT",
        }
        fake.route("GET", "/api/v1/merchant_bank_accounts/a", document("merchant_bank_account", attributes, "a"))
        account = client.merchant_bank_accounts.get("a")
        assert isinstance(account, MerchantBankAccount) and account.account_reference == "acc-1"

    def test_get_wallet_v2(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {"status": "Approved", "account_reference": "w-1", "phone_number": "+254712345678"}
        fake.route("GET", "/api/v2/merchant_wallets/w", document("merchant_wallet", attributes, "w"))
        wallet = client.v2.merchant_wallets.get("w")
        assert isinstance(wallet, MerchantWallet) and wallet.phone_number == "+254712345678"


class TestSettlementTransfers:
    def test_create_targeted(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/settlement_transfers"
        fake.route("POST", path, created(path))
        client.settlement_transfers.create(
            amount=Decimal("1500.50"),
            destination_type="merchant_wallet",
            destination_reference="w-1",
            callback_url=CALLBACK,
        )
        assert only(fake, "POST", path) == {
            "amount": {"currency": "KES", "value": "1500.50"},
            "destination_type": "merchant_wallet",
            "destination_reference": "w-1",
            "_links": {"callback_url": CALLBACK},
        }

    def test_sweep_is_a_blind_transfer(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/settlement_transfers"
        fake.route("POST", path, created(path, "st-1"))
        assert client.settlement_transfers.sweep(callback_url=CALLBACK).endswith("/st-1")
        assert only(fake, "POST", path) == {"_links": {"callback_url": CALLBACK}}

    def test_get_blind_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route(
            "GET",
            "/api/v1/settlement_transfers/st-1",
            httpx.Response(200, json=load("responses/transfer.json")["status"]),
        )
        transfer = client.settlement_transfers.get("st-1")
        assert isinstance(transfer, SettlementTransfer)
        assert transfer.amount is not None and transfer.amount.value is None
        assert len(transfer.transfer_batches) == 2


class TestSendMoney:
    def test_create_with_external_and_own_destinations(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/send_money"
        fake.route("POST", path, created(path, "sm-1"))
        location = client.v2.send_money.create(
            destinations=[
                MobileWalletDestination(
                    phone_number="0712345678",
                    amount=Decimal("1000"),
                    description="Reason",
                    nickname="Jane",
                    favourite=True,
                ),
                PaybillDestination(
                    paybill_number="888880", paybill_account_number="A-1", amount=Decimal("20.5"), description="Bill"
                ),
                MerchantBankAccountDestination(reference="acc-1", amount=Decimal("5")),
            ],
            callback_url=CALLBACK,
            source_identifier="4321",
            metadata={"batch": "b-1"},
        )
        assert location.endswith("/sm-1")
        assert only(fake, "POST", path) == {
            "destinations": [
                {
                    "type": "mobile_wallet",
                    "phone_number": "+254712345678",
                    "network": "Safaricom",
                    "amount": "1000",
                    "description": "Reason",
                    "nickname": "Jane",
                    "favourite": True,
                },
                {
                    "type": "paybill",
                    "paybill_number": "888880",
                    "paybill_account_number": "A-1",
                    "amount": "20.5",
                    "description": "Bill",
                },
                {"type": "merchant_bank_account", "reference": "acc-1", "amount": "5"},
            ],
            "currency": "KES",
            "source_identifier": "4321",
            "metadata": {"batch": "b-1"},
            "_links": {"callback_url": CALLBACK},
        }

    def test_create_with_the_other_destination_types(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/send_money"
        fake.route("POST", path, created(path))
        client.v2.send_money.create(
            destinations=[
                BankAccountDestination(
                    account_name="Jane", account_number="0123", bank_branch_ref="br-1", amount=Decimal("7"), description="d"
                ),
                TillDestination(till_number="555555", amount=Decimal("8"), description="d"),
                MerchantWalletDestination(reference="w-1", amount=Decimal("9.99")),
            ],
            callback_url=CALLBACK,
        )
        assert only(fake, "POST", path)["destinations"] == [
            {
                "type": "bank_account",
                "account_name": "Jane",
                "account_number": "0123",
                "bank_branch_ref": "br-1",
                "amount": "7",
                "description": "d",
            },
            {"type": "till", "till_number": "555555", "amount": "8", "description": "d"},
            {"type": "merchant_wallet", "reference": "w-1", "amount": "9.99"},
        ]

    def test_sweep_sends_no_destinations(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/send_money"
        fake.route("POST", path, created(path))
        client.v2.send_money.sweep(callback_url=CALLBACK)
        assert only(fake, "POST", path) == {"currency": "KES", "_links": {"callback_url": CALLBACK}}

    def test_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route(
            "GET", "/api/v2/send_money/sm-1", httpx.Response(200, json=load("responses/send_money.json")["status"])
        )
        result = client.v2.send_money.get(f"{BASE_URL}/api/v2/send_money/sm-1")
        assert isinstance(result, SendMoney) and result.type == "send_money"


class TestWebhookSubscriptions:
    def test_create_sends_url_field(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/webhook_subscriptions"
        fake.route("POST", path, created(path))
        client.webhook_subscriptions.create(
            event_type="buygoods_transaction_received", url=CALLBACK, scope="till", scope_reference="555555"
        )
        assert only(fake, "POST", path) == {
            "event_type": "buygoods_transaction_received",
            "url": CALLBACK,
            "scope": "till",
            "scope_reference": "555555",
        }

    def test_v2_create_with_daraja_payload(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/webhook_subscriptions"
        fake.route("POST", path, created(path))
        client.v2.webhook_subscriptions.create(
            event_type="b2b_transaction_received", url=CALLBACK, scope="company", enable_daraja_payload=True
        )
        assert only(fake, "POST", path) == {
            "event_type": "b2b_transaction_received",
            "url": CALLBACK,
            "scope": "company",
            "enable_daraja_payload": True,
        }

    def test_v2_get(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {"event_type": "buygoods_transaction_received", "status": "Active", "enable_daraja_payload": True}
        fake.route("GET", "/api/v2/webhook_subscriptions/ws", document("webhook_subscription", attributes, "ws"))
        assert client.v2.webhook_subscriptions.get("ws").enable_daraja_payload is True

    def test_get_reads_webhook_uri(self, client: K2Client, fake: FakeK2) -> None:
        attributes = {
            "event_type": "customer_created",
            "webhook_uri": CALLBACK,
            "status": "Active",
            "scope": "company",
            "scope_reference": None,
        }
        fake.route("GET", "/api/v1/webhook_subscriptions/ws", document("webhook_subscription", attributes, "ws"))
        subscription = client.webhook_subscriptions.get("ws")
        assert isinstance(subscription, WebhookSubscription) and subscription.webhook_uri == CALLBACK


class TestPolling:
    def test_create(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/polling"
        fake.route("POST", path, created(path))
        client.polling.create(
            scope="till",
            scope_reference="112233",
            from_time=datetime(2021, 4, 12, 5, 50, 22, tzinfo=timezone.utc),
            to_time=datetime(2021, 4, 19, 5, 50, 22, tzinfo=timezone.utc),
            callback_url=CALLBACK,
        )
        assert only(fake, "POST", path) == {
            "scope": "till",
            "scope_reference": "112233",
            "from_time": "2021-04-12T05:50:22Z",
            "to_time": "2021-04-19T05:50:22Z",
            "_links": {"callback_url": CALLBACK},
        }

    def test_v2_create_for_the_company(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/polling"
        fake.route("POST", path, created(path))
        client.v2.polling.create(
            scope="company",
            from_time=datetime(2021, 4, 12, tzinfo=timezone.utc),
            to_time=datetime(2021, 4, 13, tzinfo=timezone.utc),
            callback_url=CALLBACK,
        )
        assert only(fake, "POST", path)["scope_reference"] == ""

    def test_v2_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route("GET", "/api/v2/polling/pl", httpx.Response(200, json=load("responses/polling.json")["status"]))
        polling = client.v2.polling.get("pl")
        assert isinstance(polling, Polling) and polling.transactions

    def test_v1_get_php_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route("GET", "/api/v1/polling/pl", httpx.Response(200, json=load("responses/php_pollingStatus.json")))
        assert client.polling.get("pl").status


class TestTransactionSmsNotifications:
    def test_create(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/transaction_sms_notifications"
        fake.route("POST", path, created(path))
        client.transaction_sms_notifications.create(
            webhook_event_reference="evt-1", message="Thanks!", callback_url=CALLBACK
        )
        assert only(fake, "POST", path) == {
            "webhook_event_reference": "evt-1",
            "message": "Thanks!",
            "_links": {"callback_url": CALLBACK},
        }

    def test_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        body = load("responses/php_transactionSmsNotificationStatus.json")
        fake.route("GET", "/api/v1/transaction_sms_notifications/n", httpx.Response(200, json=body))
        notification = client.transaction_sms_notifications.get("n")
        assert isinstance(notification, SmsNotification) and notification.message


class TestReversals:
    def test_create(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/reversals"
        fake.route("POST", path, created(path))
        client.v2.reversals.create(transaction_reference="OJJ1MPU40Z", reason="Double charge", callback_url=CALLBACK)
        assert only(fake, "POST", path) == {
            "transaction_reference": "OJJ1MPU40Z",
            "reason": "Double charge",
            "_links": {"callback_url": CALLBACK},
        }

    def test_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        fake.route("GET", "/api/v2/reversals/rv", httpx.Response(200, json=load("responses/reversals.json")["status"]))
        assert isinstance(client.v2.reversals.get("rv"), Reversal)


class TestPaymentLinks:
    def test_create(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v2/payment_links"
        fake.route("POST", path, created(path, "pl-1"))
        client.v2.payment_links.create(
            till_number="123456",
            amount=Decimal("1000"),
            payment_reference="INV-1001",
            note="Order",
            callback_url=CALLBACK,
        )
        assert only(fake, "POST", path) == {
            "till_number": "123456",
            "currency": "KES",
            "amount": "1000",
            "payment_reference": "INV-1001",
            "note": "Order",
            "_links": {"callback_url": CALLBACK},
        }

    def test_get_fixture(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        body = load("responses/payment_links.json")["show"]
        fake.route("GET", "/api/v2/payment_links/pl-1", httpx.Response(200, json=body))
        link = client.v2.payment_links.get(f"{BASE_URL}/api/v2/payment_links/pl-1")
        assert isinstance(link, PaymentLink) and link.amount == Decimal("1000")

    def test_cancel_posts_to_the_cancel_path(self, client: K2Client, fake: FakeK2, load: Load) -> None:
        body = {"message": load("responses/payment_links.json")["cancel"]["message"]}
        fake.route("POST", "/api/v2/payment_links/pl-1/cancel", httpx.Response(200, json=body))
        client.v2.payment_links.cancel(f"{BASE_URL}/api/v2/payment_links/pl-1")
        assert len(fake.sent("POST", "/api/v2/payment_links/pl-1/cancel")) == 1

    def test_link_till_may_carry_k_prefix_but_not_letters(self, client: K2Client) -> None:
        with pytest.raises(RequestValidationError) as caught:
            client.v2.payment_links.create(
                till_number="SHOP", amount=Decimal("1"), payment_reference="r", callback_url=CALLBACK
            )
        assert caught.value.field == "till_number"

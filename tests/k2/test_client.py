"""The client object: construction, namespaces, copies with other limits, the pool it owns or borrows."""

from __future__ import annotations

import httpx
import pytest

import k2
from k2 import K2Client, RequestValidationError, sign
from k2._connections import Connections
from k2.resources import V2, IncomingPayments, SendMoneyRequests

from .conftest import API_KEY, BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeK2, document

STK = "/api/v1/incoming_payments/abc-123"
PENDING = {"status": "Pending", "event": {"type": "Incoming Payment Request", "resource": None, "errors": None}}


class TestConstruction:
    @pytest.mark.parametrize("base_url", ["sandbox.kopokopo.com", "ftp://k2.test", ""])
    def test_base_url_must_be_http(self, base_url: str) -> None:
        with pytest.raises(RequestValidationError) as caught:
            K2Client(base_url, CLIENT_ID, CLIENT_SECRET)
        assert caught.value.field == "base_url"

    @pytest.mark.parametrize(
        ("client_id", "client_secret", "field"), [("", "s", "client_id"), ("i", "", "client_secret")]
    )
    def test_credentials_are_required(self, client_id: str, client_secret: str, field: str) -> None:
        with pytest.raises(RequestValidationError) as caught:
            K2Client(BASE_URL, client_id, client_secret)
        assert caught.value.field == field

    def test_trailing_slash_is_dropped(self, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client = K2Client(BASE_URL + "/", CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake))
        client.incoming_payments.get("abc-123")
        assert str(fake.sent("GET", STK)[0].url) == BASE_URL + STK

    def test_repr_names_only_the_base_url(self, client: K2Client) -> None:
        assert repr(client) == "<K2Client base_url='https://k2.test'>"


class TestNamespaces:
    def test_resources_are_built_once(self, client: K2Client) -> None:
        assert client.incoming_payments is client.incoming_payments
        assert isinstance(client.incoming_payments, IncomingPayments)
        assert isinstance(client.v2, V2) and client.v2 is client.v2
        assert isinstance(client.v2.send_money, SendMoneyRequests)

    @pytest.mark.parametrize(
        "name",
        [
            "incoming_payments",
            "pay_recipients",
            "payments",
            "merchant_bank_accounts",
            "merchant_wallets",
            "settlement_transfers",
            "webhook_subscriptions",
            "polling",
            "transaction_sms_notifications",
        ],
    )
    def test_v1_namespaces_default_to_v1(self, client: K2Client, name: str) -> None:
        assert repr(getattr(client, name)).endswith(" v1>")

    @pytest.mark.parametrize(
        "name",
        [
            "send_money",
            "external_recipients",
            "reversals",
            "payment_links",
            "incoming_payments",
            "webhook_subscriptions",
            "polling",
            "merchant_bank_accounts",
            "merchant_wallets",
        ],
    )
    def test_v2_namespaces_are_v2(self, client: K2Client, name: str) -> None:
        assert repr(getattr(client.v2, name)).endswith(" v2>")


class TestWithOptions:
    def test_copy_shares_pool_and_token(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        faster = client.with_options(timeout=1.0, max_retries=0)
        faster.incoming_payments.get(STK)
        assert faster._connections.owner is client._connections
        assert fake.tokens_issued == 1
        assert faster is not client and faster.incoming_payments is not client.incoming_payments

    def test_closing_the_copy_leaves_the_pool_open(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.with_options(max_retries=1).close()
        assert client.incoming_payments.get(STK).status == "Pending"


class TestPoolOwnership:
    def test_own_connections_are_closed_on_exit(self, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        with K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake)) as client:
            client.incoming_payments.get(STK)
            opened = list(client._connections._free)
        assert opened and all(http.is_closed for http in opened)
        with pytest.raises(RuntimeError, match="closed"):
            client.incoming_payments.get(STK)

    def test_threads_share_a_few_kept_connections(self, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        with K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake)) as client:
            for _ in range(3):
                assert len(client.incoming_payments.get_many([STK] * 40, concurrency=4)) == 40
            assert 1 <= len(client._connections._free) <= 4, "reused across calls, at most one per thread at once"

    def test_a_request_waits_for_a_free_connection_then_gives_up_unsent(self) -> None:
        made: list[httpx.Client] = []

        def make() -> httpx.Client:
            made.append(httpx.Client())
            return made[-1]

        connections = Connections(make, most=1, wait=0.05)
        with connections.lent() as first:
            with pytest.raises(httpx.PoolTimeout, match="1 connections to K2 stayed busy"):
                with connections.lent():
                    pass
        with connections.lent() as again:
            assert again is first and len(made) == 1
        connections.close()
        assert first.is_closed

    def test_lent_http_client_is_used_and_left_open(self, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        lent = httpx.Client(transport=httpx.MockTransport(fake))
        with K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, http_client=lent) as client:
            client.incoming_payments.get(STK)
        assert not lent.is_closed
        assert fake.sent("GET", STK)[0].headers["Accept"] == "application/json"
        lent.close()


class TestSignatures:
    def test_verify_signature_uses_the_api_key(self, client: K2Client) -> None:
        body = b'{"topic":"customer_created"}'
        assert client.verify_signature(body, sign(body, API_KEY)) is True
        assert client.verify_signature(body, sign(body, "other-key")) is False

    def test_verify_signature_without_api_key_says_which_setting(self) -> None:
        client = K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET)
        with pytest.raises(RequestValidationError, match="K2_API_KEY"):
            client.verify_signature(b"{}", "00")


class TestPublicFace:
    def test_package_exports_client_errors_types_and_webhooks(self) -> None:
        for name in (
            "K2Client",
            "OutcomeUnknownError",
            "IncomingPayment",
            "MobileWalletDestination",
            "AccessToken",
            "verify_signature",
            "sign",
            "parse_event",
        ):
            assert name in k2.__all__ and hasattr(k2, name)
        assert len(k2.__all__) == len(set(k2.__all__))

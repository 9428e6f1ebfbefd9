"""Retry rules: GETs and token calls retry on connection errors, 408, 429 and 5xx; money POSTs never after sending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

import k2._base
from k2 import (
    APIConnectionError,
    MerchantWalletDestination,
    TillDestination,
    APITimeoutError,
    InternalServerError,
    K2Client,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
)
from k2._base import retry_delay
from k2._constants import MAX_RETRY_DELAY

from .conftest import BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeK2, Reply, created, document, sent_json

CALLBACK = "https://shop.test/cb"
REF = {"request_ref": "req-42"}

# Every POST that moves money, each given our own reference as metadata: (path, call).
MONEY_CREATES: dict[str, tuple[str, Callable[[K2Client], str]]] = {
    "incoming_payments": (
        "/api/v1/incoming_payments",
        lambda c: c.incoming_payments.create(
            till_number="K000000", phone_number="0712345678", amount=Decimal("100"), callback_url=CALLBACK, metadata=REF
        ),
    ),
    "v2.incoming_payments": (
        "/api/v2/incoming_payments",
        lambda c: c.v2.incoming_payments.create(
            till_number="K000000", phone_number="0712345678", amount=Decimal("100"), callback_url=CALLBACK, metadata=REF
        ),
    ),
    "payments": (
        "/api/v1/payments",
        lambda c: c.payments.create(
            destination_type="till",
            destination_reference="r-1",
            amount=Decimal("5"),
            description="x",
            callback_url=CALLBACK,
            metadata=REF,
        ),
    ),
    "settlement_transfers": (
        "/api/v1/settlement_transfers",
        lambda c: c.settlement_transfers.create(
            amount=Decimal("5"),
            destination_type="merchant_wallet",
            destination_reference="w-1",
            callback_url=CALLBACK,
            metadata=REF,
        ),
    ),
    "settlement_transfers.sweep": (
        "/api/v1/settlement_transfers",
        lambda c: c.settlement_transfers.sweep(callback_url=CALLBACK, metadata=REF),
    ),
    "send_money": (
        "/api/v2/send_money",
        lambda c: c.v2.send_money.create(
            destinations=[
                TillDestination(till_number="555555", amount=Decimal("5"), description="x"),
                MerchantWalletDestination(reference="w-1", amount=Decimal("5")),
            ],
            callback_url=CALLBACK,
            metadata=REF,
        ),
    ),
    "send_money.sweep": ("/api/v2/send_money", lambda c: c.v2.send_money.sweep(callback_url=CALLBACK, metadata=REF)),
    "reversals": (
        "/api/v2/reversals",
        lambda c: c.v2.reversals.create(
            transaction_reference="QKL1", reason="double charge", callback_url=CALLBACK, metadata=REF
        ),
    ),
    "payment_links": (
        "/api/v2/payment_links",
        lambda c: c.v2.payment_links.create(
            till_number="555555", amount=Decimal("5"), payment_reference="INV-1", callback_url=CALLBACK, metadata=REF
        ),
    ),
}

STK = "/api/v1/incoming_payments/abc-123"
PENDING = {"status": "Pending", "event": {"type": "Incoming Payment Request", "resource": None, "errors": None}}
PAYMENTS = "/api/v1/payments"


def pay(client: K2Client) -> str:
    return client.payments.create(
        destination_type="mobile_wallet",
        destination_reference="rcp-1",
        amount=Decimal("250.00"),
        description="May salary",
        callback_url="https://shop.test/cb",
        metadata={"batch": "b-7", "row": "3"},
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the waits instead of waiting."""
    slept: list[float] = []
    monkeypatch.setattr(k2._base.time, "sleep", slept.append)
    return slept


class TestGetRetries:
    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(408),
            httpx.Response(429),
            httpx.Response(500),
            httpx.Response(502),
            httpx.Response(503),
        ],
        ids=["connect", "read-timeout", "dropped", "408", "429", "500", "502", "503"],
    )
    def test_get_retries_transient_failure(self, client: K2Client, fake: FakeK2, failure: Reply) -> None:
        fake.route("GET", STK, failure, document("incoming_payment", PENDING))
        assert client.incoming_payments.get(STK).status == "Pending"
        assert len(fake.sent("GET", STK)) == 2

    def test_get_gives_up_after_max_retries_with_status_error(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.Response(503, json={"error_code": 503, "error_message": "maintenance"}))
        with pytest.raises(InternalServerError, match="maintenance"):
            client.incoming_payments.get(STK)
        assert len(fake.sent("GET", STK)) == 3  # one try + DEFAULT_MAX_RETRIES (2)

    def test_get_gives_up_on_timeouts_with_timeout_error(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.ReadTimeout("slow"))
        with pytest.raises(APITimeoutError) as caught:
            client.incoming_payments.get(STK)
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
        assert len(fake.sent("GET", STK)) == 3

    def test_get_gives_up_on_connection_errors_naming_the_setting(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.ConnectError("refused"))
        with pytest.raises(APIConnectionError, match="K2_BASE_URL") as caught:
            client.incoming_payments.get(STK)
        assert not isinstance(caught.value, (APITimeoutError, OutcomeUnknownError))

    def test_get_not_retried_on_client_errors(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.Response(404, json={"error_code": 404, "error_message": "no such"}))
        with pytest.raises(NotFoundError):
            client.incoming_payments.get(STK)
        assert len(fake.sent("GET", STK)) == 1

    def test_with_options_max_retries_zero_tries_once(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.Response(500))
        with pytest.raises(InternalServerError):
            client.with_options(max_retries=0).incoming_payments.get(STK)
        assert len(fake.sent("GET", STK)) == 1

    def test_retry_after_is_honoured(self, client: K2Client, fake: FakeK2, sleeps: list[float]) -> None:
        fake.route("GET", STK, httpx.Response(429, headers={"Retry-After": "3"}), document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        assert sleeps == [3.0]

    def test_backoff_grows_between_retries(self, fake: FakeK2, sleeps: list[float]) -> None:
        client = K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake), retry_backoff=1.0)
        fake.route("GET", STK, httpx.Response(500), httpx.Response(500), document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        first, second = sleeps
        assert 0.5 <= first <= 1.0
        assert 1.0 <= second <= 2.0

    def test_zero_backoff_never_waits(self, client: K2Client, fake: FakeK2, sleeps: list[float]) -> None:
        fake.route("GET", STK, httpx.Response(500), document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        assert sleeps == []

    def test_each_retry_is_logged_without_secrets(
        self, client: K2Client, fake: FakeK2, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake.route("GET", STK, httpx.Response(502), document("incoming_payment", PENDING))
        with caplog.at_level(logging.DEBUG):
            client.incoming_payments.get(STK)
        assert "retry 1 of 2" in caplog.text and "502" in caplog.text
        assert CLIENT_SECRET not in caplog.text and "token-1" not in caplog.text


class TestRetryDelay:
    def test_jitter_stays_within_half_to_full_step(self) -> None:
        delays = {retry_delay(3, backoff=0.5, retry_after=None) for _ in range(50)}
        assert all(1.0 <= delay <= 2.0 for delay in delays)
        assert len(delays) > 1

    def test_capped(self) -> None:
        assert retry_delay(30, backoff=1.0, retry_after=None) == MAX_RETRY_DELAY
        assert retry_delay(1, backoff=1.0, retry_after=3600) == MAX_RETRY_DELAY

    def test_zero_backoff_is_zero(self) -> None:
        assert retry_delay(5, backoff=0, retry_after=None) == 0


class TestTokenRetries:
    @pytest.mark.parametrize("status", [408, 429, 500, 503])
    def test_token_request_retries_on_transient_status(self, client: K2Client, fake: FakeK2, status: int) -> None:
        fake.token_replies = [
            httpx.Response(status),
            httpx.Response(200, json={"access_token": "t", "expires_in": 3600}),
        ]
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        assert len(fake.sent("POST", "/oauth/token")) == 2

    def test_token_request_retries_on_connection_error(self, client: K2Client, fake: FakeK2) -> None:
        fake.token_replies = [
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"access_token": "t", "expires_in": 60}),
        ]
        assert client.tokens.create().expires_in == 60


class TestMoneyPosts:
    def test_read_timeout_after_sending_is_outcome_unknown_with_what_was_sent(
        self, client: K2Client, fake: FakeK2
    ) -> None:
        fake.route("POST", PAYMENTS, httpx.ReadTimeout("no answer"))
        with pytest.raises(OutcomeUnknownError) as caught:
            pay(client)
        error = caught.value
        assert len(fake.sent("POST", PAYMENTS)) == 1
        assert error.method == "POST" and error.url == BASE_URL + PAYMENTS
        assert error.sent["metadata"] == {"batch": "b-7", "row": "3"}
        assert error.sent["amount"] == {"currency": "KES", "value": "250.00"}
        assert "Do not send it again" in str(error)
        assert isinstance(error.__cause__, httpx.ReadTimeout)

    @pytest.mark.parametrize(
        "failure",
        [httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset"), httpx.WriteTimeout("stuck")],
        ids=["dropped", "reset", "write-timeout"],
    )
    def test_broken_connection_after_sending_is_outcome_unknown(
        self, client: K2Client, fake: FakeK2, failure: Exception
    ) -> None:
        fake.route("POST", PAYMENTS, failure, created(PAYMENTS))
        with pytest.raises(OutcomeUnknownError):
            pay(client)
        assert len(fake.sent("POST", PAYMENTS)) == 1

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_status_errors_are_not_retried(self, client: K2Client, fake: FakeK2, status: int) -> None:
        fake.route("POST", PAYMENTS, httpx.Response(status), created(PAYMENTS))
        with pytest.raises((RateLimitError, InternalServerError)):
            pay(client)
        assert len(fake.sent("POST", PAYMENTS)) == 1

    def test_connect_error_means_nothing_was_sent_so_it_is_retried(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("POST", PAYMENTS, httpx.ConnectError("refused"), created(PAYMENTS, "p-9"))
        assert pay(client) == f"{BASE_URL}{PAYMENTS}/p-9"
        first, second = fake.sent("POST", PAYMENTS)
        assert sent_json(first) == sent_json(second)

    def test_connect_errors_to_the_end_raise_connection_error_not_unknown(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("POST", PAYMENTS, httpx.ConnectError("refused"))
        with pytest.raises(APIConnectionError) as caught:
            pay(client)
        assert not isinstance(caught.value, OutcomeUnknownError)
        assert len(fake.sent("POST", PAYMENTS)) == 3


class TestEveryMoneyPost:
    """What the merchant services rely on: our reference goes out on every money request, and an unanswered one
    is never sent twice but raised as OutcomeUnknownError (an APITimeoutError) that names the reference."""

    @pytest.mark.parametrize("name", MONEY_CREATES)
    def test_create_sends_metadata_and_returns_a_location_to_query(
        self, client: K2Client, fake: FakeK2, name: str
    ) -> None:
        path, call = MONEY_CREATES[name]
        fake.route("POST", path, created(path, "m-1"))
        assert call(client) == f"{BASE_URL}{path}/m-1"
        (request,) = fake.sent("POST", path)
        assert sent_json(request)["metadata"] == REF

    @pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")])
    @pytest.mark.parametrize("name", MONEY_CREATES)
    def test_unanswered_create_is_sent_once_and_outcome_unknown(
        self, client: K2Client, fake: FakeK2, name: str, failure: Exception
    ) -> None:
        path, call = MONEY_CREATES[name]
        fake.route("POST", path, failure, created(path))
        with pytest.raises(APITimeoutError) as caught:
            call(client)
        assert isinstance(caught.value, OutcomeUnknownError)
        assert caught.value.metadata == REF
        assert len(fake.sent("POST", path)) == 1


class TestTimeouts:
    def test_every_request_carries_the_client_timeout(self, fake: FakeK2) -> None:
        seen: list[dict[str, float | None]] = []

        def spy(request: httpx.Request) -> httpx.Response:
            seen.append(request.extensions["timeout"])
            return fake(request)

        fake.route("GET", STK, document("incoming_payment", PENDING))
        client = K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(spy), timeout=7.5)
        client.incoming_payments.get(STK)
        client.with_options(timeout=httpx.Timeout(2.0, connect=1.0)).incoming_payments.get(STK)
        assert seen[0] == seen[1] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}  # token, then GET
        assert seen[2] == {"connect": 1.0, "read": 2.0, "write": 2.0, "pool": 2.0}

"""The error tree: one class per status, K2's own words in the message, and never a secret."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest

from k2 import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidPayloadError,
    InvalidSignatureError,
    K2Client,
    K2Error,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ValidationError,
)

from .conftest import API_KEY, CLIENT_SECRET, FakeK2, Reply

STK = "/api/v1/incoming_payments"


def stk(client: K2Client) -> str:
    return client.incoming_payments.create(
        till_number="K000000", phone_number="0712345678", amount=Decimal("100"), callback_url="https://shop.test/cb"
    )


def answer(fake: FakeK2, response: Reply) -> None:
    fake.route("POST", STK, response)


class TestTree:
    @pytest.mark.parametrize(
        ("cls", "parent"),
        [
            (APIConnectionError, K2Error),
            (APITimeoutError, APIConnectionError),
            (OutcomeUnknownError, APITimeoutError),
            (APIStatusError, K2Error),
            (BadRequestError, APIStatusError),
            (AuthenticationError, APIStatusError),
            (PermissionDeniedError, APIStatusError),
            (NotFoundError, APIStatusError),
            (ValidationError, APIStatusError),
            (RateLimitError, APIStatusError),
            (InternalServerError, APIStatusError),
            (InvalidSignatureError, K2Error),
            (InvalidPayloadError, K2Error),
            (RequestValidationError, K2Error),
        ],
    )
    def test_one_tree_under_k2_error(self, cls: type, parent: type) -> None:
        assert cls.__mro__[1] is parent


class TestStatusMapping:
    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
            (422, ValidationError),
            (429, RateLimitError),
            (500, InternalServerError),
            (503, InternalServerError),
            (409, APIStatusError),
        ],
    )
    def test_status_maps_to_class_with_k2_error_fields(
        self, client: K2Client, fake: FakeK2, status: int, cls: type[APIStatusError]
    ) -> None:
        answer(fake, httpx.Response(status, json={"error_code": 1234, "error_message": "Something K2 said"}))
        with pytest.raises(cls) as caught:
            stk(client)
        error = caught.value
        assert type(error) is cls
        assert isinstance(error, K2Error)
        assert error.status_code == status
        assert error.error_code == "1234"
        assert error.error_message == "Something K2 said"
        assert error.body == {"error_code": 1234, "error_message": "Something K2 said"}
        assert f"K2 answered {status}: Something K2 said [1234]" in str(error)
        assert "POST https://k2.test/api/v1/incoming_payments" in str(error)

    def test_validation_error_names_the_field_from_the_message(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(422, json={"error_code": 422, "error_message": "phone_number is invalid"}))
        with pytest.raises(ValidationError) as caught:
            stk(client)
        assert caught.value.field == "phone_number"

    def test_validation_error_prefers_an_explicit_field_key(self, client: K2Client, fake: FakeK2) -> None:
        body = {"error_code": "invalid", "error_message": "Invalid value", "field": "subscriber.phone_number"}
        answer(fake, httpx.Response(422, json=body))
        with pytest.raises(ValidationError) as caught:
            stk(client)
        assert caught.value.field == "subscriber.phone_number"

    def test_validation_error_without_a_field_says_none(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(422, json={"error_code": 422, "error_message": "Request could not be processed"}))
        with pytest.raises(ValidationError) as caught:
            stk(client)
        assert caught.value.field is None

    def test_rate_limit_carries_retry_after_in_seconds(self, client: K2Client, fake: FakeK2) -> None:
        answer(
            fake, httpx.Response(429, headers={"Retry-After": "12"}, json={"error_code": 429, "error_message": "slow"})
        )
        with pytest.raises(RateLimitError) as caught:
            stk(client)
        assert caught.value.retry_after == 12.0
        assert "wait 12s" in str(caught.value)

    def test_rate_limit_reads_an_http_date(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
        with pytest.raises(RateLimitError) as caught:
            stk(client)
        assert caught.value.retry_after == 0.0  # a date in the past: go now

    def test_oauth_error_body_is_read(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(400, json={"error": "invalid_request", "error_description": "Missing grant"}))
        with pytest.raises(BadRequestError) as caught:
            stk(client)
        assert (caught.value.error_code, caught.value.error_message) == ("invalid_request", "Missing grant")

    def test_non_json_body_is_kept_as_text(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK + "/abc", httpx.Response(502, text="<html>Bad gateway</html>"))
        with pytest.raises(InternalServerError) as caught:
            client.with_options(max_retries=0).incoming_payments.get("abc")
        assert caught.value.body == "<html>Bad gateway</html>"
        assert caught.value.error_code is None
        assert "Bad gateway" in str(caught.value)

    def test_redirect_is_an_error_naming_the_base_url(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
        with pytest.raises(APIStatusError, match="K2_BASE_URL") as caught:
            stk(client)
        assert caught.value.status_code == 302


class TestOddSuccesses:
    def test_any_2xx_with_location_is_accepted(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(200, headers={"Location": "https://k2.test/api/v1/incoming_payments/x"}))
        assert stk(client) == "https://k2.test/api/v1/incoming_payments/x"

    def test_relative_location_is_made_absolute(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(201, headers={"Location": "/api/v1/incoming_payments/rel"}))
        assert stk(client) == "https://k2.test/api/v1/incoming_payments/rel"

    def test_missing_location_is_invalid_payload(self, client: K2Client, fake: FakeK2) -> None:
        answer(fake, httpx.Response(201))
        with pytest.raises(InvalidPayloadError, match="without a Location"):
            stk(client)

    def test_status_body_of_the_wrong_type_is_invalid_payload(self, client: K2Client, fake: FakeK2) -> None:
        body = {"data": {"id": "x", "type": "payment", "attributes": {"status": "Processed"}}}
        fake.route("GET", STK + "/x", httpx.Response(200, json=body))
        with pytest.raises(InvalidPayloadError, match="expected 'incoming_payment'"):
            client.incoming_payments.get("x")

    def test_status_body_that_is_not_json_is_invalid_payload(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK + "/x", httpx.Response(200, text="<html>"))
        with pytest.raises(InvalidPayloadError, match="not JSON"):
            client.incoming_payments.get("x")


class TestNoSecrets:
    def test_secrets_never_reach_messages_or_logs(
        self, client: K2Client, fake: FakeK2, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake.token_replies = [httpx.Response(401, json={"error": "invalid_client", "error_description": "bad"})]
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(AuthenticationError) as caught:
                stk(client)
        fake.token_replies = []
        answer(fake, httpx.ReadTimeout("gone"))
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(OutcomeUnknownError) as unknown:
                stk(client)
        for text in (
            str(caught.value),
            repr(caught.value),
            str(unknown.value),
            repr(unknown.value),
            caplog.text,
            repr(client),
            repr(unknown.value.sent),
        ):
            assert CLIENT_SECRET not in text
            assert API_KEY not in text
            assert "token-1" not in text

"""STK push: validation as K2 does it, Location, status documents, forced and rule-based outcomes, webhooks."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from .conftest import CALLBACK, HOOKS, Api, Inbox, stk_body


def balance(api: Api) -> Decimal:
    return Decimal(api.client.get("/sim/state").json()["balance"]["value"])


class TestCreate:
    @pytest.mark.parametrize("version", [1, 2])
    def test_create_returns_201_absolute_location_on_same_host(self, api: Api, version: int) -> None:
        response = api.post(f"/api/v{version}/incoming_payments", stk_body())
        assert response.status_code == 201 and response.content == b""
        assert response.headers["location"].startswith(f"http://testserver/api/v{version}/incoming_payments/")

    @pytest.mark.parametrize("phone", ["+254712345678", "254712345678", "0712345678", "0112345678", "+254112345678",
                                       "0712 345 678"])
    def test_create_accepts_kenyan_phone_formats(self, api: Api, phone: str) -> None:
        assert api.post("/api/v1/incoming_payments", stk_body(phone=phone)).status_code == 201

    @pytest.mark.parametrize("value", [20000, "20000", "10.50", 10.5])
    def test_create_accepts_amount_as_number_or_string(self, api: Api, value: Any) -> None:
        assert api.post("/api/v1/incoming_payments", stk_body(value=value)).status_code == 201

    @pytest.mark.parametrize("channel", ["M-PESA STK Push", "M-PESA", "MPESA", "m-pesa stk push", None])
    def test_create_accepts_payment_channel_variants(self, api: Api, channel: str | None) -> None:
        assert api.post("/api/v1/incoming_payments", stk_body(payment_channel=channel)).status_code == 201

    @pytest.mark.parametrize("till", ["K000000", "k123456", "514459"])
    def test_create_accepts_till_numbers(self, api: Api, till: str) -> None:
        assert api.post("/api/v1/incoming_payments", stk_body(till_number=till)).status_code == 201

    def test_create_accepts_null_metadata_and_missing_names(self, api: Api) -> None:
        body = stk_body(metadata=None, subscriber={"phone_number": "0712345678"})
        assert api.post("/api/v1/incoming_payments", body).status_code == 201

    @pytest.mark.parametrize(("change", "status", "field"), [
        ({"till_number": None}, 400, "till_number"),
        ({"subscriber": {"first_name": "Joe"}}, 400, "subscriber.phone_number"),
        ({"amount": None}, 400, "amount.value"),
        ({"_links": {}}, 400, "_links.callback_url"),
        ({"subscriber": {"phone_number": "12345"}}, 422, "subscriber.phone_number"),
        ({"amount": {"currency": "USD", "value": 10}}, 422, "amount.currency"),
        ({"amount": {"value": "ten"}}, 422, "amount.value"),
        ({"amount": {"value": -5}}, 422, "amount.value"),
        ({"amount": {"value": "1.234"}}, 422, "amount.value"),
        ({"till_number": "X1"}, 422, "till_number"),
        ({"payment_channel": "Card"}, 422, "payment_channel"),
        ({"_links": {"callback_url": "not a url"}}, 422, "_links.callback_url"),
        ({"metadata": {str(i): i for i in range(6)}}, 422, "metadata"),
        ({"metadata": "notes"}, 422, "metadata"),
    ])
    def test_create_rejects_bad_fields_naming_them(self, api: Api, change: dict[str, Any], status: int,
                                                   field: str) -> None:
        response = api.post("/api/v1/incoming_payments", stk_body(**change))
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error_code"] == status and body["error_message"].startswith(f"{field}:")

    def test_create_rejects_non_json_body(self, api: Api) -> None:
        response = api.client.post("/api/v1/incoming_payments", content=b"{oops", headers=api.headers)
        assert response.status_code == 400 and response.json()["error_message"] == "body: is not valid JSON"

    def test_create_rejects_json_that_is_not_an_object(self, api: Api) -> None:
        assert api.post("/api/v1/incoming_payments", [1, 2]).status_code == 400  # type: ignore[arg-type]


class TestShow:
    def test_show_pending_then_success(self, held: Api, inbox: Inbox) -> None:
        location = held.create("/api/v1/incoming_payments", stk_body(first_name="x"))
        pending = held.attributes(location)
        assert pending["status"] == "Pending" and pending["event"] == {
            "type": "Incoming Payment Request", "resource": None, "errors": None}
        assert pending["_links"] == {"callback_url": CALLBACK, "self": location}
        held.client.post(f"/sim/resources/{location.rsplit('/', 1)[1]}/resolve")
        held.drain()
        done = held.attributes(location)
        assert done["status"] == "Success" and done["event"]["resource"]["sender_phone_number"] == "+254712345678"
        assert inbox.bodies(CALLBACK) == [held.get(location)]

    def test_show_unknown_id_is_404(self, api: Api) -> None:
        response = api.client.get("/api/v1/incoming_payments/nope", headers=api.headers)
        assert response.status_code == 404 and response.json()["error_code"] == 404

    def test_show_with_wrong_kind_is_404(self, api: Api) -> None:
        location = api.create("/api/v1/incoming_payments", stk_body())
        assert api.client.get(location.replace("incoming_payments", "payments"), headers=api.headers).status_code == 404

    def test_unknown_route_is_k2_404(self, api: Api) -> None:
        response = api.client.post("/api/v1/transfers", json={}, headers=api.headers)
        assert response.status_code == 404 and response.json() == {"error_code": 404, "error_message": "Not found"}


class TestOutcomes:
    @pytest.mark.parametrize(("phone", "status", "errors"), [
        ("+254712345678", "Success", None),
        ("+254712345001", "Failed", "Request cancelled by user"),
        ("+254712345002", "Failed", "The balance is insufficient for the transaction."),
        ("+254712345004", "Failed", "The initiator information is invalid."),
        ("+254712345005", "Success", None),  # RECIPIENT_REJECTED is a payout rule, not an STK one
    ])
    def test_phone_suffix_rules(self, api: Api, inbox: Inbox, phone: str, status: str, errors: str | None) -> None:
        location = api.create("/api/v1/incoming_payments", stk_body(phone=phone))
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == status and attributes["event"]["errors"] == errors
        assert inbox.bodies(CALLBACK)[0]["data"]["attributes"]["status"] == status

    def test_timeout_fails_without_callback(self, api: Api, inbox: Inbox) -> None:
        location = api.create("/api/v1/incoming_payments", stk_body(phone="0712345003"))
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Failed"
        assert attributes["event"]["errors"] == "The subscriber did not respond to the payment request."
        assert inbox.requests == []

    def test_amount_over_mpesa_limit_fails(self, api: Api) -> None:
        location = api.create("/api/v1/incoming_payments", stk_body(value="250001"))
        api.drain()
        assert api.attributes(location)["event"]["errors"] == "The amount exceeds the M-PESA transaction limit."

    def test_forced_outcome_beats_rules_for_next_requests_only(self, api: Api) -> None:
        forced = api.client.post("/sim/outcomes", json={"kind": "incoming_payment", "outcome": "cancelled",
                                                        "count": 2})
        assert forced.json() == {"incoming_payment": ["CANCELLED", "CANCELLED"]}
        locations = [api.create("/api/v1/incoming_payments", stk_body()) for _ in range(3)]
        api.drain()
        assert [api.attributes(loc)["status"] for loc in locations] == ["Failed", "Failed", "Success"]

    def test_fail_rate_is_deterministic_with_seed(self, make_api: Callable[..., Api]) -> None:
        def statuses() -> list[str]:
            api = make_api(fail_rate=0.5, seed=7)
            locations = [api.create("/api/v1/incoming_payments", stk_body()) for _ in range(20)]
            api.drain()
            return [api.attributes(loc)["status"] for loc in locations]

        first = statuses()
        assert first == statuses() and {"Success", "Failed"} == set(first)

    def test_success_adds_to_balance(self, api: Api) -> None:
        before = balance(api)
        api.create("/api/v1/incoming_payments", stk_body(value="150.50"))
        api.drain()
        assert balance(api) == before + Decimal("150.50")

    def test_failure_leaves_balance(self, api: Api) -> None:
        before = balance(api)
        api.create("/api/v1/incoming_payments", stk_body(phone="0712345001"))
        api.drain()
        assert balance(api) == before


class TestWebhooks:
    def test_success_emits_buygoods_and_customer_created_once(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received", "till", "000000")
        api.subscribe("customer_created")
        for _ in range(2):
            api.create("/api/v1/incoming_payments", stk_body(phone="0799000111"))
            api.drain()
        assert inbox.topics() == ["incoming_payment", "buygoods_transaction_received", "customer_created",
                                  "incoming_payment", "buygoods_transaction_received"]
        callback, hook = inbox.bodies()[:2]
        received = hook["event"]["resource"]
        stk = callback["data"]["attributes"]["event"]["resource"]
        assert received["reference"] == stk["reference"] and received["amount"] == "100.0"
        assert received["sender_phone_number"] == "+254799000111" and len(received["hashed_sender_phone"]) == 64

    def test_failure_emits_no_webhook(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        api.create("/api/v1/incoming_payments", stk_body(phone="0712345001"))
        api.drain()
        assert inbox.topics() == ["incoming_payment"]

    def test_till_scope_only_matches_its_till(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received", "till", "K999999")
        api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert inbox.topics() == ["incoming_payment"]
        assert inbox.bodies(HOOKS) == []

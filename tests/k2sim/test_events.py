"""Webhook subscriptions, money-in receipts (b2b, m2m), reversals, polling, SMS notifications, payment links."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .conftest import CALLBACK, HOOKS, Api, Inbox

WINDOW = {"from_time": "2000-01-01T00:00:00+03:00", "to_time": "2100-01-01T00:00:00+03:00"}


def receive(api: Api, **body: Any) -> dict[str, Any]:
    response = api.client.post("/sim/transactions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


class TestSubscriptions:
    def test_v1_subscription_uses_url_and_shows_webhook_uri(self, api: Api) -> None:
        location = api.subscribe("buygoods_transaction_received", "till", "000000")
        doc = api.get(location)
        assert doc["data"]["type"] == "webhook_subscription"
        assert doc["data"]["attributes"] == {"event_type": "buygoods_transaction_received", "webhook_uri": HOOKS,
                                             "status": "Active", "scope": "till", "scope_reference": "000000"}

    def test_scope_is_case_insensitive_and_company_drops_reference(self, api: Api) -> None:
        location = api.subscribe("customer_created", "Company", "ignored")
        attributes = api.attributes(location)
        assert attributes["scope"] == "company" and attributes["scope_reference"] is None

    @pytest.mark.parametrize(("body", "status", "field"), [
        ({"event_type": "buygoods_transaction_received", "url": HOOKS, "scope": "till"}, 400, "scope_reference"),
        ({"event_type": "customer_created", "url": HOOKS, "scope": "till", "scope_reference": "1"}, 422, "scope"),
        ({"event_type": "payment_received", "url": HOOKS, "scope": "company"}, 422, "event_type"),
        ({"event_type": "customer_created", "scope": "company"}, 400, "url"),
        ({"event_type": "customer_created", "url": "ftp://x", "scope": "company"}, 422, "url"),
        ({"event_type": "customer_created", "url": HOOKS, "scope": "world"}, 422, "scope"),
    ])
    def test_create_rejects_bad_fields(self, api: Api, body: dict[str, Any], status: int, field: str) -> None:
        response = api.post("/api/v1/webhook_subscriptions", body)
        assert response.status_code == status and response.json()["error_message"].startswith(f"{field}:")

    def test_v2_daraja_only_for_received_events(self, api: Api) -> None:
        response = api.post("/api/v2/webhook_subscriptions", {
            "event_type": "customer_created", "url": HOOKS, "scope": "company", "enable_daraja_payload": True})
        assert response.status_code == 422 and "enable_daraja_payload" in response.json()["error_message"]
        location = api.subscribe("b2b_transaction_received", version=2, enable_daraja_payload=True)
        assert api.attributes(location)["enable_daraja_payload"] is True


class TestReceipts:
    def test_b2b_and_m2m_receipts_reach_their_subscribers(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("b2b_transaction_received", "till", "K000000")
        api.subscribe("m2m_transaction_received")
        b2b = receive(api, type="b2b", amount="313", sending_till="890642")
        receive(api, type="m2m", amount="456", sending_merchant="Jane Flowers")
        api.drain()
        first, second = inbox.bodies(HOOKS)
        assert first["topic"] == "b2b_transaction_received" and first["event"]["resource"]["sending_till"] == "890642"
        assert first["event"]["resource"]["reference"] == b2b["reference"]
        assert second["event"]["resource"]["sending_merchant"] == "Jane Flowers"
        assert second["_links"]["resource"].endswith(f"/payment_batches/{second['event']['resource']['id']}")

    def test_every_matching_subscription_gets_the_event(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        api.subscribe("buygoods_transaction_received", "till", "K000000")
        api.subscribe("b2b_transaction_received")
        receive(api, type="buygoods")
        api.drain()
        bodies = inbox.bodies(HOOKS)
        assert len(bodies) == 2 and bodies[0] == bodies[1]

    def test_rejects_unknown_type(self, api: Api) -> None:
        response = api.client.post("/sim/transactions", json={"type": "card"})
        assert response.status_code == 422 and response.json()["error_message"].startswith("type:")


class TestReversals:
    def test_reversal_processes_and_emits_reversed(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_reversed")
        receipt = receive(api, type="buygoods", amount="233")
        before = Decimal(api.client.get("/sim/state").json()["balance"]["value"])
        location = api.create("/api/v2/reversals", {"transaction_reference": receipt["reference"],
                                                    "reason": "mistake", "metadata": {"notes": "n"},
                                                    "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Processed"
        assert attributes["reversal_bulk_payment"]["amount"] == "233.0"
        assert inbox.topics() == ["reversal", "buygoods_transaction_reversed"]
        assert Decimal(api.client.get("/sim/state").json()["balance"]["value"]) == before - 233

    def test_b2b_reversal_emits_b2b_reversed(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("b2b_transaction_reversed")
        receipt = receive(api, type="b2b")
        api.create("/api/v2/reversals", {"transaction_reference": receipt["reference"],
                                         "_links": {"callback_url": CALLBACK}})
        api.drain()
        hook = inbox.bodies(HOOKS)[0]
        assert hook["event"]["type"] == "External Till To Till Reversal Transaction"

    def test_cannot_reverse_twice_or_unknown_or_m2m(self, api: Api) -> None:
        receipt = receive(api, type="buygoods")
        body = {"transaction_reference": receipt["reference"], "_links": {"callback_url": CALLBACK}}
        api.create("/api/v2/reversals", body)
        for reference in (receipt["reference"], "NOPE", receive(api, type="m2m")["reference"]):
            response = api.post("/api/v2/reversals", {**body, "transaction_reference": reference})
            assert response.status_code == 422, reference


class TestPolling:
    def test_polling_returns_receipts_in_window_and_scope(self, api: Api, inbox: Inbox) -> None:
        api.client.post("/sim/traffic", json={"count": 40, "from_time": "2024-03-01T00:00:00+03:00",
                                              "to_time": "2024-03-08T00:00:00+03:00"})
        company = api.create("/api/v1/polling", {"scope": "company", "scope_reference": "",
                                                 "from_time": "2024-03-02T00:00:00+03:00",
                                                 "to_time": "2024-03-05T00:00:00+03:00",
                                                 "_links": {"callback_url": CALLBACK}})
        till = api.create("/api/v2/polling", {"scope": "till", "scope_reference": "K000000", **WINDOW,
                                              "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(company)
        times = [t["resource"]["origination_time"] for t in attributes["transactions"]]
        assert attributes["status"] == "Success" and attributes["scope"] == "Company"
        assert times and times == sorted(times) and all("2024-03-02" <= t < "2024-03-05" for t in times)
        till_types = {t["type"] for t in api.attributes(till)["transactions"]}
        assert "Merchant to Merchant Transaction" not in till_types and "Buygoods Transaction" in till_types
        assert api.attributes(till)["scope"] == "Till" and len(api.attributes(till)["transactions"]) < 40 + 1

    def test_polling_over_the_traffic_range_returns_the_generated_history(self, api: Api, inbox: Inbox) -> None:
        for topic in ("buygoods_transaction_received", "buygoods_transaction_reversed", "b2b_transaction_received",
                      "m2m_transaction_received"):
            api.subscribe(topic)
        window = {"from_time": "2024-03-01T00:00:00+03:00", "to_time": "2024-03-31T00:00:00+03:00"}
        made = api.client.post("/sim/traffic", json={"count": 400, **window}).json()
        api.drain()
        hooks = inbox.bodies(HOOKS)

        def references(topic: str, key: str = "reference") -> set[str]:
            return {hook["event"]["resource"][key] for hook in hooks if hook["topic"] == topic}

        location = api.create("/api/v1/polling", {"scope": "company", **window, "_links": {"callback_url": CALLBACK}})
        api.drain()
        polled = api.attributes(location)["transactions"]
        assert len(polled) == made["generated"] == 400
        buygoods = {t["resource"]["reference"]: t["resource"] for t in polled if t["type"] == "Buygoods Transaction"}
        assert set(buygoods) == references("buygoods_transaction_received")
        assert len(buygoods) == made["by_kind"]["buygoods"]
        assert {ref for ref, r in buygoods.items() if r["status"] == "Reversed"} == references(
            "buygoods_transaction_reversed") and made["reversals"] >= 1
        others = {t["resource"]["id"] for t in polled if t["type"] != "Buygoods Transaction"}  # m2m has no reference
        assert others == references("b2b_transaction_received", "id") | references("m2m_transaction_received", "id")
        hook = next(h["event"]["resource"] for h in hooks if h["topic"] == "buygoods_transaction_received")
        assert buygoods[hook["reference"]]["origination_time"] == hook["origination_time"]
        assert buygoods[hook["reference"]]["sender_phone_number"] == hook["sender_phone_number"]

    def test_polled_reversed_transaction_shows_reversed(self, api: Api) -> None:
        receipt = receive(api, type="buygoods")
        api.create("/api/v2/reversals", {"transaction_reference": receipt["reference"],
                                         "_links": {"callback_url": CALLBACK}})
        api.drain()
        location = api.create("/api/v1/polling", {"scope": "company", **WINDOW, "_links": {"callback_url": CALLBACK}})
        api.drain()
        assert [t["resource"]["status"] for t in api.attributes(location)["transactions"]] == ["Reversed"]

    @pytest.mark.parametrize(("change", "field"), [
        ({"from_time": "yesterday"}, "from_time"),
        ({"to_time": "1999-01-01T00:00:00+03:00"}, "to_time"),
        ({"from_time": "2021-04-12T08:50:22"}, "from_time"),
    ])
    def test_rejects_bad_times(self, api: Api, change: dict[str, str], field: str) -> None:
        response = api.post("/api/v1/polling", {"scope": "company", **WINDOW, **change,
                                                "_links": {"callback_url": CALLBACK}})
        assert response.status_code == 422 and response.json()["error_message"].startswith(f"{field}:")


class TestSmsNotifications:
    def test_needs_a_known_buygoods_event(self, api: Api, inbox: Inbox) -> None:
        response = api.post("/api/v1/transaction_sms_notifications", {
            "webhook_event_reference": "nope", "message": "hi", "_links": {"callback_url": CALLBACK}})
        assert response.status_code == 422
        api.subscribe("buygoods_transaction_received")
        receive(api, type="buygoods")
        api.drain()
        location = api.create("/api/v1/transaction_sms_notifications", {
            "webhook_event_reference": inbox.bodies(HOOKS)[0]["id"], "message": "Thanks!",
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        assert api.attributes(location)["status"] == "Success"
        assert api.attributes(location)["message"] == "Thanks!"


class TestPaymentLinks:
    def link(self, api: Api) -> str:
        return api.create("/api/v2/payment_links", {"till_number": "K000000", "amount": "1000", "currency": "KES",
                                                    "payment_reference": "INV-1", "note": "n",
                                                    "_links": {"callback_url": CALLBACK}})

    def test_link_becomes_active_then_paid(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        location = self.link(api)
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Processed" and attributes["payment_link"]["payment_link_status"] == "Active"
        assert attributes["till_name"] == "K2 Sim Till" and attributes["amount"] == 1000
        paid = api.client.post(f"/sim/payment_links/{location.rsplit('/', 1)[1]}/pay",
                               json={"phone_number": "0712345678"})
        api.drain()
        link = paid.json()["data"]["attributes"]["payment_link"]
        assert link["payment_link_status"] == "Paid" and link["sender_phone_number"] == "+254712345678"
        assert inbox.topics() == ["payment_link", "payment_link", "buygoods_transaction_received"]
        assert inbox.bodies(HOOKS)[0]["event"]["resource"]["reference"] == link["transaction_reference"]

    def test_cancel_active_link_once(self, api: Api) -> None:
        location = self.link(api)
        api.drain()
        cancel = f"{location}/cancel"
        first = api.client.post(cancel, headers=api.headers)
        assert first.json() == {"message": "Payment link cancelled successfully"}
        assert api.attributes(location)["payment_link"]["payment_link_status"] == "Cancelled"
        assert api.client.post(cancel, headers=api.headers).status_code == 409

    def test_cancel_needs_token(self, api: Api) -> None:
        assert api.client.post(f"{self.link(api)}/cancel").status_code == 401

"""/sim/ control routes: request and delivery logs, forcing, resolving, faults, traffic, reset."""
from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from k2sim import sign

from .conftest import API_KEY, CALLBACK, HOOKS, Api, Inbox, stk_body


def rid(location: str) -> str:
    return location.rsplit("/", 1)[1]


class TestRequestLog:
    def test_lists_every_api_request_with_state(self, held: Api) -> None:
        location = held.create("/api/v1/incoming_payments", stk_body())
        held.client.get(location, headers=held.headers)
        held.post("/api/v1/incoming_payments", stk_body(till_number=None))
        log = held.client.get("/sim/requests").json()
        assert [(r["method"], r["path"], r["status"]) for r in log] == [
            ("POST", "/oauth/token", 200), ("POST", "/api/v1/incoming_payments", 201),
            ("GET", f"/api/v1/incoming_payments/{rid(location)}", 200), ("POST", "/api/v1/incoming_payments", 400)]
        assert log[0]["body"]["client_secret"] == "[redacted]"
        assert log[1]["resource_id"] == rid(location) and log[1]["state"] == "Pending"
        assert log[1]["body"]["subscriber"]["phone_number"] == "+254712345678"
        held.client.post(f"/sim/resources/{rid(location)}/resolve", json={"outcome": "CANCELLED"})
        assert held.client.get("/sim/requests?path=/api/").json()[0]["state"] == "Failed"

    def test_filters(self, api: Api) -> None:
        location = api.create("/api/v1/incoming_payments", stk_body())
        api.create("/api/v1/incoming_payments", stk_body())
        assert len(api.client.get(f"/sim/requests?resource_id={rid(location)}").json()) == 1
        assert [r["seq"] for r in api.client.get("/sim/requests?since=2").json()] == [3]


class TestDeliveryLog:
    def test_lists_callbacks_and_webhooks_with_attempts(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        location = api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        sent = api.client.get("/sim/deliveries").json()
        assert [(d["kind"], d["topic"], d["state"]) for d in sent] == [
            ("callback", "incoming_payment", "delivered"), ("webhook", "buygoods_transaction_received", "delivered")]
        assert sent[0]["resource_id"] == rid(location) and sent[0]["url"] == CALLBACK
        assert sent[0]["attempts"][0]["status_code"] == 200 and sent[0]["body"] == inbox.bodies()[0]
        assert sent[0]["signature"] == inbox.requests[0].headers["x-kopokopo-signature"]
        assert len(api.client.get("/sim/deliveries?topic=incoming_payment").json()) == 1


class TestResolve:
    def test_resolve_with_outcome_then_409(self, held: Api, inbox: Inbox) -> None:
        location = held.create("/api/v1/incoming_payments", stk_body())
        first = held.client.post(f"/sim/resources/{rid(location)}/resolve", json={"outcome": "insufficient_funds"})
        assert first.json() == {"id": rid(location), "state": "Failed"}
        again = held.client.post(f"/sim/resources/{rid(location)}/resolve", json={"outcome": "SUCCESS"})
        assert again.status_code == 409 and again.json()["error_code"] == 409
        held.drain()
        assert held.attributes(location)["event"]["errors"] == "The balance is insufficient for the transaction."
        assert len(inbox.bodies(CALLBACK)) == 1

    def test_scheduled_resolution_after_forced_one_is_a_no_op(self, make_api: Callable[..., Api],
                                                              inbox: Inbox) -> None:
        api = make_api(callback_delay_s=0.05)
        location = api.create("/api/v1/incoming_payments", stk_body())
        api.client.post(f"/sim/resources/{rid(location)}/resolve", json={"outcome": "CANCELLED"})
        api.drain()
        assert api.attributes(location)["status"] == "Failed" and len(inbox.requests) == 1

    @pytest.mark.parametrize(("body", "status"), [
        ({"outcome": "RECIPIENT_REJECTED"}, 422), ({"outcome": "LATE"}, 422)])
    def test_resolve_rejects_outcomes_that_do_not_apply(self, held: Api, body: dict[str, str], status: int) -> None:
        location = held.create("/api/v1/incoming_payments", stk_body())
        assert held.client.post(f"/sim/resources/{rid(location)}/resolve", json=body).status_code == status

    def test_resolve_unknown_is_404(self, api: Api) -> None:
        assert api.client.post("/sim/resources/nope/resolve").status_code == 404

    @pytest.mark.parametrize(("body", "field"), [
        ({"kind": "polling", "outcome": "SUCCESS"}, "kind"),
        ({"kind": "payment", "outcome": "CANCELLED"}, "outcome"),
        ({"kind": "payment", "outcome": "SUCCESS", "count": 0}, "count"),
    ])
    def test_force_rejects_what_does_not_apply(self, api: Api, body: dict[str, object], field: str) -> None:
        response = api.client.post("/sim/outcomes", json=body)
        assert response.status_code == 422 and response.json()["error_message"].startswith(f"{field}:")


class TestRequestFaults:
    @pytest.mark.parametrize("status", [500, 503, 429])
    def test_error_fault_answers_status_and_processes_nothing(self, api: Api, status: int) -> None:
        fault = api.client.post("/sim/faults", json={"type": "error", "status": status, "count": 1,
                                                     "path": "/api/v1/incoming_payments"})
        assert fault.status_code == 201
        response = api.post("/api/v1/incoming_payments", stk_body())
        assert response.status_code == status and response.json()["error_code"] == status
        assert (response.headers.get("retry-after") == "1") == (status == 429)
        assert api.client.get("/sim/state").json()["resources"] == {"merchant_bank_account": 1}
        assert api.post("/api/v1/incoming_payments", stk_body()).status_code == 201
        assert api.client.get("/sim/faults").json() == []

    def test_fault_path_prefix_leaves_other_routes_alone(self, api: Api) -> None:
        api.client.post("/sim/faults", json={"type": "error", "count": None, "path": "/api/v2/"})
        assert api.post("/api/v1/incoming_payments", stk_body()).status_code == 201
        assert api.post("/api/v2/incoming_payments", stk_body()).status_code == 500
        assert api.post("/api/v2/incoming_payments", stk_body()).status_code == 500
        assert api.client.delete("/sim/faults").json() == []
        assert api.post("/api/v2/incoming_payments", stk_body()).status_code == 201

    def test_latency_fault_delays_the_answer(self, api: Api) -> None:
        api.client.post("/sim/faults", json={"type": "latency", "ms": 40})
        started = time.perf_counter()
        assert api.post("/api/v1/incoming_payments", stk_body()).status_code == 201
        assert time.perf_counter() - started >= 0.04

    def test_configured_latency_delays_every_k2_answer(self, make_api: Callable[..., Api]) -> None:
        api = make_api(latency_ms=30)
        started = time.perf_counter()
        assert api.client.get("/api/v1/incoming_payments/x", headers=api.headers).status_code == 404
        assert time.perf_counter() - started >= 0.03

    def test_timeout_fault_processes_then_answers_late(self, held: Api) -> None:
        held.client.post("/sim/faults", json={"type": "timeout", "seconds": 0.2})
        started = time.perf_counter()
        response = held.post("/api/v1/incoming_payments", stk_body())
        assert response.status_code == 201 and time.perf_counter() - started >= 0.2
        record = held.client.get("/sim/requests").json()[-1]
        assert record["resource_id"] == rid(response.headers["location"]) and record["state"] == "Pending"

    @pytest.mark.parametrize(("spec", "field"), [
        ({"type": "meteor"}, "type"), ({"type": "error", "status": 404}, "status"),
        ({"type": "drop", "count": -1}, "count"), ({"type": "drop", "count": 1.5}, "count"),
        ({"type": "latency", "ms": "soon"}, "ms"), ({"type": "timeout", "seconds": -1}, "seconds"),
        ({"type": "timeout", "seconds": True}, "seconds"), ({"type": "error", "path": "api/v1"}, "path"),
        ({"type": "duplicate", "path": "/api/v1/"}, "path"),
    ])
    def test_bad_fault_specs_are_422(self, api: Api, spec: dict[str, object], field: str) -> None:
        response = api.client.post("/sim/faults", json=spec)
        assert response.status_code == 422 and response.json()["error_message"].startswith(f"{field}:")
        assert api.client.get("/sim/faults").json() == []

    @pytest.mark.parametrize(("method", "path", "field"), [("GET", "/sim/requests?since=x", "since"),
                                                           ("POST", "/sim/drain?timeout=soon", "timeout")])
    def test_bad_query_numbers_are_422(self, api: Api, method: str, path: str, field: str) -> None:
        response = api.client.request(method, path)
        assert response.status_code == 422 and response.json()["error_message"].startswith(f"{field}:")


class TestDeliveryFaults:
    def test_drop_is_never_delivered(self, make_api: Callable[..., Api], inbox: Inbox) -> None:
        api = make_api(delivery_max_attempts=3)
        api.client.post("/sim/faults", json={"type": "drop"})
        dropped = api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert inbox.requests == []
        kept = api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert [body["data"]["id"] for body in inbox.bodies()] == [rid(kept)]  # not retried, not released later
        log = api.client.get("/sim/deliveries").json()
        assert [(d["resource_id"], d["state"], d["fault"], d["attempts"]) for d in log] == [
            (rid(dropped), "dropped", "drop", []), (rid(kept), "delivered", None, log[1]["attempts"])]
        assert api.attributes(dropped)["status"] == "Success"  # the outcome happened; only its news was lost

    def test_duplicate_sends_the_same_bytes_and_signature_twice(self, api: Api, inbox: Inbox) -> None:
        api.client.post("/sim/faults", json={"type": "duplicate"})
        api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        first, second = inbox.requests
        assert first.content == second.content
        assert first.headers["x-kopokopo-signature"] == second.headers["x-kopokopo-signature"] == sign(
            first.content, API_KEY)
        log = api.client.get("/sim/deliveries").json()
        assert [(d["state"], d["fault"]) for d in log] == [("delivered", "duplicate")] * 2
        assert log[0]["id"] != log[1]["id"] and log[0]["signature"] == log[1]["signature"]

    def test_out_of_order_is_sent_after_the_next_delivery(self, api: Api, inbox: Inbox) -> None:
        api.client.post("/sim/faults", json={"type": "out_of_order"})
        first = api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert inbox.requests == []
        assert api.client.get("/sim/deliveries").json()[0]["state"] == "held"
        second = api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert [body["data"]["id"] for body in inbox.bodies()] == [rid(second), rid(first)]
        assert [d["state"] for d in api.client.get("/sim/deliveries").json()] == ["delivered", "delivered"]

    def test_out_of_order_webhook_arrives_after_a_later_event(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        api.subscribe("buygoods_transaction_reversed")
        api.client.post("/sim/faults", json={"type": "out_of_order"})
        receipt = api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "70"}).json()
        api.create("/api/v2/reversals", {"transaction_reference": receipt["reference"],
                                         "_links": {"callback_url": CALLBACK}})
        api.drain()
        topics = inbox.topics()
        assert sorted(topics) == ["buygoods_transaction_received", "buygoods_transaction_reversed", "reversal"]
        assert topics.index("buygoods_transaction_reversed") < topics.index("buygoods_transaction_received")

    def test_a_dropped_follower_still_releases_a_held_delivery(self, api: Api, inbox: Inbox) -> None:
        api.client.post("/sim/faults", json={"type": "out_of_order"})
        api.client.post("/sim/faults", json={"type": "drop"})
        held = api.create("/api/v1/incoming_payments", stk_body())
        api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        assert [body["data"]["id"] for body in inbox.bodies()] == [rid(held)]
        assert [d["state"] for d in api.client.get("/sim/deliveries").json()] == ["delivered", "dropped"]


class TestTrafficAndReset:
    def test_traffic_generates_history_and_webhooks(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        api.subscribe("buygoods_transaction_reversed")
        before = Decimal(api.client.get("/sim/state").json()["balance"]["value"])
        made = api.client.post("/sim/traffic", json={"count": 300}).json()
        api.drain()
        assert made["generated"] == 300 and set(made["by_kind"]) == {"buygoods", "b2b", "m2m"}
        assert made["by_kind"]["buygoods"] > 200 and made["reversals"] >= 1
        topics = [body["topic"] for body in inbox.bodies(HOOKS)]
        assert topics.count("buygoods_transaction_received") == made["by_kind"]["buygoods"]
        assert topics.count("buygoods_transaction_reversed") == made["reversals"]
        state = api.client.get("/sim/state").json()
        assert state["receipts"] == 300 and Decimal(state["balance"]["value"]) > before

    def test_traffic_without_webhooks_is_only_listed_by_polling(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("buygoods_transaction_received")
        window = {"from_time": "2024-03-01T00:00:00+03:00", "to_time": "2024-03-08T00:00:00+03:00"}
        made = api.client.post("/sim/traffic", json={"count": 25, **window, "webhooks": False}).json()
        polled = api.create("/api/v1/polling", {"scope": "company", "scope_reference": "", **window,
                                                "_links": {"callback_url": CALLBACK}})
        api.drain()
        assert made["generated"] == 25 and inbox.bodies(HOOKS) == []
        assert len(api.attributes(polled)["transactions"]) == 25
        assert api.client.post("/sim/traffic", json={"count": 1, "webhooks": "no"}).status_code == 422

    @pytest.mark.parametrize("body", [{"count": 0}, {"count": "ten"}, {"count": 5, "from_time": "2030-01-01T00:00:00Z",
                                                                      "to_time": "2020-01-01T00:00:00Z"}])
    def test_traffic_rejects_bad_requests(self, api: Api, body: dict[str, object]) -> None:
        assert api.client.post("/sim/traffic", json=body).status_code == 422

    def test_reset_forgets_everything_but_tokens(self, make_api: Callable[..., Api], inbox: Inbox) -> None:
        api = make_api(balance=Decimal("50"), callback_delay_s=3600)
        location = api.create("/api/v1/incoming_payments", stk_body())
        api.client.post("/sim/faults", json={"type": "drop"})
        api.client.post("/sim/outcomes", json={"kind": "payment", "outcome": "TIMEOUT"})
        state = api.client.post("/sim/reset").json()
        assert state["balance"]["value"] == "50.0" and state["resources"] == {"merchant_bank_account": 1}
        assert state["forced"] == {} and api.client.get("/sim/faults").json() == []
        assert api.client.get("/sim/requests").json() == []
        assert api.client.get(location, headers=api.headers).status_code == 404
        assert api.post("/api/v1/incoming_payments", stk_body()).status_code == 201

    def test_ping_and_state(self, api: Api) -> None:
        assert api.client.get("/sim/ping").json() == {}
        state = api.client.get("/sim/state").json()
        assert state["base_url"] == "http://testserver" and state["till_number"] == "K000000"
        assert state["balance"] == {"currency": "KES", "value": "10000000.0"}


def test_unreachable_callback_is_retried_then_failed(make_api: Callable[..., Api], inbox: Inbox) -> None:
    api = make_api(delivery_max_attempts=3)
    inbox.script = [ConnectionRefusedError("refused"), 503, 500]
    api.create("/api/v1/incoming_payments", stk_body())
    api.drain()
    delivery = api.client.get("/sim/deliveries").json()[0]
    assert delivery["state"] == "failed"
    assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [
        (None, "ConnectionRefusedError"), (503, None), (500, None)]

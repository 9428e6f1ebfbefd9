"""Every document k2sim sends or serves has the keys of Kopo Kopo's own fixture, in the same order."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from k2sim.payloads import dumps, iso_ms, iso_s, money_number, money_text

from .conftest import CALLBACK, HOOKS, Api, Inbox, stk_body


def skeleton(value: Any) -> Any:
    """Key order all the way down (lists by their first item); leaves become their JSON kind."""
    if isinstance(value, dict):
        return [(key, skeleton(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return "leaf"


def fixture(shared: Path, name: str, key: str | None = None) -> Any:
    folder = "webhooks" if (shared / "webhooks" / name).exists() else "responses"
    doc = json.loads((shared / folder / name).read_text())
    return doc[key] if key else doc


PAY_METADATA = {"notes": "Salary payment for May 2018", "customerId": "8675309", "something_else": "Something else"}


def test_money_and_time_formats() -> None:
    from datetime import datetime, timezone
    from decimal import Decimal

    assert [money_text(Decimal(v)) for v in ("100", "100.50", "0.5", "49452")] == ["100.0", "100.5", "0.5", "49452.0"]
    assert money_number(Decimal("780")) == 780 and money_number(Decimal("10.50")) == "10.5"
    moment = datetime(2020, 10, 19, 6, 24, 48, 622000, tzinfo=timezone.utc)
    assert iso_ms(moment) == "2020-10-19T09:24:48.622+03:00"
    assert iso_s(moment) == "2020-10-19T09:24:48+03:00"


def test_dumps_reproduces_the_fixture_bytes_exactly(shared_fixtures: Path) -> None:
    for path in sorted((shared_fixtures / "webhooks").glob("*.json")):
        if path.name == "signatures.json":
            continue
        raw = path.read_bytes()
        assert dumps(json.loads(raw)) == raw, path.name


class TestResultCallbacks:
    def test_stk_success_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.create("/api/v1/incoming_payments", stk_body())
        api.drain()
        sent = inbox.bodies(CALLBACK)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "stksuccessresult.json"))
        resource = sent["data"]["attributes"]["event"]["resource"]
        assert resource["amount"] == "100.0" and resource["status"] == "Received"

    def test_stk_failure_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.create("/api/v1/incoming_payments", stk_body(phone="+254712345004"))
        api.drain()
        sent = inbox.bodies(CALLBACK)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "stkunsuccessfulresult.json"))
        assert sent["data"]["attributes"]["event"]["errors"] == "The initiator information is invalid."

    def test_stk_pending_matches_fixture(self, held: Api, shared_fixtures: Path) -> None:
        location = held.create("/api/v1/incoming_payments", stk_body())
        assert skeleton(held.get(location)) == skeleton(fixture(shared_fixtures, "stk.json", "statusPending"))

    def test_payment_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        recipient = api.create("/api/v1/pay_recipients", {"type": "mobile_wallet", "pay_recipient": {
            "first_name": "Jane", "last_name": "Doe", "phone_number": "+254712345678", "network": "Safaricom",
            "email": "jane@mail.net"}})
        api.create("/api/v1/payments", {
            "destination_type": "mobile_wallet", "destination_reference": recipient.rsplit("/", 1)[1],
            "amount": {"currency": "KES", "value": 780}, "description": "Salary", "metadata": PAY_METADATA,
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        sent = inbox.bodies(CALLBACK)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "payresult.json"))
        assert sent == {**sent, "data": {**sent["data"], "type": "payment"}}
        assert sent["data"]["attributes"]["amount"] == {"currency": "KES", "value": 780}

    def test_settlement_transfer_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.create("/api/v1/settlement_transfers", {
            "amount": {"currency": None, "value": None}, "destination_type": None, "destination_reference": None,
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        sent = inbox.bodies(CALLBACK)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "transferresult.json"))
        assert sent["data"]["attributes"]["amount"] == {"currency": "KES", "value": None}

    def test_polling_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "1"})
        api.create("/api/v1/polling", {"scope": "company", "scope_reference": "", "from_time": "2000-01-01T00:00:00+03:00",
                                       "to_time": "2100-01-01T00:00:00+03:00", "_links": {"callback_url": CALLBACK}})
        api.drain()
        assert skeleton(inbox.bodies(CALLBACK)[0]) == skeleton(fixture(shared_fixtures, "php_pollingStatus.json"))

    def test_sms_notification_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.subscribe("buygoods_transaction_received")
        api.client.post("/sim/transactions", json={"type": "buygoods"})
        api.drain()
        event_id = inbox.bodies(HOOKS)[0]["id"]
        api.create("/api/v1/transaction_sms_notifications", {
            "webhook_event_reference": event_id, "message": "Thanks", "_links": {"callback_url": CALLBACK}})
        api.drain()
        expected = fixture(shared_fixtures, "php_transactionSmsNotificationStatus.json")
        assert skeleton(inbox.bodies(CALLBACK)[0]) == skeleton(expected)

    def test_v2_documents_match_fixtures(self, held: Api, shared_fixtures: Path) -> None:
        held.client.post("/sim/transactions", json={"type": "buygoods", "amount": "50"})
        reference = held.client.get("/sim/deliveries").json()  # no subscribers: nothing sent
        assert reference == []
        receipt = held.client.post("/sim/transactions", json={"type": "buygoods", "amount": "70"}).json()
        reversal = held.create("/api/v2/reversals", {
            "transaction_reference": receipt["reference"], "reason": "Testing reversals",
            "metadata": {"notes": "n", "customId": "c"}, "_links": {"callback_url": CALLBACK}})
        assert skeleton(held.get(reversal)) == skeleton(fixture(shared_fixtures, "reversals.json", "status"))
        sweep = held.create("/api/v2/send_money", {"currency": "KES", "metadata": {"notes": "n"},
                                                   "_links": {"callback_url": CALLBACK}})
        assert skeleton(held.get(sweep)) == skeleton(fixture(shared_fixtures, "send_money.json", "status"))
        link = held.create("/api/v2/payment_links", {
            "till_number": "K000000", "currency": "KES", "amount": 1000, "payment_reference": "INV-1001",
            "note": "Order", "metadata": {"notes": "n", "customId": "c"}, "_links": {"callback_url": CALLBACK}})
        assert held.client.post(f"/sim/resources/{link.rsplit('/', 1)[1]}/resolve").status_code == 200
        assert skeleton(held.get(link)) == skeleton(fixture(shared_fixtures, "payment_links.json", "show"))


class TestWebhooks:
    @pytest.mark.parametrize(("kind", "topic", "name"), [
        ("buygoods", "buygoods_transaction_received", "buygoodsreceivedhook.json"),
        ("b2b", "b2b_transaction_received", "b2breceived.json"),
        ("m2m", "m2m_transaction_received", "m2mreceived.json"),
    ])
    def test_received_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path,
                                      kind: str, topic: str, name: str) -> None:
        api.subscribe(topic)
        api.client.post("/sim/transactions", json={"type": kind, "amount": "313"})
        api.drain()
        assert skeleton(inbox.bodies(HOOKS)[0]) == skeleton(fixture(shared_fixtures, name))

    def test_customer_created_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.subscribe("customer_created")
        api.client.post("/sim/transactions", json={"type": "buygoods", "phone_number": "0712000111"})
        api.drain()
        sent = inbox.bodies(HOOKS)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "customercreatedhook.json"))
        assert sent["event"]["resource"]["phone_number"] == "+254712000111"

    def test_reversed_matches_fixture_plus_reversal_time(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.subscribe("buygoods_transaction_reversed")
        receipt = api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "233"}).json()
        api.create("/api/v2/reversals", {"transaction_reference": receipt["reference"], "reason": "wrong till",
                                         "_links": {"callback_url": CALLBACK}})
        api.drain()
        sent = inbox.bodies(HOOKS)[0]
        expected = skeleton(fixture(shared_fixtures, "buygoodsreversedhook.json"))
        resource = dict(skeleton(sent)[3][1])["resource"]
        assert resource[:-1] == dict(expected[3][1])["resource"] and resource[-1][0] == "reversal_time"
        assert sent["event"]["resource"]["status"] == "Reversed"

    def test_settlement_completed_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.subscribe("settlement_transfer_completed")
        api.create("/api/v1/settlement_transfers", {"_links": {"callback_url": CALLBACK}})
        api.drain()
        sent = inbox.bodies(HOOKS)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "transfercompleted.json"))
        assert sent["event"]["resource"]["destination"]["type"] == "Bank Account"

    def test_daraja_payload_matches_fixture(self, api: Api, inbox: Inbox, shared_fixtures: Path) -> None:
        api.subscribe("buygoods_transaction_received", version=2, enable_daraja_payload=True)
        api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "100"})
        api.drain()
        sent = inbox.bodies(HOOKS)[0]
        assert skeleton(sent) == skeleton(fixture(shared_fixtures, "darajabuygoods.json"))
        assert sent["TransAmount"] == "100.0" and sent["BusinessShortCode"] == "000000"

"""PAY (v1 recipients + payments), Send Money and external recipients (v2), own accounts and settlement transfers."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from .conftest import CALLBACK, HOOKS, Api, Inbox

RECIPIENTS: dict[str, dict[str, Any]] = {
    "mobile_wallet": {"first_name": "Jane", "last_name": "Doe", "phone_number": "0712345678", "network": "Safaricom",
                      "email": "Null"},
    "bank_account": {"account_name": "Jane Doe", "account_number": "1234567890",
                     "bank_branch_ref": "633aa26c-7b7c-4091-ae28-96c0687cf886", "settlement_method": "EFT"},
    "till": {"till_name": "Jane's Shop", "till_number": "567890"},
    "paybill": {"paybill_name": "KPLC", "paybill_number": "888880", "paybill_account_number": "1234567"},
}


def reference(location: str) -> str:
    return location.rsplit("/", 1)[1]


def add_recipient(api: Api, kind: str = "mobile_wallet", **changes: Any) -> str:
    return reference(api.create("/api/v1/pay_recipients", {"type": kind, "pay_recipient": {**RECIPIENTS[kind], **changes}}))


def pay(api: Api, recipient: str, value: Any = "10", kind: str = "mobile_wallet") -> str:
    return api.create("/api/v1/payments", {
        "destination_type": kind, "destination_reference": recipient, "amount": {"currency": "KES", "value": value},
        "description": "Salary payment for May 2018", "category": "salaries", "tags": ["tag 1"],
        "metadata": {"customerId": "8675309"}, "_links": {"callback_url": CALLBACK}})


def balance(api: Api) -> Decimal:
    return Decimal(api.client.get("/sim/state").json()["balance"]["value"])


class TestPayRecipients:
    @pytest.mark.parametrize("kind", list(RECIPIENTS))
    def test_create_and_show_each_type(self, api: Api, kind: str) -> None:
        location = api.create("/api/v1/pay_recipients", {"type": kind, "pay_recipient": RECIPIENTS[kind]})
        doc = api.get(location)
        attributes = doc["data"]["attributes"]
        assert doc["data"]["type"] == "pay_recipient" and attributes["status"] == "Approved"
        assert attributes["recipient_reference"] == reference(location)
        assert list(attributes)[3:] == list(RECIPIENTS[kind])

    def test_phone_is_stored_in_e164(self, api: Api) -> None:
        location = f"/api/v1/pay_recipients/{add_recipient(api)}"
        assert api.attributes(location)["phone_number"] == "+254712345678"

    @pytest.mark.parametrize(("body", "status", "field"), [
        ({"type": "mobile_wallet"}, 400, "pay_recipient"),
        ({"type": "cheque", "pay_recipient": {}}, 422, "type"),
        ({"type": "mobile_wallet", "pay_recipient": {**RECIPIENTS["mobile_wallet"], "last_name": ""}}, 400,
         "pay_recipient.last_name"),
        ({"type": "bank_account", "pay_recipient": {**RECIPIENTS["bank_account"], "settlement_method": "SWIFT"}},
         422, "pay_recipient.settlement_method"),
    ])
    def test_create_rejects_bad_fields(self, api: Api, body: dict[str, Any], status: int, field: str) -> None:
        response = api.post("/api/v1/pay_recipients", body)
        assert response.status_code == status and response.json()["error_message"].startswith(f"{field}:")

    def test_v2_external_recipient_with_nickname(self, api: Api) -> None:
        location = api.create("/api/v2/external_recipients", {"type": "till", "external_recipient": {
            **RECIPIENTS["till"], "nickname": "Shop"}})
        doc = api.get(location)
        assert doc["data"]["type"] == "external_recipient" and doc["data"]["attributes"]["nickname"] == "Shop"


class TestPayments:
    @pytest.mark.parametrize("kind", list(RECIPIENTS))
    def test_success_draws_down_balance(self, api: Api, inbox: Inbox, kind: str) -> None:
        before = balance(api)
        location = pay(api, add_recipient(api, kind), "780", kind)
        assert api.attributes(location)["status"] in ("Scheduled", "Processed")
        api.drain()
        attributes = api.attributes(location)
        leg = attributes["transfer_batches"][0]["disbursements"][0]
        assert attributes["status"] == "Processed" and leg["status"] == "Transferred"
        assert leg["destination_type"] == {"mobile_wallet": "Mobile Wallet", "bank_account": "Bank Account",
                                           "till": "Till", "paybill": "Paybill"}[kind]
        assert (leg["transaction_reference"] is None) == (kind == "bank_account")
        assert balance(api) == before - 780
        assert inbox.bodies(CALLBACK) == [api.get(location)]

    def test_scheduled_before_resolution(self, held: Api) -> None:
        attributes = held.attributes(pay(held, add_recipient(held)))
        assert attributes["status"] == "Scheduled" and attributes["transfer_batches"] is None

    @pytest.mark.parametrize(("suffix", "error"), [
        ("005", "The recipient could not receive the funds."),
        ("002", "Insufficient funds in the merchant account."),
        ("003", "The transfer timed out."),
    ])
    def test_recipient_suffix_rules(self, api: Api, inbox: Inbox, suffix: str, error: str) -> None:
        before = balance(api)
        location = pay(api, add_recipient(api, phone_number=f"0712345{suffix}"))
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Failed" and attributes["errors"] == [error]
        assert attributes["transfer_batches"][0]["disbursements"][0]["status"] == "Failed"
        assert balance(api) == before
        assert len(inbox.bodies(CALLBACK)) == (0 if suffix == "003" else 1)

    def test_bank_account_number_suffix_rule(self, api: Api) -> None:
        location = pay(api, add_recipient(api, "bank_account", account_number="9876543005"), kind="bank_account")
        api.drain()
        assert api.attributes(location)["status"] == "Failed"

    def test_more_than_balance_is_insufficient_funds(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("100"))
        location = pay(api, add_recipient(api), "100.01")
        api.drain()
        assert api.attributes(location)["errors"] == ["Insufficient funds in the merchant account."]
        assert balance(api) == Decimal("100")

    def test_incoming_payments_refill_balance(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("0"))
        api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "500"})
        location = pay(api, add_recipient(api), "500")
        api.drain()
        assert api.attributes(location)["status"] == "Processed" and balance(api) == 0

    def test_over_mobile_money_limit_fails(self, api: Api) -> None:
        location = pay(api, add_recipient(api), "250000.01")
        api.drain()
        assert api.attributes(location)["errors"] == ["The amount exceeds the M-PESA transaction limit."]

    @pytest.mark.parametrize(("change", "status", "field"), [
        ({"destination_reference": "nope"}, 422, "destination_reference"),
        ({"destination_type": "till"}, 422, "destination_type"),
        ({"description": None}, 400, "description"),
        ({"tags": "x"}, 422, "tags"),
        ({"amount": {"value": "0"}}, 422, "amount.value"),
    ])
    def test_create_rejects_bad_fields(self, api: Api, change: dict[str, Any], status: int, field: str) -> None:
        body = {"destination_type": "mobile_wallet", "destination_reference": add_recipient(api),
                "amount": {"currency": "KES", "value": "10"}, "description": "d",
                "_links": {"callback_url": CALLBACK}, **change}
        response = api.post("/api/v1/payments", body)
        assert response.status_code == status and response.json()["error_message"].startswith(f"{field}:")


class TestSendMoney:
    def test_mixed_destinations_partial_failure(self, api: Api, inbox: Inbox) -> None:
        wallet = reference(api.create("/api/v2/merchant_wallets", {
            "first_name": "Own", "last_name": "Wallet", "phone_number": "0711000000", "network": "Safaricom"}))
        before = balance(api)
        location = api.create("/api/v2/send_money", {
            "destinations": [
                {"type": "mobile_wallet", "nickname": "Jane", "phone_number": "254712345678", "network": "Safaricom",
                 "amount": 1000, "description": "Pay", "favourite": True},
                {"type": "mobile_wallet", "phone_number": "254712345005", "amount": "50", "description": "Pay"},
                {"type": "paybill", "paybill_number": "888880", "paybill_account_number": "12", "amount": "20",
                 "description": "Power"},
                {"type": "merchant_wallet", "reference": wallet, "amount": "5"},
            ],
            "source_identifier": "4321", "currency": "KES", "metadata": {"notes": "n"},
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(location)
        legs = attributes["transfer_batches"][0]["disbursements"]
        assert attributes["status"] == "Processed" and attributes["source_identifier"] == "4321"
        assert [leg["status"] for leg in legs] == ["Transferred", "Failed", "Transferred", "Transferred"]
        assert legs[0]["destination_type"] == "mobile_wallet" and legs[0]["nickname"] == "Jane"
        assert legs[0]["favourite"] is True and legs[1]["errors"] == ["The recipient could not receive the funds."]
        assert attributes["transfer_batches"][0]["status"] == "Partial"
        assert attributes["destinations"][0]["amount"] == 1000
        assert balance(api) == before - 1025
        assert inbox.topics() == ["send_money"]

    def test_sweep_moves_whole_balance(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("1234.50"))
        location = api.create("/api/v2/send_money", {"destinations": [], "currency": "KES",
                                                     "_links": {"callback_url": CALLBACK}})
        api.drain()
        leg = api.attributes(location)["transfer_batches"][0]["disbursements"][0]
        assert leg["amount"] == "1234.5" and leg["destination_type"] == "merchant_bank_account"
        assert balance(api) == 0

    @pytest.mark.parametrize(("destination", "status", "field"), [
        ({"type": "mobile_wallet", "phone_number": "0712345678", "description": "d"}, 400, "destinations[0].amount"),
        ({"type": "till", "till_number": "1", "amount": 5, "description": "d"}, 422, "destinations[0].till_number"),
        ({"type": "merchant_wallet", "reference": "nope", "amount": 5}, 422, "destinations[0].reference"),
        ({"type": "rocket", "amount": 5}, 422, "destinations[0].type"),
    ])
    def test_create_rejects_bad_destinations(self, api: Api, destination: dict[str, Any], status: int,
                                             field: str) -> None:
        response = api.post("/api/v2/send_money", {"destinations": [destination],
                                                   "_links": {"callback_url": CALLBACK}})
        assert response.status_code == status and response.json()["error_message"].startswith(f"{field}:")


class TestSettlement:
    def test_merchant_accounts_show(self, api: Api) -> None:
        bank = api.create("/api/v1/merchant_bank_accounts", {
            "account_name": "Main", "account_number": "111222", "bank_branch_ref": "b-ref", "settlement_method": "RTS"})
        assert api.attributes(bank) == {"status": "Approved", "account_reference": reference(bank),
                                        "bank_branch_ref": "b-ref", "account_name": "Main",
                                        "account_number": "111222", "settlement_method": "RTS"}
        wallet = api.create("/api/v2/merchant_wallets", {"first_name": "A", "last_name": "B",
                                                         "phone_number": "0711000000", "network": "Safaricom",
                                                         "nickname": "Till float"})
        assert list(api.attributes(wallet)) == ["first_name", "last_name", "phone_number", "network", "status",
                                                "account_reference", "nickname"]

    def test_blind_transfer_with_null_fields_sweeps_to_default_account(self, make_api: Callable[..., Api],
                                                                       inbox: Inbox) -> None:
        api = make_api(balance=Decimal("49452"))
        api.subscribe("settlement_transfer_completed")
        location = api.create("/api/v1/settlement_transfers", {
            "amount": {"currency": None, "value": None}, "destination_type": None, "destination_reference": None,
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Processed" and attributes["amount"]["value"] is None
        assert attributes["transfer_batches"][0]["disbursements"][0]["amount"] == "49452.0"
        assert "metadata" not in attributes and balance(api) == 0
        hook = inbox.bodies(HOOKS)[0]["event"]["resource"]
        assert hook["amount"] == "49452.0"
        assert hook["destination"]["resource"]["reference"] == api.client.get("/sim/state").json()["settlement_account"]

    def test_blind_transfer_of_empty_balance_fails(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("0"))
        location = api.create("/api/v1/settlement_transfers", {"_links": {"callback_url": CALLBACK}})
        api.drain()
        assert api.attributes(location)["status"] == "Failed"

    def test_targeted_transfer_to_wallet(self, api: Api, inbox: Inbox) -> None:
        api.subscribe("settlement_transfer_completed")
        wallet = reference(api.create("/api/v1/merchant_wallets", {
            "first_name": "A", "last_name": "B", "phone_number": "+254711000000", "network": "Safaricom"}))
        before = balance(api)
        location = api.create("/api/v1/settlement_transfers", {
            "amount": {"currency": "KES", "value": "10"}, "destination_type": "merchant_wallet",
            "destination_reference": wallet, "_links": {"callback_url": CALLBACK}})
        api.drain()
        leg = api.attributes(location)["transfer_batches"][0]["disbursements"][0]
        assert leg["destination_type"] == "Mobile Wallet" and leg["transaction_reference"]
        assert balance(api) == before - 10
        destination = inbox.bodies(HOOKS)[0]["event"]["resource"]["destination"]
        assert destination["type"] == "Mobile Wallet" and destination["resource"]["phone_number"] == "+254711000000"

    def test_targeted_transfer_over_balance_fails(self, make_api: Callable[..., Api], inbox: Inbox) -> None:
        api = make_api(balance=Decimal("5"))
        api.subscribe("settlement_transfer_completed")
        location = api.create("/api/v1/settlement_transfers", {"amount": {"value": 6},
                                                               "_links": {"callback_url": CALLBACK}})
        api.drain()
        assert api.attributes(location)["errors"] == ["Insufficient funds in the merchant account."]
        assert inbox.topics() == ["settlement_transfer"]

    def test_unknown_destination_reference_is_422(self, api: Api) -> None:
        response = api.post("/api/v1/settlement_transfers", {
            "destination_type": "merchant_bank_account", "destination_reference": "nope",
            "_links": {"callback_url": CALLBACK}})
        assert response.status_code == 422 and response.json()["error_message"].startswith("destination_reference:")


class TestForcedPayoutOutcomes:
    """`POST /sim/outcomes` and `/resolve` decide PAY, send_money and transfer results, whatever the rules say."""

    @pytest.mark.parametrize(("outcome", "error"), [
        ("RECIPIENT_REJECTED", "The recipient could not receive the funds."),
        ("INSUFFICIENT_FUNDS", "Insufficient funds in the merchant account."),
        ("LIMIT_EXCEEDED", "The amount exceeds the M-PESA transaction limit."),
    ])
    def test_forced_payment_failure_reason(self, api: Api, inbox: Inbox, outcome: str, error: str) -> None:
        api.client.post("/sim/outcomes", json={"kind": "payment", "outcome": outcome})
        before = balance(api)
        failed, ok = pay(api, add_recipient(api)), pay(api, add_recipient(api))
        api.drain()
        assert api.attributes(failed)["status"] == "Failed" and api.attributes(failed)["errors"] == [error]
        assert api.attributes(ok)["status"] == "Processed" and balance(api) == before - 10
        assert [body["data"]["attributes"]["status"] for body in inbox.bodies(CALLBACK)] == ["Failed", "Processed"]

    def test_forced_success_beats_a_failing_suffix(self, api: Api) -> None:
        api.client.post("/sim/outcomes", json={"kind": "payment", "outcome": "SUCCESS"})
        location = pay(api, add_recipient(api, phone_number="0712345005"))
        api.drain()
        assert api.attributes(location)["status"] == "Processed"

    def test_forced_transfer_timeout_fails_silently(self, api: Api, inbox: Inbox) -> None:
        api.client.post("/sim/outcomes", json={"kind": "settlement_transfer", "outcome": "TIMEOUT"})
        before = balance(api)
        location = api.create("/api/v1/settlement_transfers", {"amount": {"value": "10"},
                                                               "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Failed" and attributes["errors"] == ["The transfer timed out."]
        assert inbox.requests == [] and balance(api) == before

    def test_forced_send_money_outcomes_are_taken_one_per_leg(self, api: Api) -> None:
        api.client.post("/sim/outcomes", json={"kind": "send_money", "outcome": "RECIPIENT_REJECTED", "count": 1})
        location = api.create("/api/v2/send_money", {"destinations": [
            {"type": "mobile_wallet", "phone_number": "254712345678", "amount": 10, "description": "a"},
            {"type": "till", "till_number": "567890", "amount": 20, "description": "b"}],
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        legs = api.attributes(location)["transfer_batches"][0]["disbursements"]
        assert [(leg["status"], leg["errors"]) for leg in legs] == [
            ("Failed", ["The recipient could not receive the funds."]), ("Transferred", None)]

    def test_resolve_with_a_payout_outcome(self, held: Api) -> None:
        location = pay(held, add_recipient(held))
        answer = held.client.post(f"/sim/resources/{reference(location)}/resolve",
                                  json={"outcome": "RECIPIENT_REJECTED"})
        assert answer.json()["state"] == "Failed"
        assert held.attributes(location)["errors"] == ["The recipient could not receive the funds."]


class TestBalance:
    def test_send_money_legs_over_the_balance_all_fail(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("100"))
        location = api.create("/api/v2/send_money", {"destinations": [
            {"type": "mobile_wallet", "phone_number": "254712345678", "amount": 60, "description": "a"},
            {"type": "till", "till_number": "567890", "amount": 50, "description": "b"}],
            "_links": {"callback_url": CALLBACK}})
        api.drain()
        attributes = api.attributes(location)
        assert attributes["status"] == "Failed"
        assert attributes["errors"] == ["Insufficient funds in the merchant account."]
        assert {leg["status"] for leg in attributes["transfer_batches"][0]["disbursements"]} == {"Failed"}
        assert balance(api) == Decimal("100")

    def test_payouts_draw_down_until_insufficient(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("250"), callback_delay_s=3600)
        recipient = add_recipient(api)
        locations = [pay(api, recipient, "100") for _ in range(3)]
        for location in locations:  # the balance is checked when each one settles, in this order
            api.client.post(f"/sim/resources/{reference(location)}/resolve")
        assert [api.attributes(loc)["status"] for loc in locations] == ["Processed", "Processed", "Failed"]
        assert api.attributes(locations[2])["errors"] == ["Insufficient funds in the merchant account."]
        assert balance(api) == Decimal("50")

    def test_opening_balance_is_configurable_and_reset_restores_it(self, make_api: Callable[..., Api]) -> None:
        api = make_api(balance=Decimal("1234.56"))
        assert balance(api) == Decimal("1234.56")
        api.client.post("/sim/transactions", json={"type": "buygoods", "amount": "100"})
        assert balance(api) == Decimal("1334.56")
        assert Decimal(api.client.post("/sim/reset").json()["balance"]["value"]) == Decimal("1234.56")


"""Every resource's POST validates as K2 does: 400 for a missing field, 422 for a wrong one, the field named."""
from __future__ import annotations

from typing import Any

import pytest

from k2sim.app import RESOURCE_PATHS

from .conftest import CALLBACK, HOOKS, Api, stk_body

LINKS = {"_links": {"callback_url": CALLBACK}}
WINDOW = {"from_time": "2024-03-01T00:00:00+03:00", "to_time": "2024-03-02T00:00:00+03:00"}
WALLET = {"first_name": "Jane", "last_name": "Doe", "phone_number": "0712345678", "network": "Safaricom"}
BANK = {"account_name": "Jane Doe", "account_number": "1234567890", "bank_branch_ref": "b-ref",
        "settlement_method": "EFT"}


def valid(api: Api, path: str) -> dict[str, Any]:
    """A body the emulator accepts at `path` (references made on the fly)."""
    if path.endswith("incoming_payments"):
        return stk_body()
    if path.endswith("pay_recipients"):
        return {"type": "mobile_wallet", "pay_recipient": WALLET}
    if path.endswith("external_recipients"):
        return {"type": "mobile_wallet", "external_recipient": WALLET}
    if path.endswith("/payments"):
        recipient = api.create("/api/v1/pay_recipients", valid(api, "pay_recipients")).rsplit("/", 1)[1]
        return {"destination_type": "mobile_wallet", "destination_reference": recipient,
                "amount": {"currency": "KES", "value": "10"}, "description": "d", **LINKS}
    if path.endswith("send_money"):
        return {"destinations": [{"type": "mobile_wallet", "phone_number": "254712345678", "amount": 10,
                                  "description": "d"}], "currency": "KES", **LINKS}
    if path.endswith("merchant_bank_accounts"):
        return dict(BANK)
    if path.endswith("merchant_wallets"):
        return dict(WALLET)
    if path.endswith("settlement_transfers"):
        return {"amount": {"currency": "KES", "value": "10"}, **LINKS}
    if path.endswith("webhook_subscriptions"):
        return {"event_type": "buygoods_transaction_received", "url": HOOKS, "scope": "company"}
    if path.endswith("polling"):
        return {"scope": "company", **WINDOW, **LINKS}
    if path.endswith("transaction_sms_notifications"):
        api.subscribe("buygoods_transaction_received")
        api.client.post("/sim/transactions", json={"type": "buygoods"})
        api.drain()
        event = api.client.get("/sim/deliveries?topic=buygoods_transaction_received").json()[0]["body"]["id"]
        return {"webhook_event_reference": event, "message": "Thanks", **LINKS}
    if path.endswith("reversals"):
        reference = api.client.post("/sim/transactions", json={"type": "buygoods"}).json()["reference"]
        return {"transaction_reference": reference, "reason": "r", **LINKS}
    assert path.endswith("payment_links")
    return {"till_number": "K000000", "currency": "KES", "amount": 500, "payment_reference": "INV-1", **LINKS}


# (path, change to the valid body, status, field named first in error_message); None removes a key
CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("/api/v1/incoming_payments", {"till_number": None}, 400, "till_number"),
    ("/api/v2/incoming_payments", {"subscriber": {"phone_number": "+1555"}}, 422, "subscriber.phone_number"),
    ("/api/v1/pay_recipients", {"pay_recipient": {**WALLET, "phone_number": None}}, 400, "pay_recipient.phone_number"),
    ("/api/v1/pay_recipients", {"type": "cheque"}, 422, "type"),
    ("/api/v2/external_recipients", {"external_recipient": {**WALLET, "first_name": ""}}, 400,
     "external_recipient.first_name"),
    ("/api/v2/external_recipients", {"external_recipient": {**WALLET, "phone_number": "07123"}}, 422,
     "external_recipient.phone_number"),
    ("/api/v1/payments", {"destination_reference": None}, 400, "destination_reference"),
    ("/api/v1/payments", {"amount": {"currency": "UGX", "value": "10"}}, 422, "amount.currency"),
    ("/api/v2/send_money", {"_links": None}, 400, "_links.callback_url"),
    ("/api/v2/send_money", {"currency": "USD"}, 422, "currency"),
    ("/api/v2/send_money", {"destinations": [{"type": "mobile_wallet", "phone_number": "254712345678",
                                              "amount": "-1", "description": "d"}]}, 422, "destinations[0].amount"),
    ("/api/v1/merchant_bank_accounts", {"account_number": None}, 400, "account_number"),
    ("/api/v2/merchant_bank_accounts", {"settlement_method": "SWIFT"}, 422, "settlement_method"),
    ("/api/v1/merchant_wallets", {"last_name": None}, 400, "last_name"),
    ("/api/v2/merchant_wallets", {"phone_number": "12"}, 422, "phone_number"),
    ("/api/v1/settlement_transfers", {"destination_type": "merchant_wallet"}, 400, "destination_reference"),
    ("/api/v1/settlement_transfers", {"amount": {"value": "0"}}, 422, "amount.value"),
    ("/api/v1/webhook_subscriptions", {"scope": None}, 400, "scope"),
    ("/api/v2/webhook_subscriptions", {"event_type": "payment_received"}, 422, "event_type"),
    ("/api/v1/polling", {"to_time": None}, 400, "to_time"),
    ("/api/v2/polling", {"scope": "till", "scope_reference": "K000000", "from_time": "today"}, 422, "from_time"),
    ("/api/v1/transaction_sms_notifications", {"message": " "}, 400, "message"),
    ("/api/v1/transaction_sms_notifications", {"webhook_event_reference": "nope"}, 422, "webhook_event_reference"),
    ("/api/v2/reversals", {"transaction_reference": None}, 400, "transaction_reference"),
    ("/api/v2/reversals", {"transaction_reference": "NOPE123"}, 422, "transaction_reference"),
    ("/api/v2/payment_links", {"amount": None}, 400, "amount"),
    ("/api/v2/payment_links", {"till_number": "till-1"}, 422, "till_number"),
    ("/api/v2/payment_links", {"metadata": {str(i): i for i in range(6)}}, 422, "metadata"),
]


@pytest.mark.parametrize(("path", "change", "status", "field"), CASES,
                         ids=[f"{path.split('/')[2]}-{path.rsplit('/', 1)[1]}-{field}" for path, _, _, field in CASES])
def test_create_rejects_a_bad_field_naming_it(api: Api, path: str, change: dict[str, Any], status: int,
                                             field: str) -> None:
    body = valid(api, path)
    assert api.post(path, body).status_code == 201  # the same body without the change is accepted
    body = {key: value for key, value in {**body, **change}.items() if value is not None}
    response = api.post(path, body)
    assert response.status_code == status, response.text
    assert response.json() == {"error_code": status, "error_message": response.json()["error_message"]}
    assert response.json()["error_message"].startswith(f"{field}:"), response.json()


def test_every_resource_of_api_md_is_covered() -> None:
    covered = {path for path, _, _, _ in CASES}
    served = {f"/api/v{version}/{segment}" for version, segment, _ in RESOURCE_PATHS}
    assert {path.rsplit("/", 1)[1] for path in served} == {path.rsplit("/", 1)[1] for path in covered}

"""Drive k2sim with the official Python SDK `k2-connect==2.0.0` (the v2 API); run with .sdk/py-v2/bin/python.

Input: one JSON object on stdin:
  {"mode": "flows" | "verify", "base_url": "http://127.0.0.1:PORT", "client_id", "client_secret",
   "api_key", "callback_url", "till_number", "phone_number", "flows": [names] (optional subset),
   "items": [{"raw_b64", "signature"}] (for "verify")}
Output: one JSON line on stdout: {"sdk", "version", "flows": {name: record}} or {"sdk", "verified": [...]}.
v2 services are factories taking the access token: `k2connect.SendMoney(access_token=...)`.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from _driver_common import Recorder, error_text, initialize, main, poll_final, sdk_result, status_of

import k2connect

ALL_FLOWS = (
    "token", "webhooks", "stk", "send_money", "external_recipient", "transfer", "polling", "reversal",
    "payment_link", "token_revoke",
)


def _id_of(location: str) -> str:
    """The resource id is the last path segment of its Location."""
    return location.rstrip("/").rsplit("/", 1)[-1]


def run_flows(req: dict[str, Any]) -> dict[str, Any]:
    """Each flow: create (Location), then GET it (by Location or by id, as the SDK offers) until final."""
    initialize(req)
    cb = req["callback_url"]
    wanted = req.get("flows") or list(ALL_FLOWS)
    rec = Recorder()
    token = ""
    mpesa_reference: str | None = None

    with rec.flow("token") as r:
        resp = k2connect.Tokens.request_access_token()
        token = k2connect.Tokens.get_access_token(resp)
        r["response"] = resp
        r["has_token"] = bool(token)
        r["introspect"] = k2connect.Tokens.introspect_access_token(token)
        r["info"] = k2connect.Tokens.request_token_info(token)

    if "webhooks" in wanted:
        with rec.flow("webhooks") as r:
            hooks = k2connect.Webhooks(access_token=token)
            loc = hooks.create_subscription({
                "event_type": "buygoods_transaction_received", "webhook_uri": cb, "scope": "till",
                "scope_reference": req["till_number"], "enable_daraja_payload": False,
            })
            r["location"] = loc
            r["doc"] = hooks.query_resource(loc)
            # v2's model has no default for scope_reference, so company scope passes None explicitly
            loc2 = hooks.create_subscription({
                "event_type": "customer_created", "webhook_uri": cb, "scope": "company", "scope_reference": None,
            })
            r["company_location"] = loc2

    if "stk" in wanted:
        with rec.flow("stk") as r:
            stk = k2connect.IncomingPayments(access_token=token)
            loc = stk.create_incoming_payment({
                "payment_channel": "M-PESA STK Push", "till_number": req["till_number"],
                "subscriber": {"first_name": "Joe", "last_name": "Buyer", "phone_number": req["phone_number"],
                               "email": "jbuyer@example.com"},
                "amount": {"currency": "KES", "value": 100},
                "callback_url": cb, "metadata": {"customer_id": "123", "reference": "sdk-v2-stk"},
            })
            r["location"] = loc
            r.update(poll_final(lambda: stk.view_incoming_payment({"incoming_payment_reference": _id_of(loc)})))
            r["by_location"] = stk.query_resource(loc)
            if status_of(r["doc"]) == "Success":
                mpesa_reference = r["doc"]["data"]["attributes"]["event"]["resource"]["reference"]

    if "send_money" in wanted:
        with rec.flow("send_money") as r:
            money = k2connect.SendMoney(access_token=token)
            loc = money.create_payment({
                "source_identifier": None, "currency": "KES", "callback_url": cb,
                "metadata": {"notes": "sdk-v2-send-money"},
                "destinations": [
                    {"type": "mobile_wallet", "nickname": "Jane", "phone_number": "254999999999",
                     "network": "Safaricom", "amount": 100, "description": "SDK v2 compatibility",
                     "favourite": False},
                    {"type": "till", "till_number": "567890", "amount": 50, "description": "Supplies"},
                ],
            })
            r["location"] = loc
            r.update(poll_final(lambda: money.query_resource(loc)))

    if "external_recipient" in wanted:
        with rec.flow("external_recipient") as r:
            money = k2connect.SendMoney(access_token=token)
            loc = money.add_external_recipient({
                "type": "mobile_wallet", "nickname": "Jane", "first_name": "Jane", "last_name": "Doe",
                "phone_number": "254999999999", "email": "jane@example.com", "network": "Safaricom",
            })
            r["location"] = loc
            r["doc"] = money.query_resource(loc)
            loc2 = money.add_external_recipient({
                "type": "paybill", "nickname": "Power", "paybill_name": "Power Co",
                "paybill_number": "888880", "paybill_account_number": "ACC-1",
            })
            r["paybill_location"] = loc2

    if "transfer" in wanted:
        with rec.flow("transfer") as r:
            accounts = k2connect.TransferAccount(access_token=token)
            aloc = accounts.add_transfer_account({
                "type": "merchant_bank_account", "nickname": "Main", "account_name": "Shop Ltd",
                "account_number": "1234567890", "bank_branch_ref": "633aa26c-7b7c-4091-ae28-96c0687cf886",
                "settlement_method": "EFT",
            })
            r["account_location"] = aloc
            account = accounts.query_resource(aloc)
            r["account_doc"] = account
            money = k2connect.SendMoney(access_token=token)
            loc = money.create_payment({
                "source_identifier": None, "currency": "KES", "callback_url": cb,
                "destinations": [{"type": "merchant_bank_account",
                                  "reference": account["data"]["attributes"]["account_reference"], "amount": 10}],
            })
            r["location"] = loc
            r.update(poll_final(lambda: money.query_resource(loc)))

    if "polling" in wanted:
        with rec.flow("polling") as r:
            polling = k2connect.Polling(access_token=token)
            now = datetime.now(timezone(timedelta(hours=3))).replace(microsecond=0)
            loc = polling.initiate_polling_request({
                "scope": "company", "scope_reference": None, "callback_url": cb,
                "from_time": (now - timedelta(days=1)).isoformat(), "to_time": now.isoformat(),
            })
            r["location"] = loc
            r.update(poll_final(lambda: polling.polling_request_status(loc)))

    if "reversal" in wanted:
        with rec.flow("reversal") as r:
            if mpesa_reference is None:
                raise RuntimeError("no M-PESA reference: the stk flow did not reach Success")
            reversals = k2connect.Reversals(access_token=token)
            loc = reversals.initiate_reversal({
                "transaction_reference": mpesa_reference, "reason": "Customer returned the goods",
                "callback_url": cb, "metadata": {"notes": "sdk-v2-reversal"},
            })
            r["location"] = loc
            r["transaction_reference"] = mpesa_reference
            r.update(poll_final(lambda: reversals.get_status({"reversal-reference": _id_of(loc)})))

    if "payment_link" in wanted:
        with rec.flow("payment_link") as r:
            links = k2connect.PaymentLinks(access_token=token)
            loc = links.create_payment_link({
                "currency": "KES", "amount": 250, "till_number": req["till_number"],
                "payment_reference": "INV-42", "note": "Invoice 42", "callback_url": cb,
                "metadata": {"notes": "sdk-v2-link"},
            })
            r["location"] = loc
            r.update(poll_final(lambda: links.get_status({"payment-link-reference": _id_of(loc)})))
            # POST .../cancel: the SDK returns the Location header of the answer (None when there is none)
            r["cancel_return"] = links.cancel_payment_link({"payment-link-reference": _id_of(loc)})
            r["after_cancel"] = links.get_status({"payment-link-reference": _id_of(loc)})

    if "token_revoke" in wanted:
        with rec.flow("token_revoke") as r:
            spare = k2connect.Tokens.get_access_token(k2connect.Tokens.request_access_token())
            r["distinct_from_first"] = spare != token
            r["revoke"] = k2connect.Tokens.revoke_access_token(spare)
            r["introspect_after"] = k2connect.Tokens.introspect_access_token(spare)
            try:
                k2connect.Tokens.request_token_info(spare)
                r["revoked_token_error"] = None
            except k2connect.exceptions.K2Error as exc:
                r["revoked_token_error"] = error_text(exc)
            r["first_token_still_works"] = "expires_in" in k2connect.Tokens.request_token_info(token)

    return sdk_result(flows=rec.flows)


if __name__ == "__main__":
    main(run_flows)

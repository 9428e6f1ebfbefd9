"""Drive k2sim with the official Python SDK `k2-connect==1.2.7` (the v1 API); run with .sdk/py-v1/bin/python.

Input: one JSON object on stdin:
  {"mode": "flows" | "verify", "base_url": "http://127.0.0.1:PORT", "client_id", "client_secret",
   "api_key", "callback_url", "till_number", "phone_number", "flows": [names] (optional subset),
   "webhook_event_reference" (for "sms"), "items": [{"raw_b64", "signature"}] (for "verify")}
Output: one JSON line on stdout: {"sdk", "version", "flows": {name: record}} or {"sdk", "verified": [...]}.
Every SDK call is the SDK's documented dict-argument form, so this is what a merchant's code would send.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from _driver_common import Recorder, initialize, main, poll_final, sdk_result

import k2connect

ALL_FLOWS = ("token", "webhooks", "stk", "pay", "transfer", "polling", "sms")


def run_flows(req: dict[str, Any]) -> dict[str, Any]:
    """Each flow: create (Location), then GET the Location until the status is final."""
    initialize(req)
    cb = req["callback_url"]
    wanted = req.get("flows") or list(ALL_FLOWS)
    rec = Recorder()
    token = ""

    with rec.flow("token") as r:
        resp = k2connect.Tokens.request_access_token()
        token = k2connect.Tokens.get_access_token(resp)
        r["response"] = resp
        r["has_token"] = bool(token)

    if "webhooks" in wanted:
        with rec.flow("webhooks") as r:
            loc = k2connect.Webhooks.create_subscription({
                "access_token": token, "event_type": "buygoods_transaction_received",
                "webhook_endpoint": cb, "scope": "till", "scope_reference": req["till_number"],
            })
            r["location"] = loc
            r["doc"] = k2connect.Webhooks.webhook_status(token, loc)
            # company-scoped events must not carry scope_reference at all (the SDK raises if the key exists)
            loc2 = k2connect.Webhooks.create_subscription({
                "access_token": token, "event_type": "settlement_transfer_completed",
                "webhook_endpoint": cb, "scope": "company",
            })
            r["company_location"] = loc2
            r["company_doc"] = k2connect.Webhooks.webhook_status(token, loc2)

    if "stk" in wanted:
        with rec.flow("stk") as r:
            loc = k2connect.ReceivePayments.create_payment_request({
                "access_token": token, "callback_url": cb, "first_name": "Joe", "last_name": "Buyer",
                "email": "jbuyer@example.com", "payment_channel": "M-PESA STK Push",
                "phone_number": req["phone_number"], "till_number": req["till_number"], "amount": "100",
                "metadata": {"customer_id": "123", "reference": "sdk-v1-stk"},
            })
            r["location"] = loc
            r.update(poll_final(lambda: k2connect.ReceivePayments.payment_request_status(token, loc)))

    if "pay" in wanted:
        with rec.flow("pay") as r:
            rloc = k2connect.Pay.add_pay_recipient({
                "access_token": token, "recipient_type": "mobile_wallet", "first_name": "Jane",
                "last_name": "Doe", "email": "jane@example.com", "phone_number": "+254999999999",
                "network": "Safaricom",
            })
            r["recipient_location"] = rloc
            recipient = k2connect.Pay.pay_transaction_status(token, rloc)
            r["recipient_doc"] = recipient
            ref = recipient["data"]["attributes"]["recipient_reference"]
            loc = k2connect.Pay.send_pay({
                "access_token": token, "destination_type": "mobile_wallet", "destination_reference": ref,
                "amount": "10", "description": "SDK v1 compatibility", "callback_url": cb,
                "metadata": {"notes": "sdk-v1-pay"},
            })
            r["location"] = loc
            r.update(poll_final(lambda: k2connect.Pay.pay_transaction_status(token, loc)))

    if "transfer" in wanted:
        with rec.flow("transfer") as r:
            aloc = k2connect.Transfers.add_bank_settlement_account({
                "access_token": token, "settlement_method": "EFT", "account_name": "Shop Ltd",
                "account_number": "1234567890", "bank_branch_ref": "633aa26c-7b7c-4091-ae28-96c0687cf886",
            })
            r["account_location"] = aloc
            account = k2connect.Transfers.transfer_transaction_status(token, aloc)
            r["account_doc"] = account
            wloc = k2connect.Transfers.add_mobile_wallet_settlement_account({
                "access_token": token, "first_name": "Jane", "last_name": "Doe",
                "phone_number": "+254999999999", "network": "Safaricom",
            })
            r["wallet_location"] = wloc
            # no "currency" key: settle_funds leaves `currency` unbound when one is given (SDK bug)
            loc = k2connect.Transfers.settle_funds({
                "access_token": token, "callback_url": cb, "destination_type": "merchant_bank_account",
                "destination_reference": account["data"]["attributes"]["account_reference"], "value": "10",
            })
            r["location"] = loc
            r.update(poll_final(lambda: k2connect.Transfers.transfer_transaction_status(token, loc)))
            bloc = k2connect.Transfers.settle_funds({"access_token": token, "callback_url": cb})
            r["blind_location"] = bloc
            blind = poll_final(lambda: k2connect.Transfers.transfer_transaction_status(token, bloc))
            r["blind_doc"], r["blind_trail"] = blind["doc"], blind["trail"]

    if "polling" in wanted:
        with rec.flow("polling") as r:
            now = datetime.now(timezone(timedelta(hours=3))).replace(microsecond=0)
            loc = k2connect.Polling.create_polling_request({
                "access_token": token, "scope": "company", "scope_reference": "",
                "from_time": (now - timedelta(days=1)).isoformat(), "to_time": now.isoformat(),
                "callback_url": cb,
            })
            r["location"] = loc
            r.update(poll_final(lambda: k2connect.Polling.polling_request_status(token, loc)))

    if "sms" in wanted:
        with rec.flow("sms") as r:
            loc = k2connect.TransactionNotifications.send_transaction_sms_notification({
                "access_token": token, "webhook_event_reference": req["webhook_event_reference"],
                "message": "Thank you for your payment", "callback_url": cb,
            })
            r["location"] = loc
            r.update(poll_final(lambda: k2connect.TransactionNotifications.transaction_notification_status(token, loc)))

    return sdk_result(flows=rec.flows)


if __name__ == "__main__":
    main(run_flows)

"""The baseline of bench/bulk.py: payouts one at a time with the official SDK `k2-connect==1.2.7` (v1 API), as a
merchant's loop over a spreadsheet would send them. Runs in the SDK's own virtualenv (.sdk/py-v1, made by
tests/sdk/setup_sdks.sh), so it imports only the standard library and k2connect.

Input: one JSON object on stdin: {"base_url", "client_id", "client_secret", "api_key", "callback_url",
"phones": [...]}. For each phone, one at a time: add a PAY recipient, read its reference, pay it (timed: "first");
then pay each of those recipients again (timed: "known", a payroll to people already added).
Output: one JSON line: {"first": seconds, "known": seconds, "rows": n}."""
from __future__ import annotations

import contextlib
import json
import sys
import time

import k2connect


def main() -> None:
    request = json.loads(sys.stdin.read())
    with contextlib.redirect_stdout(sys.stderr):  # the SDK prints; stdout carries only our result
        k2connect.initialize(request["client_id"], request["client_secret"], request["base_url"] + "/",
                             api_secret=request["api_key"])
        token = k2connect.Tokens.get_access_token(k2connect.Tokens.request_access_token())
        references = []
        started = time.perf_counter()
        for number, phone in enumerate(request["phones"]):
            location = k2connect.Pay.add_pay_recipient({
                "access_token": token, "recipient_type": "mobile_wallet", "first_name": "Worker",
                "last_name": f"Number {number}", "email": "payroll@example.com", "phone_number": phone,
                "network": "Safaricom",
            })
            reference = k2connect.Pay.pay_transaction_status(token, location)["data"]["attributes"][
                "recipient_reference"]
            references.append(reference)
            _pay(token, reference, request["callback_url"], number)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for number, reference in enumerate(references):
            _pay(token, reference, request["callback_url"], number)
        known = time.perf_counter() - started
    print(json.dumps({"first": first, "known": known, "rows": len(references)}))


def _pay(token: str, reference: str, callback_url: str, number: int) -> None:
    k2connect.Pay.send_pay({
        "access_token": token, "destination_type": "mobile_wallet", "destination_reference": reference,
        "amount": "100", "description": "Salary", "callback_url": callback_url,
        "metadata": {"row": str(number)},
    })


if __name__ == "__main__":
    main()

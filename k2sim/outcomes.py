"""How asynchronous requests end: a small enum, the wire messages, and the documented forcing rules."""
from __future__ import annotations

import random
from decimal import Decimal
from enum import StrEnum
from typing import Literal

__all__ = ["Outcome", "Flow", "MOBILE_MONEY_LIMIT", "SUFFIX_RULES", "applies", "message", "rule", "random_failure"]

Flow = Literal["stk", "payout"]

# Safaricom's per-transaction M-PESA limit; above it STK and mobile-wallet payouts fail.
MOBILE_MONEY_LIMIT = Decimal("250000")


class Outcome(StrEnum):
    """The final result of an STK push or a payout/transfer, apart from how K2 words it."""

    SUCCESS = "SUCCESS"
    CANCELLED = "CANCELLED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    TIMEOUT = "TIMEOUT"
    INVALID_INITIATOR = "INVALID_INITIATOR"
    RECIPIENT_REJECTED = "RECIPIENT_REJECTED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


_MESSAGES: dict[tuple[Outcome, Flow], str] = {
    (Outcome.CANCELLED, "stk"): "Request cancelled by user",
    (Outcome.INSUFFICIENT_FUNDS, "stk"): "The balance is insufficient for the transaction.",
    (Outcome.INSUFFICIENT_FUNDS, "payout"): "Insufficient funds in the merchant account.",
    (Outcome.TIMEOUT, "stk"): "The subscriber did not respond to the payment request.",
    (Outcome.TIMEOUT, "payout"): "The transfer timed out.",
    (Outcome.INVALID_INITIATOR, "stk"): "The initiator information is invalid.",
    (Outcome.INVALID_INITIATOR, "payout"): "The initiator information is invalid.",  # M-Pesa B2C result 2001
    (Outcome.RECIPIENT_REJECTED, "payout"): "The recipient could not receive the funds.",
    (Outcome.LIMIT_EXCEEDED, "stk"): "The amount exceeds the M-PESA transaction limit.",
    (Outcome.LIMIT_EXCEEDED, "payout"): "The amount exceeds the M-PESA transaction limit.",
}

# Last three digits of the phone (STK) or of the recipient's phone/account/till/paybill account (payouts).
SUFFIX_RULES: dict[str, Outcome] = {
    "001": Outcome.CANCELLED,
    "002": Outcome.INSUFFICIENT_FUNDS,
    "003": Outcome.TIMEOUT,
    "004": Outcome.INVALID_INITIATOR,
    "005": Outcome.RECIPIENT_REJECTED,
}


def applies(outcome: Outcome, flow: Flow) -> bool:
    """Whether `outcome` can end a request of this flow."""
    return outcome is Outcome.SUCCESS or (outcome, flow) in _MESSAGES


def message(outcome: Outcome, flow: Flow) -> str:
    """K2's wording for a failed outcome."""
    return _MESSAGES[(outcome, flow)]


def rule(flow: Flow, identifier: str | None, amount: Decimal, *, mobile_money: bool) -> Outcome | None:
    """The documented deterministic rule for this request, if one matches."""
    if mobile_money and amount > MOBILE_MONEY_LIMIT:
        return Outcome.LIMIT_EXCEEDED
    forced = SUFFIX_RULES.get((identifier or "")[-3:])
    return forced if forced is not None and applies(forced, flow) else None


def random_failure(flow: Flow, rng: random.Random) -> Outcome:
    """A plausible failure for `--fail-rate`, drawn from the seeded generator."""
    choices = [o for o in (Outcome.CANCELLED, Outcome.INSUFFICIENT_FUNDS, Outcome.RECIPIENT_REJECTED) if applies(o, flow)]
    return rng.choice(choices)

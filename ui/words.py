"""Display words: how amounts, phones and request states read to a Kenyan shop owner. Pages branch on states,
never on these words."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from merchant.outbound import OutboxState

__all__ = ["Status", "event_kind", "kes", "nairobi_clock", "phone", "request_status"]

_NO_ANSWER_WORDS = ("did not respond", "no response", "timed out", "timeout", "cannot be reached")
_NO_ANSWER_AFTER = timedelta(minutes=2)
_GIVE_UP_AFTER = timedelta(days=1)


_NAIROBI = ZoneInfo("Africa/Nairobi")


def nairobi_clock(moment: datetime) -> str:
    """`15:42` Nairobi time, with the day when it is not today (`Mon 30 Nov, 15:42`)."""
    local = moment.astimezone(_NAIROBI)
    if local.date() == datetime.now(_NAIROBI).date():
        return f"{local:%H:%M}"
    return f"{local:%a %-d %b, %H:%M}"


_EVENT_KINDS = {
    "buygoods_transaction_received": "Till payment received",
    "buygoods_transaction_reversed": "Till payment reversed",
    "b2b_transaction_received": "Payment from another till",
    "b2b_transaction_reversed": "Payment from another till reversed",
    "m2m_transaction_received": "Payment from another merchant",
    "settlement_transfer_completed": "Money moved to your bank or wallet",
    "customer_created": "New customer",
    "card_transaction_received": "Card payment received",
    "card_transaction_voided": "Card payment voided",
    "card_transaction_reversed": "Card payment reversed",
    "incoming_payment": "Payment request result",
    "payment": "Payout result",
    "settlement_transfer": "Transfer to your account result",
    "send_money": "Send money result",
    "unknown": "Unrecognised delivery",
}


def event_kind(kind: str) -> str:
    """What K2 delivered (a webhook topic or a result type), as people say it."""
    if kind.startswith("daraja:"):
        return f"M-Pesa notice ({kind.removeprefix('daraja:')})"
    return _EVENT_KINDS.get(kind) or kind.replace("_", " ").capitalize()


def kes(amount: Decimal | None, *, cents: bool = False) -> str:
    """`KES 1,250` (whole shillings: M-Pesa's rail) or `KES 1,250.50` with `cents`."""
    if amount is None:
        return ""
    return f"KES {amount:,.2f}" if cents else f"KES {amount:,.0f}"


def phone(e164: str | None) -> str:
    """`+254712345678` as Kenyans write it: `0712 345 678` (other countries' numbers as stored)."""
    if not e164:
        return ""
    if e164.startswith("+254") and len(e164) == 13:  # masked ones too: +254712***678 reads 0712 *** 678
        local = "0" + e164[4:]
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return e164


@dataclass(frozen=True, slots=True)
class Status:
    """A request's state in words: a short label for tables, and what it means or what to do."""

    label: str
    detail: str
    tone: str  # "success", "info", "warning" or "error": how a page shows it


def request_status(state: OutboxState, reason: str | None, age: timedelta) -> Status:
    """An M-Pesa prompt's state as the shop owner reads it, from its state, reason and age."""
    words = (reason or "").lower()
    if state is OutboxState.SUCCEEDED:
        return Status("Paid", "The customer paid.", "success")
    if state is OutboxState.FAILED:
        if "cancel" in words:
            return Status("Cancelled", "The customer cancelled the prompt.", "error")
        if any(phrase in words for phrase in _NO_ANSWER_WORDS):
            return Status("No answer", "The customer did not answer the prompt in time.", "error")
        return Status("Failed", reason or "M-Pesa did not take the payment.", "error")
    if state is OutboxState.AWAITING_APPROVAL:
        return Status("Waiting for approval", "A second person must approve it before it is sent.", "info")
    if state is OutboxState.DECLINED:
        return Status("Declined", reason or "It was not approved; nothing was sent.", "error")
    if state in (OutboxState.QUEUED, OutboxState.SENDING):
        return Status("Sending", "Sending the prompt to the customer's phone.", "info")
    if state is OutboxState.ACCEPTED:
        if age > _NO_ANSWER_AFTER:
            return Status("No answer yet", "The customer has not answered; K2 is asked for the result.", "warning")
        return Status("Waiting for customer", "The prompt is on their phone: they enter their M-Pesa PIN to pay.",
                      "info")
    if state is OutboxState.UNKNOWN:
        if age > _GIVE_UP_AFTER:
            return Status("Outcome unknown", "K2 never confirmed this request. Check the customer's M-Pesa message "
                          "or your K2 dashboard before asking again.", "warning")
        return Status("Outcome unknown", "K2 did not answer, so the customer may have the prompt. It shows here "
                      "when K2 tells us; do not ask again until then.", "warning")
    if state is OutboxState.REJECTED:
        return Status("Refused by K2", reason or "K2 refused the request; nothing was sent.", "error")
    return Status("Not sent", reason or "K2 could not be reached; nothing was sent. Try again.", "error")

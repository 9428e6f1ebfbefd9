"""Display words: how amounts, phones and request states read to a Kenyan shop owner. Pages branch on states,
never on these words."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from merchant.access import AuditAction, written_phone
from merchant.outbound import OutboxState
from merchant.payouts.batches import RowStatus

__all__ = [
    "AUDIT_ACTIONS",
    "PAYMENT_KINDS",
    "PAYMENT_STATUSES",
    "Status",
    "batch_row_meaning",
    "compared_with",
    "destination",
    "event_kind",
    "history_filled",
    "kes",
    "kes_exact",
    "kes_in_words",
    "moved",
    "nairobi_clock",
    "payee_kind",
    "payment_kind",
    "payment_status",
    "payout_status",
    "phone",
    "request_status",
    "shillings_in_words",
    "till_name",
]

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
    "polling": "Payments listed by K2 (history)",
    "unknown": "Unrecognised delivery",
}


def event_kind(kind: str) -> str:
    """What K2 delivered (a webhook topic or a result type), as people say it."""
    if kind.startswith("daraja:"):
        return f"M-Pesa notice ({kind.removeprefix('daraja:')})"
    return _EVENT_KINDS.get(kind) or kind.replace("_", " ").capitalize()


# Money in: what kind of payment, and whether it stayed (`merchant.money_in.KINDS`, `STATUSES`).
PAYMENT_KINDS = {"buygoods": "Till payment", "b2b": "From a business (B2B)", "m2m": "Merchant to merchant",
                 "card": "Card"}
PAYMENT_STATUSES = {"received": "Received", "reversed": "Reversed", "voided": "Voided"}


def payment_kind(kind: str) -> str:
    """A payment's stored kind as people say it: `buygoods` is a "Till payment"."""
    return PAYMENT_KINDS.get(kind) or kind.replace("_", " ").capitalize()


def payment_status(status: str) -> str:
    """A payment's stored status as people say it: "Received", "Reversed", "Voided"."""
    return PAYMENT_STATUSES.get(status) or status.replace("_", " ").capitalize()


def till_name(till_number: str | None) -> str:
    """A till as the Overview labels it: `Till 514459`, or "No till number" for payments that name none."""
    return f"Till {till_number}" if till_number else "No till number"


def compared_with(period: str, previous_end: datetime) -> str:
    """What a KPI tile's figure is set against, to the same point: "yesterday to 14:05", "last week to Wed 14:05",
    "last month to 30 Oct, 14:05" (`period` is `merchant.money_in.overview.Period`'s value)."""
    local = previous_end.astimezone(_NAIROBI)
    if period == "today":
        return f"yesterday to {local:%H:%M}"
    if period == "week":
        return f"last week to {local:%a %H:%M}"
    return f"last month to {local:%-d %b, %H:%M}"


def moved(now: Decimal | int, before: Decimal | int, *, money: bool = True) -> str | None:
    """How a figure moved, for a tile's delta: `+KES 1,200 (+12%)`, `-3`; no percentage against nothing, None for
    no change."""
    if now == before:
        return None
    step = kes(abs(now - before)) if money else f"{abs(now - before):,}"  # type: ignore[arg-type]
    return f"{'+' if now > before else '-'}{step}" + (f" ({(now - before) / before:+.0%})" if before else "")


def history_filled(listed: int, stored: int, already_had: int) -> str:
    """What filling in history found, as "K2 listed 1,234 payments; 17 were missing and are now stored; 1,217 we
    already had"."""
    if not listed:
        return "K2 listed no payments for these days."
    payments = "payment" if listed == 1 else "payments"
    were, are = ("was", "is") if stored == 1 else ("were", "are")
    return (f"K2 listed {listed:,} {payments}; {stored:,} {were} missing and {are} now stored; "
            f"{already_had:,} we already had.")


def kes(amount: Decimal | None, *, cents: bool = False) -> str:
    """`KES 1,250` (whole shillings: M-Pesa's rail) or `KES 1,250.50` with `cents`."""
    if amount is None:
        return ""
    return f"KES {amount:,.2f}" if cents else f"KES {amount:,.0f}"


def phone(e164: str | None) -> str:
    """`+254712345678` as Kenyans write it: `0712 345 678` (masked ones too; other countries' as stored)."""
    return written_phone(e164)


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


# ---------------------------------------------------------------------------------------------- money out

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    tens = _ONES[rest] if rest < 20 else _TENS[rest // 10] + (f"-{_ONES[rest % 10]}" if rest % 10 else "")
    if not hundreds:
        return tens
    return f"{_ONES[hundreds]} hundred" + (f" and {tens}" if rest else "")


def _number_in_words(n: int) -> str:
    """`1250` as a cheque writes it in Kenya: "one thousand two hundred and fifty"."""
    if n == 0:
        return "zero"
    parts: list[str] = []
    for size, name in _SCALES:
        if n >= size:
            parts.append(f"{_number_in_words(n // size)} {name}")
            n %= size
    if n:
        parts.append(("and " if parts and n < 100 else "") + _below_thousand(n))
    return " ".join(parts)


def shillings_in_words(amount: Decimal) -> str:
    """`12500` → "twelve thousand five hundred shillings"; cents follow ("... and fifty cents")."""
    cents = int((amount * 100).to_integral_value())
    shillings, rest = divmod(cents, 100)
    words = f"{_number_in_words(shillings)} shilling{'' if shillings == 1 else 's'}"
    if rest:
        words += f" and {_number_in_words(rest)} cent{'' if rest == 1 else 's'}"
    return words


def kes_exact(amount: Decimal) -> str:
    """`KES 2,500` for whole shillings, `KES 1,250.50` when there are cents: a payout's exact amount."""
    return kes(amount, cents=amount != amount.to_integral_value())


def kes_in_words(amount: Decimal) -> str:
    """An amount in figures and words, as a payment is confirmed: `KES 12,500 (twelve thousand five hundred
    shillings)`; cents show in both when there are any."""
    return f"{kes_exact(amount)} ({shillings_in_words(amount)})"


_PAYEE_KINDS = {"mobile_wallet": "M-Pesa", "bank_account": "Bank account", "till": "Till", "paybill": "Paybill"}


def payee_kind(type: str | None) -> str:
    """A recipient's K2 type as people say it: M-Pesa, Bank account, Till, Paybill."""
    return _PAYEE_KINDS.get(type or "", (type or "").replace("_", " ").capitalize())


def destination(type: str | None, details: dict[str, str]) -> str:
    """Where a payment goes, as the recipient would recognise it: `M-Pesa 0712 345 678`,
    `Bank account 0100234678 (Mama Mboga Ltd)`, `Till 555123`, `Paybill 888880, account 14678`."""
    if type == "mobile_wallet":
        return f"M-Pesa {phone(details.get('phone_number'))}"
    if type == "bank_account":
        name = details.get("account_name")
        return f"Bank account {details.get('account_number', '')}" + (f" ({name})" if name else "")
    if type == "till":
        return f"Till {details.get('till_number', '')}"
    if type == "paybill":
        return f"Paybill {details.get('paybill_number', '')}, account {details.get('paybill_account_number', '')}"
    return payee_kind(type)


_K2_FIELDS = {"destination_reference": "recipient", "destination_type": "recipient's type", "amount": "amount",
              "description": "description", "metadata": "reference", "destinations": "recipient",
              "phone_number": "phone number", "account_number": "account number", "till_number": "till number",
              "paybill_number": "paybill number", "paybill_account_number": "paybill account number",
              "bank_branch_ref": "bank branch"}
_PAYOUT_FAILURES = (  # words in K2's reason → what it means for the person paying, and what to do
    ("insufficient", "Not enough money in your K2 account to pay this; nothing was paid. Top up the account (or "
                     "wait for today's takings), then pay again."),
    ("could not receive", "The recipient's account could not take the money; nothing was paid. Check their details "
                          "with them, then pay again."),
    ("timed out", "The transfer timed out and no money moved. You can pay again."),
    ("limit", "M-Pesa's limit for one payment was exceeded; nothing was paid. Split it into smaller payments."),
)


def _refusal(reason: str | None) -> str:
    """K2's refusal of a request (`field: problem`) in plain words; nothing was sent."""
    text = (reason or "").strip().rstrip(".")
    field, colon, problem = text.partition(": ")
    name = field.split(".")[-1].split("[")[0]
    if colon and name in _K2_FIELDS:
        if name == "destination_reference" and "no pay recipient" in problem:
            return ("K2 does not know this recipient (destination_reference); nothing was sent. Add them again on "
                    "Recipients, then pay.")
        return f"K2 refused the {_K2_FIELDS[name]} ({field}: {problem}); nothing was sent."
    return f"{text or 'K2 refused the payment'}; nothing was sent."


def payout_status(state: OutboxState, k2_status: str | None, reason: str | None, age: timedelta) -> Status:
    """A payment's state as the person who pays reads it, from its state, K2's last word, the reason and its age."""
    words = (reason or "").lower()
    if state is OutboxState.SUCCEEDED:
        return Status(k2_status or "Processed", "Paid.", "success")
    if state is OutboxState.FAILED:
        meaning = next((said for phrase, said in _PAYOUT_FAILURES if phrase in words), None)
        return Status("Failed", meaning or f"K2 says: {reason or 'the payment failed'}. Nothing was paid.", "error")
    if state is OutboxState.AWAITING_APPROVAL:
        return Status("Waiting for approval", "Above the approval limit: another finance user or the owner must "
                      "approve it before it is sent.", "info")
    if state is OutboxState.DECLINED:
        return Status("Declined", f"{(reason or 'Not approved').rstrip('.')}. Nothing was sent.", "error")
    if state is OutboxState.QUEUED:
        return Status("Queued", "Waiting its turn to go to K2.", "info")
    if state is OutboxState.SENDING:
        return Status("Sending", "Going to K2 now.", "info")
    if state is OutboxState.ACCEPTED:
        if age > _NO_ANSWER_AFTER:
            return Status(k2_status or "Sent", "K2 has not said it is done yet; we are asking it.", "warning")
        if k2_status:
            return Status(k2_status, "K2 has the payment and is sending it.", "info")
        return Status("Sent", "K2 took the payment; waiting for it to say it is done.", "info")
    if state is OutboxState.UNKNOWN:
        if age > _GIVE_UP_AFTER:
            return Status("Outcome unknown", "K2 never confirmed this payment. Check your K2 dashboard, or ask the "
                          "recipient whether the money arrived, before paying again.", "warning")
        return Status("Outcome unknown", "K2 did not answer, so the money may have gone. Do not pay again: this "
                      "updates when K2 tells us. If it stays like this, check your K2 dashboard.", "warning")
    if state is OutboxState.HELD:
        return Status("Paused", "Its batch is paused: it goes to K2 when the batch is resumed.", "info")
    if state is OutboxState.CANCELLED:
        return Status("Cancelled", "Its batch was cancelled before it went to K2; nothing was paid.", "error")
    if state is OutboxState.REJECTED:
        if "limiting" in words:
            return Status("Refused by K2", "K2 is limiting requests right now; nothing was sent. Pay again in a "
                          "minute.", "error")
        return Status("Refused by K2", _refusal(reason), "error")
    return Status("Not sent", "K2 could not be reached; nothing was sent. Pay again once K2 is back.", "error")


_ROW_MEANINGS = {  # a bulk payout row's status, what it means for the clerk (paid rows need no words)
    RowStatus.AWAITING_APPROVAL: "Goes once another finance user or the owner approves the batch.",
    RowStatus.PREPARING: "Setting up the recipient at K2; it is sent next.",
    RowStatus.QUEUED: "Waiting its turn to go to K2.",
    RowStatus.PAUSED: "The batch is paused: it goes when the batch is resumed.",
    RowStatus.SENDING: "Going to K2 now.",
    RowStatus.SENT: "K2 has it; waiting for M-Pesa or the bank to say it is done.",
    RowStatus.PAID: "",
    RowStatus.NEEDS_REVIEW: "K2 may have paid it; it settles when K2's result arrives. Do not pay it again "
                            "meanwhile.",
    RowStatus.CANCELLED: "Cancelled before it was sent; nothing was paid.",
}


def batch_row_meaning(status: RowStatus, reason: str | None) -> str:
    """What one row of a bulk payout's status means, and what to do: a failure read as `payout_status` reads it."""
    if status is RowStatus.FAILED:
        meaning = next((said for phrase, said in _PAYOUT_FAILURES if phrase in (reason or "").lower()), None)
        return meaning or f"K2 says: {(reason or 'the payment failed').rstrip('.')}. Nothing was paid."
    if status is RowStatus.NOT_SENT:
        return _refusal(reason) if reason else "K2 could not be reached; nothing was sent."
    return _ROW_MEANINGS[status]


# What each audit entry records, as the owner reads it on the audit trail.
AUDIT_ACTIONS: dict[AuditAction, str] = {
    AuditAction.SIGNED_IN: "Signed in",
    AuditAction.SIGN_IN_FAILED: "Wrong password",
    AuditAction.SIGN_IN_REFUSED: "Sign-in refused (locked out or disabled)",
    AuditAction.SIGNED_OUT: "Signed out",
    AuditAction.SIGNED_OUT_EVERYWHERE: "Signed out everywhere",
    AuditAction.SESSION_EXPIRED: "Signed out for being idle",
    AuditAction.OWNER_CREATED: "Created the owner account",
    AuditAction.USER_ADDED: "Added a user",
    AuditAction.ROLE_CHANGED: "Changed a role",
    AuditAction.USER_DISABLED: "Disabled a user",
    AuditAction.USER_ENABLED: "Enabled a user",
    AuditAction.PASSWORD_RESET: "Reset a password",
    AuditAction.SETTINGS_CHANGED: "Changed the settings",
    AuditAction.CONNECTION_TESTED: "Tested the K2 connection",
    AuditAction.WEBHOOKS_SUBSCRIBED: "Subscribed to K2 webhooks",
    AuditAction.MONEY_REQUESTED: "Asked for money",
    AuditAction.APPROVED: "Approved a payment",
    AuditAction.DECLINED: "Declined a payment",
    AuditAction.EXPORTED: "Exported",
    AuditAction.REPROCESSED: "Reprocessed deliveries",
    AuditAction.RECIPIENT_CHANGED: "Changed a payout recipient",
    AuditAction.SETTLEMENT_ACCOUNT_ADDED: "Added a settlement account",
    AuditAction.HISTORY_FILLED: "Filled in history from K2",
    AuditAction.HISTORY_CHECKED: "Checked yesterday's payments against K2",
    AuditAction.BATCH_SUBMITTED: "Submitted a payout batch",
    AuditAction.BATCH_CHANGED: "Paused, resumed or cancelled a batch",
}

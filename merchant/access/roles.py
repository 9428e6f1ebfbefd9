"""Who may do what: the roles, the permissions, and the one table between them."""
from __future__ import annotations

from enum import StrEnum

from k2.phones import written as written_phone  # what anyone sees of a phone, masked or not

__all__ = ["ROLE_PERMISSIONS", "NotAllowed", "Permission", "Role", "can", "mask_phone", "written_phone"]


class Role(StrEnum):
    """A user's role; stored as its value."""

    OWNER = "owner"  # everything, including users and settings
    FINANCE = "finance"  # payouts, settlements, approvals, exports
    CASHIER = "cashier"  # ask to pay, see money in
    VIEWER = "viewer"  # charts and tables; no actions, phone numbers masked


class Permission(StrEnum):
    """One thing a person may see or do."""

    SEE_MONEY_IN = "see_money_in"
    SEE_PHONES = "see_phones"  # phone numbers unmasked
    ASK_TO_PAY = "ask_to_pay"
    EXPORT = "export"
    PAY_OUT = "pay_out"
    APPROVE = "approve"
    SETTLE = "settle"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"
    SEE_AUDIT = "see_audit"
    SEE_EVENTS = "see_events"
    REPROCESS = "reprocess"
    FILL_HISTORY = "fill_history"  # ask K2 for past payments and store the ones webhooks missed


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.FINANCE: frozenset({_P.SEE_MONEY_IN, _P.SEE_PHONES, _P.EXPORT, _P.PAY_OUT, _P.APPROVE, _P.SETTLE,
                             _P.FILL_HISTORY}),
    Role.CASHIER: frozenset({_P.SEE_MONEY_IN, _P.SEE_PHONES, _P.ASK_TO_PAY}),
    Role.VIEWER: frozenset({_P.SEE_MONEY_IN}),
}


def can(role: Role, permission: Permission) -> bool:
    """Whether `role` has `permission`."""
    return permission in ROLE_PERMISSIONS[role]


class NotAllowed(PermissionError):
    """The acting user's role does not allow this; the message says which role would."""

    def __init__(self, role: Role, permission: Permission) -> None:
        allowed = [other.value for other in Role if can(other, permission)]
        super().__init__(f"Your role ({role.value}) cannot do this; ask someone who is {' or '.join(allowed)}.")
        self.role = role
        self.permission = permission


def mask_phone(e164: str | None) -> str | None:
    """A phone number a viewer may see: `+254712***678` (enough to tell two payers apart, not to call them)."""
    if not e164 or len(e164) < 10:
        return e164
    return f"{e164[:7]}***{e164[-3:]}"

"""Money out: the recipients the business pays, and the bank branches their accounts are at."""
from __future__ import annotations

from .branches import BankBranchView, add_branch, branch_reference, list_branches, remove_branch
from .recipients import (
    FIELD_LABELS,
    RECIPIENT_FIELDS,
    DuplicateRecipient,
    RecipientNotAdded,
    RecipientState,
    RecipientType,
    RecipientView,
    add_recipient,
    check_recipient,
    destination_key,
    disable_recipient,
    get_recipient,
    list_recipients,
    rename_recipient,
)

__all__ = [
    "BankBranchView",
    "add_branch",
    "branch_reference",
    "list_branches",
    "remove_branch",
    "FIELD_LABELS",
    "RECIPIENT_FIELDS",
    "DuplicateRecipient",
    "RecipientNotAdded",
    "RecipientState",
    "RecipientType",
    "RecipientView",
    "add_recipient",
    "check_recipient",
    "destination_key",
    "disable_recipient",
    "get_recipient",
    "list_recipients",
    "rename_recipient",
]

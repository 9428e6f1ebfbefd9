"""A PAY recipient (v1) or external recipient (v2) as K2 stored it; pay it by `recipient_reference`."""

from __future__ import annotations

from typing import Literal

from ._common import OptionalText, StatusDocument

__all__ = ["PayRecipient"]


class PayRecipient(StatusDocument):
    """`pay_recipient` or `external_recipient`; the type-specific fields are set for its `recipient_type`."""

    type: Literal["pay_recipient", "external_recipient"]

    recipient_type: str | None = None
    recipient_reference: str | None = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    phone_number: OptionalText = None
    network: OptionalText = None
    email: OptionalText = None
    account_name: OptionalText = None
    account_number: OptionalText = None
    bank_branch_ref: OptionalText = None
    settlement_method: OptionalText = None
    till_name: OptionalText = None
    till_number: OptionalText = None
    paybill_name: OptionalText = None
    paybill_number: OptionalText = None
    paybill_account_number: OptionalText = None
    nickname: OptionalText = None

"""The Daraja-format webhook body (v2 `enable_daraja_payload`): flat Safaricom field names, no topic."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator

from ._common import Amount, K2Model, OptionalAmount, OptionalText

__all__ = ["DarajaEvent"]

_NAIROBI = ZoneInfo("Africa/Nairobi")


class DarajaEvent(K2Model):
    """The flat Safaricom-style body a v2 subscription with `enable_daraja_payload` receives (no topic, no id)."""

    transaction_type: str = Field(alias="TransactionType")
    trans_id: str = Field(alias="TransID")
    trans_time: datetime = Field(alias="TransTime")
    amount: Amount = Field(alias="TransAmount")
    business_short_code: OptionalText = Field(default=None, alias="BusinessShortCode")
    bill_ref_number: OptionalText = Field(default=None, alias="BillRefNumber")
    invoice_number: OptionalText = Field(default=None, alias="InvoiceNumber")
    third_party_trans_id: OptionalText = Field(
        default=None, validation_alias=AliasChoices("ThirdPartyTransID", "ThirdPartyTransId")
    )
    msisdn: OptionalText = Field(default=None, alias="MSISDN")
    first_name: OptionalText = Field(default=None, alias="FirstName")
    middle_name: OptionalText = Field(default=None, alias="MiddleName")
    last_name: OptionalText = Field(default=None, alias="LastName")
    org_account_balance: OptionalAmount = Field(default=None, alias="OrgAccountBalance")

    @field_validator("trans_time", mode="before")
    @classmethod
    def _nairobi_time(cls, value: Any) -> Any:
        """`TransTime` is Nairobi wall-clock `YYYYMMDDHHMMSS`; store it as an aware UTC time."""
        if isinstance(value, str) and len(value) == 14 and value.isdigit():
            local = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=_NAIROBI)
            return local.astimezone(timezone.utc)
        if isinstance(value, datetime):
            return value
        raise ValueError("TransTime must be YYYYMMDDHHMMSS")

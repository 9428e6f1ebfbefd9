"""`customer_created` resource: a first-time payer's name and phone."""

from __future__ import annotations

from ._common import K2Model, OptionalText

__all__ = ["Customer"]


class Customer(K2Model):
    """A first-time payer (`customer_created`); K2 gives it no id of its own."""

    first_name: OptionalText = None
    middle_name: OptionalText = None
    last_name: OptionalText = None
    phone_number: OptionalText = None

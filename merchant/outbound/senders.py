"""How each kind of request is sent to K2, and what K2's answer (or silence) means for it.

The only code that calls a money-moving `create`: the outbox worker hands it a claimed row."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from k2 import (
    APIConnectionError,
    APIStatusError,
    K2Client,
    K2Error,
    OutcomeUnknownError,
    RateLimitError,
    RequestValidationError,
)
from k2.types.send_money_params import Destination

from .states import OutboxState

_DESTINATIONS = TypeAdapter(list[Destination])  # send_money's destinations, stored as JSON in the outbox

__all__ = ["SENDERS", "Answer", "send"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one send ended in: ACCEPTED with K2's Location, or a state with the reason in plain words."""

    state: OutboxState
    location: str | None = None
    reason: str | None = None


def _incoming_payment(client: K2Client, params: dict[str, Any], callback_url: str) -> str:
    return client.incoming_payments.create(
        till_number=params["till_number"],
        phone_number=params["phone_number"],
        amount=Decimal(params["amount"]),
        callback_url=callback_url,
        first_name=params.get("first_name"),
        last_name=params.get("last_name"),
        metadata=params["metadata"],
    )


def _payment(client: K2Client, params: dict[str, Any], callback_url: str) -> str:
    return client.payments.create(
        destination_type=params["destination_type"],
        destination_reference=params["destination_reference"],
        amount=Decimal(params["amount"]),
        description=params["description"],
        callback_url=callback_url,
        metadata=params["metadata"],
    )


def _settlement_transfer(client: K2Client, params: dict[str, Any], callback_url: str) -> str:
    if params.get("destination_reference") is None:  # blind: everything to the default settlement account
        return client.settlement_transfers.sweep(callback_url=callback_url, metadata=params["metadata"])
    return client.settlement_transfers.create(
        amount=Decimal(params["amount"]),
        destination_type=params["destination_type"],
        destination_reference=params["destination_reference"],
        callback_url=callback_url,
        metadata=params["metadata"],
    )


def _send_money(client: K2Client, params: dict[str, Any], callback_url: str) -> str:
    if not params.get("destinations"):  # the sweep: everything to the preferred merchant accounts
        return client.v2.send_money.sweep(callback_url=callback_url, metadata=params["metadata"])
    return client.v2.send_money.create(
        destinations=_DESTINATIONS.validate_python(params["destinations"]), callback_url=callback_url,
        metadata=params["metadata"],
    )


SENDERS: dict[str, Callable[[K2Client, dict[str, Any], str], str]] = {
    "incoming_payment": _incoming_payment,
    "payment": _payment,
    "settlement_transfer": _settlement_transfer,
    "send_money": _send_money,
}


def send(client: K2Client, kind: str, params: dict[str, Any], callback_url: str) -> Answer:
    """POST one request once, never again whatever happens; what K2 answered, as an outbox state."""
    try:
        location = SENDERS[kind](client, params, callback_url)
    except OutcomeUnknownError:  # before APIConnectionError: it is one, but the POST was sent
        return Answer(OutboxState.UNKNOWN, reason="K2 did not answer in time.")
    except APIConnectionError:
        return Answer(OutboxState.NOT_SENT, reason="K2 could not be reached; nothing was sent.")
    except RateLimitError:
        return Answer(OutboxState.REJECTED, reason="K2 is limiting requests right now; nothing was sent.")
    except APIStatusError as err:
        if err.status_code >= 500:  # a gateway's 502/504 may have passed the request on
            return Answer(OutboxState.UNKNOWN, reason=f"K2 answered with an error ({err.status_code}).")
        return Answer(OutboxState.REJECTED, reason=err.error_message or f"K2 refused it ({err.status_code}).")
    except RequestValidationError as err:
        return Answer(OutboxState.REJECTED, reason=str(err))
    except K2Error:  # accepted, but no usable Location: only the result callback can settle it now
        log.exception("outbox: K2's answer to a %s could not be read", kind)
        return Answer(OutboxState.UNKNOWN, reason="K2's answer could not be read.")
    except Exception:  # the worker must outlive any one request; this one may have been sent
        log.exception("outbox: sending a %s failed unexpectedly", kind)
        return Answer(OutboxState.UNKNOWN, reason="Sending was interrupted.")
    return Answer(OutboxState.ACCEPTED, location=location)

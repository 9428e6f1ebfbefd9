"""Recipients the business pays: created at K2 once (v1 `pay_recipients`, v2 `external_recipients`), kept here
with K2's `recipient_reference`, a nickname and who added them.

Adding one checks every field before anything is sent (`InputError` naming the field), flags a second recipient
for the same phone, account or till (`DuplicateRecipient`), then reserves the row (a unique key, so a double
click or two tabs never create two at K2), asks K2, and stores K2's Location and reference. K2 refusing removes
the row (`InputError` naming K2's field in plain words); K2 not answering keeps it, not confirmed."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from k2 import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    K2Client,
    K2Error,
    RequestValidationError,
)
from k2.types.account_params import BankAccountRecipient, MobileWalletRecipient, PaybillRecipient, TillRecipient

from ..db import writing
from ..access import AuditAction, Permission, User, record, require
from ..db.tables import Recipient
from ..errors import InputError
from ..preferences import load_preferences
from ..runtime import Runtime
from .branches import branch_reference

__all__ = [
    "FIELD_LABELS",
    "RECIPIENT_FIELDS",
    "DuplicateRecipient",
    "RecipientNotAdded",
    "RecipientState",
    "RecipientType",
    "RecipientView",
    "add_recipient",
    "check_recipient",
    "checked_details",
    "checked_nickname",
    "destination_key",
    "disable_recipient",
    "get_recipient",
    "list_recipients",
    "rename_recipient",
]

log = logging.getLogger(__name__)

RECIPIENTS: Table = Recipient.__table__  # type: ignore[attr-defined]
_RESERVED = "adding:"  # k2_reference while K2 is being asked: unique per destination and count, never a reference
_STALE = timedelta(minutes=2)  # a reservation older than this was cut short (the process died): not confirmed
_NICKNAME_MAX = 60


class RecipientType(StrEnum):
    """K2's recipient types; stored as their value."""

    MOBILE_WALLET = "mobile_wallet"
    BANK_ACCOUNT = "bank_account"
    TILL = "till"
    PAYBILL = "paybill"


class RecipientState(StrEnum):
    """Where a recipient stands with K2."""

    ADDING = "adding"  # reserved here, K2 being asked right now
    UNCONFIRMED = "unconfirmed"  # K2 did not answer (or we stopped before it did): K2 may or may not have it
    CONFIRMED = "confirmed"  # K2 gave its reference: payable


# The K2 fields of each type, in form order (the ones a person types; `network` has a default, `email` optional).
RECIPIENT_FIELDS: dict[RecipientType, tuple[str, ...]] = {
    RecipientType.MOBILE_WALLET: ("first_name", "last_name", "phone_number", "network", "email"),
    RecipientType.BANK_ACCOUNT: ("account_name", "account_number", "bank_branch_ref", "settlement_method"),
    RecipientType.TILL: ("till_name", "till_number"),
    RecipientType.PAYBILL: ("paybill_name", "paybill_number", "paybill_account_number"),
}

FIELD_LABELS: dict[str, str] = {
    "type": "Type",
    "nickname": "Nickname",
    "first_name": "First name",
    "last_name": "Last name",
    "phone_number": "Phone number",
    "network": "Network",
    "email": "Email",
    "account_name": "Account name",
    "account_number": "Account number",
    "bank_branch_ref": "Bank branch reference",
    "settlement_method": "Settlement method",
    "till_name": "Till name",
    "till_number": "Till number",
    "paybill_name": "Paybill name",
    "paybill_number": "Paybill number",
    "paybill_account_number": "Paybill account number",
}

_MODELS: dict[RecipientType, Any] = {
    RecipientType.MOBILE_WALLET: MobileWalletRecipient,
    RecipientType.BANK_ACCOUNT: BankAccountRecipient,
    RecipientType.TILL: TillRecipient,
    RecipientType.PAYBILL: PaybillRecipient,
}
_NAME_FIELD = {
    RecipientType.MOBILE_WALLET: "first_name",
    RecipientType.BANK_ACCOUNT: "account_name",
    RecipientType.TILL: "till_name",
    RecipientType.PAYBILL: "paybill_name",
}
_KEY_FIELD = {  # the field a duplicate is reported against
    RecipientType.MOBILE_WALLET: "phone_number",
    RecipientType.BANK_ACCOUNT: "account_number",
    RecipientType.TILL: "till_number",
    RecipientType.PAYBILL: "paybill_account_number",
}
_BRANCH_HELP = ("Bank branch reference: pick a branch, or paste its reference from the K2 dashboard "
                "(like 3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c).")
_MISSING = {"bank_branch_ref": _BRANCH_HELP, "settlement_method": "Settlement method: choose EFT or RTS."}
_K2_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*)\s*:\s*(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RecipientView:
    """One recipient as stored. `details` holds the K2 fields as sent (phone in E.164); `k2_reference` is K2's
    `recipient_reference` (the `destination_reference` of a payment), None until K2 confirmed it."""

    id: int
    type: RecipientType
    nickname: str
    details: dict[str, str]
    destination_key: str
    api_version: str
    k2_reference: str | None
    k2_location: str | None
    state: RecipientState
    disabled: bool
    created_by: str
    created_at: datetime

    @property
    def confirmed(self) -> bool:
        """K2 holds it and gave its reference: it can be paid."""
        return self.state is RecipientState.CONFIRMED

    @property
    def name(self) -> str:
        """The name K2 knows it by (first and last name, account, till or paybill name)."""
        if self.type is RecipientType.MOBILE_WALLET:
            return " ".join(part for part in (self.details.get("first_name"), self.details.get("last_name")) if part)
        return self.details.get(_NAME_FIELD[self.type], "")

    @classmethod
    def of(cls, row: Row, *, now: datetime | None = None) -> RecipientView:
        reference = row.k2_reference
        if reference and reference.startswith(_RESERVED):
            stale = row.created_at < (now or datetime.now(UTC)) - _STALE
            state = RecipientState.UNCONFIRMED if stale else RecipientState.ADDING
            reference = None
        elif reference:
            state = RecipientState.CONFIRMED
        else:
            state = RecipientState.UNCONFIRMED
        return cls(row.id, RecipientType(row.type), row.nickname, json.loads(row.details_json), row.destination_key,
                   row.api_version, reference, row.k2_location, state, bool(row.disabled), row.created_by,
                   row.created_at)


class DuplicateRecipient(InputError):
    """A recipient for the same phone, account or till exists already; `existing` lists them. Add again with
    `confirm_duplicate=True` once the person said it is meant."""

    def __init__(self, field: str, message: str, existing: list[RecipientView]) -> None:
        super().__init__(field, message)
        self.existing = existing


class RecipientNotAdded(Exception):
    """K2 could not be asked or failed on its side; nothing was kept. The message says so in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _engine(runtime: Runtime) -> Engine:
    assert runtime.engine is not None, "the runtime is not started"
    return runtime.engine


def checked_details(type: str, details: dict[str, Any]) -> tuple[RecipientType, Any]:
    """The k2 request model for this input; `InputError` naming the first field that is wrong (blank fields
    are left out: a blank optional one is fine, a blank required one is named)."""
    try:
        kind = RecipientType(type)
    except ValueError:
        raise InputError("type", "Type: choose M-Pesa wallet, bank account, till or paybill.") from None
    allowed = RECIPIENT_FIELDS[kind]
    fields: dict[str, Any] = {}
    for name, value in details.items():
        if name not in allowed:
            raise InputError(name, f"{FIELD_LABELS.get(name, name)}: is not a detail of a {kind.value} recipient.")
        text = value.strip() if isinstance(value, str) else value
        if text in (None, ""):
            continue  # blank optional fields are left out; blank required ones are named below
        fields[name] = text
    for name in allowed:
        if name not in fields and name not in ("email", "network"):
            raise InputError(name, _MISSING.get(name, f"{FIELD_LABELS[name]}: enter it."))
    if kind is RecipientType.BANK_ACCOUNT:
        try:
            fields["bank_branch_ref"] = branch_reference(str(fields["bank_branch_ref"]))
        except InputError:
            raise InputError("bank_branch_ref", _BRANCH_HELP) from None
        fields["settlement_method"] = str(fields["settlement_method"]).upper()
    if kind is not RecipientType.MOBILE_WALLET:  # numbers K2 matches digit for digit: typed spaces left out
        for name in ("till_number", "paybill_number", "account_number"):
            if name in fields:
                fields[name] = re.sub(r"\s", "", str(fields[name]))
    try:
        return kind, _MODELS[kind](**fields)
    except RequestValidationError as err:
        label = FIELD_LABELS.get(err.field, err.field)
        problem = str(err).removeprefix(f"{err.field}: ")
        if err.field == "settlement_method":
            problem = "choose EFT or RTS"
        raise InputError(err.field, f"{label}: {problem}.") from None


def _plain(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def destination_key(type: str, details: dict[str, str]) -> str:
    """Where the money would go, normalised: a second recipient with the same key is flagged.

    Wallet: the E.164 phone; bank: branch reference and account number; till: its number; paybill: its number and
    the account number."""
    kind = RecipientType(type)
    if kind is RecipientType.MOBILE_WALLET:
        return f"{kind.value}:{details['phone_number']}"
    if kind is RecipientType.BANK_ACCOUNT:
        return f"{kind.value}:{details['bank_branch_ref'].lower()}:{_plain(details['account_number'])}"
    if kind is RecipientType.TILL:
        return f"{kind.value}:{_plain(details['till_number'])}"
    return f"{kind.value}:{_plain(details['paybill_number'])}:{_plain(details['paybill_account_number'])}"


def checked_nickname(nickname: str | None, kind: RecipientType, details: dict[str, str]) -> str:
    """The nickname with spaces folded, or the name K2 knows when blank; `InputError` when too long."""
    text = " ".join((nickname or "").split())
    if not text:
        if kind is RecipientType.MOBILE_WALLET:
            text = f"{details['first_name']} {details['last_name']}"
        else:
            text = details[_NAME_FIELD[kind]]
    if len(text) > _NICKNAME_MAX:
        raise InputError("nickname", f"Nickname: at most {_NICKNAME_MAX} characters.")
    return text


def _rows_for(connection: Connection, key: str) -> list[Row]:
    return list(connection.execute(
        select(RECIPIENTS).where(RECIPIENTS.c.destination_key == key).order_by(RECIPIENTS.c.id)))


def _duplicate(kind: RecipientType, existing: list[RecipientView]) -> DuplicateRecipient:
    field = _KEY_FIELD[kind]
    what = {RecipientType.MOBILE_WALLET: "phone number", RecipientType.BANK_ACCOUNT: "bank account",
            RecipientType.TILL: "till", RecipientType.PAYBILL: "paybill and account number"}[kind]
    names = ", ".join(f"{view.nickname}{' (disabled)' if view.disabled else ''}" for view in existing)
    return DuplicateRecipient(field, f"{FIELD_LABELS[field]}: this {what} is already a recipient ({names}); "
                                     "add it again only if you mean to.", existing)


def _reserve(
    engine: Engine, actor: User, kind: RecipientType, nickname: str, details: dict[str, str], key: str,
    api_version: str, *, confirm_duplicate: bool,
) -> int:
    """Write our row before K2 is asked. Its `k2_reference` holds a reservation unique to this destination and
    the number of recipients already there, so two requests racing for the same one cannot both be written."""
    now = datetime.now(UTC)
    for attempt in range(2):
        try:
            with writing(engine) as connection:
                rows = _rows_for(connection, key)
                if rows and not confirm_duplicate:
                    raise _duplicate(kind, [RecipientView.of(row, now=now) for row in rows])
                return int(connection.execute(
                    insert(RECIPIENTS).values(
                        type=kind.value, nickname=nickname, details_json=json.dumps(details, sort_keys=True),
                        destination_key=key, api_version=api_version,
                        k2_reference=f"{_RESERVED}{key}#{len(rows)}", k2_location=None, disabled=False,
                        created_by=actor.username, created_at=now,
                    ).returning(RECIPIENTS.c.id)
                ).scalar_one())
        except IntegrityError:
            if attempt == 0 and _release_stale(engine, key, now):
                continue  # a reservation left by a request that never finished: taken over, try once more
            raise InputError(_KEY_FIELD[kind], "This recipient is being added right now (another click or tab); "
                                               "wait a moment and look at the list.") from None
    raise AssertionError("unreachable")


def _release_stale(engine: Engine, key: str, now: datetime) -> bool:
    """Mark reservations for `key` older than `_STALE` as not confirmed (they keep their row, lose the key)."""
    with engine.begin() as connection:
        released = connection.execute(
            update(RECIPIENTS)
            .where(RECIPIENTS.c.destination_key == key, RECIPIENTS.c.k2_reference.like(f"{_RESERVED}%"),
                   RECIPIENTS.c.created_at < now - _STALE)
            .values(k2_reference=None)
        ).rowcount
    return bool(released)


def _refusal(error: APIStatusError) -> InputError:
    """K2's refusal as an `InputError` naming K2's field in plain words ("K2 refused the till number: ...")."""
    message = (error.error_message or "").strip()
    field = getattr(error, "field", None)
    problem = message
    match = _K2_FIELD.match(message)
    if match:
        field = field or match.group(1)
        problem = match.group(2).strip()
    if field:
        name = field.rsplit(".", 1)[-1]
        label = FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
        return InputError(name, f"K2 refused the {label[0].lower()}{label[1:]}: {problem or 'not accepted'}.")
    return InputError("k2", f"K2 refused this recipient: {problem or f'answer {error.status_code}'}.")


def _ask_k2(client: K2Client, params: Any, api_version: str) -> str:
    resource = client.v2.external_recipients if api_version == "v2" else client.pay_recipients
    return resource.create(params)


def _fetch_reference(client: K2Client, location: str, api_version: str) -> str | None:
    resource = client.v2.external_recipients if api_version == "v2" else client.pay_recipients
    return resource.get(location).recipient_reference


def add_recipient(
    runtime: Runtime,
    actor: User,
    *,
    type: str,
    nickname: str | None,
    details: dict[str, Any],
    confirm_duplicate: bool = False,
    source: str | None = None,
) -> RecipientView:
    """Add a recipient at K2 (v1 or v2, as the owner chose) and here, if `actor` may pay out (`NotAllowed`).

    `details` are K2's fields for `type` (`RECIPIENT_FIELDS`); a blank nickname becomes the name. Raises
    `InputError` (bad input, or K2 refusing a field), `DuplicateRecipient` (same destination, not confirmed),
    `RecipientNotAdded` (K2 unreachable or failing; nothing kept). K2 not answering returns the recipient
    `UNCONFIRMED`: it may exist at K2, so it is kept and never sent twice."""
    require(actor, Permission.PAY_OUT)
    kind, params = checked_details(type, details)
    client = runtime.client
    if client is None:
        raise RecipientNotAdded("There is no K2 account set up (K2_CLIENT_ID and K2_CLIENT_SECRET): nothing was "
                                "added.")
    engine = _engine(runtime)
    api_version = load_preferences(engine).payout_api
    fields = {name: str(value) for name, value in params.wire().items() if name not in ("type", "nickname")}
    name = checked_nickname(nickname, kind, fields)
    key = destination_key(kind, fields)
    if api_version == "v2":
        params = params.model_copy(update={"nickname": name})
    recipient_id = _reserve(engine, actor, kind, name, fields, key, api_version, confirm_duplicate=confirm_duplicate)
    location: str | None = None
    reference: str | None = None
    try:
        location = _ask_k2(client, params, api_version)
    except APITimeoutError:
        log.warning("K2 did not answer adding recipient %s: kept as not confirmed", recipient_id)
    except K2Error as err:
        with engine.begin() as connection:
            connection.execute(delete(RECIPIENTS).where(RECIPIENTS.c.id == recipient_id))
        if isinstance(err, APIStatusError) and err.status_code in (400, 409, 422):
            raise _refusal(err) from None
        raise RecipientNotAdded(_unavailable(err)) from None
    if location is not None:
        try:
            reference = _fetch_reference(client, location, api_version)
        except K2Error as err:  # K2 has it; its reference can be fetched later (check_recipient)
            log.warning("K2 created recipient %s but its reference could not be read: %s", recipient_id, err)
    return _settle(engine, actor, recipient_id, location, reference, source=source, added=True)


def _unavailable(error: K2Error) -> str:
    if isinstance(error, AuthenticationError):
        return "K2 refused our credentials (K2_CLIENT_ID, K2_CLIENT_SECRET): nothing was added. Tell the owner."
    if isinstance(error, APIConnectionError):
        return "Could not reach K2: nothing was added. Check the connection and try again."
    if isinstance(error, APIStatusError) and error.status_code == 429:
        return "K2 is busy (too many requests): nothing was added. Try again in a minute."
    return "K2 could not add the recipient (a problem on K2's side): nothing was added. Try again later."


def _settle(
    engine: Engine, actor: User, recipient_id: int, location: str | None, reference: str | None, *,
    source: str | None, added: bool,
) -> RecipientView:
    """Store what K2 said (the reservation becomes K2's reference, or is released) and audit it."""
    with engine.begin() as connection:
        row = connection.execute(
            update(RECIPIENTS).where(RECIPIENTS.c.id == recipient_id)
            .values(k2_reference=reference, k2_location=location).returning(*RECIPIENTS.c)
        ).one()
        view = RecipientView.of(row)
        detail: dict[str, Any] = {"change": "added" if added else "confirmed", "type": view.type.value,
                                  "nickname": view.nickname, "api": view.api_version,
                                  "confirmed": view.confirmed}
        record(connection, AuditAction.RECIPIENT_CHANGED, actor=actor.username, target=f"recipient {recipient_id}",
               detail=detail, source=source)
    return view


def check_recipient(runtime: Runtime, actor: User, recipient_id: int, *, source: str | None = None) -> RecipientView:
    """Ask K2 again for the reference of a recipient it created but whose reference we could not read.

    One whose creation K2 never answered has no Location to ask: it stays not confirmed (`InputError` says so)."""
    require(actor, Permission.PAY_OUT)
    view = _get(_engine(runtime), recipient_id)
    if view.confirmed:
        return view
    if view.k2_location is None or runtime.client is None:
        raise InputError("recipient", "K2 never answered when this recipient was added, so there is nothing to "
                                      "look up: disable it and add it again (confirm the duplicate).")
    try:
        reference = _fetch_reference(runtime.client, view.k2_location, view.api_version)
    except K2Error as err:
        raise RecipientNotAdded(_unavailable(err).replace("nothing was added", "still not confirmed")) from None
    return _settle(_engine(runtime), actor, recipient_id, view.k2_location, reference, source=source, added=False)


def _get(engine: Engine, recipient_id: int) -> RecipientView:
    view = get_recipient(engine, recipient_id)
    if view is None:
        raise InputError("recipient", f"There is no recipient number {recipient_id}.")
    return view


def get_recipient(engine: Engine, recipient_id: int) -> RecipientView | None:
    """The recipient with this id, if any."""
    with engine.connect() as connection:
        row = connection.execute(select(RECIPIENTS).where(RECIPIENTS.c.id == recipient_id)).first()
    return None if row is None else RecipientView.of(row)


def _matches(view: RecipientView, words: list[str]) -> bool:
    text = " ".join([view.nickname, view.name, *view.details.values()]).casefold()
    digits = re.sub(r"\D", "", " ".join(view.details.values()))
    local = re.sub(r"^254", "0", re.sub(r"\D", "", view.details.get("phone_number", "")))
    for word in words:
        number = re.sub(r"[\s+-]", "", word)
        if word in text:
            continue
        if number.isdigit() and (number in digits or (local and number in local)):
            continue
        return False
    return True


def list_recipients(
    engine: Engine, *, search: str | None = None, include_disabled: bool = False, confirmed_only: bool = False,
) -> list[RecipientView]:
    """Recipients by nickname. `search` matches every word in the nickname, names, or numbers (a phone written
    0712…, 712… or +254712…); `confirmed_only` keeps those K2 gave a reference (the payable ones)."""
    query = select(RECIPIENTS).order_by(func.lower(RECIPIENTS.c.nickname), RECIPIENTS.c.id)
    if not include_disabled:
        query = query.where(RECIPIENTS.c.disabled.is_(False))
    now = datetime.now(UTC)
    with engine.connect() as connection:
        views = [RecipientView.of(row, now=now) for row in connection.execute(query)]
    if confirmed_only:
        views = [view for view in views if view.confirmed]
    words = (search or "").casefold().split()
    return [view for view in views if _matches(view, words)] if words else views


def _change(engine: Engine, actor: User, recipient_id: int, values: dict[str, Any], detail: dict[str, Any],
            *, source: str | None) -> RecipientView:
    require(actor, Permission.PAY_OUT)
    with engine.begin() as connection:
        row = connection.execute(
            update(RECIPIENTS).where(RECIPIENTS.c.id == recipient_id).values(**values).returning(*RECIPIENTS.c)
        ).first()
        if row is None:
            raise InputError("recipient", f"There is no recipient number {recipient_id}.")
        record(connection, AuditAction.RECIPIENT_CHANGED, actor=actor.username, target=f"recipient {recipient_id}",
               detail=detail, source=source)
    return RecipientView.of(row)


def rename_recipient(
    engine: Engine, actor: User, recipient_id: int, nickname: str, *, source: str | None = None
) -> RecipientView:
    """Give a recipient another nickname (ours only: K2 keeps the names it was given)."""
    require(actor, Permission.PAY_OUT)
    text = " ".join(nickname.split())
    if not text:
        raise InputError("nickname", "Nickname: enter one.")
    if len(text) > _NICKNAME_MAX:
        raise InputError("nickname", f"Nickname: at most {_NICKNAME_MAX} characters.")
    return _change(engine, actor, recipient_id, {"nickname": text}, {"change": "renamed", "nickname": text},
                   source=source)


def disable_recipient(
    engine: Engine, actor: User, recipient_id: int, *, source: str | None = None
) -> RecipientView:
    """Stop offering a recipient for payment (kept for the history of payments made to it)."""
    return _change(engine, actor, recipient_id, {"disabled": True}, {"change": "disabled"}, source=source)

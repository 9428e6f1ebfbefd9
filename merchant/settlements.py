"""Settlements: the merchant's own bank accounts and M-Pesa wallets at K2, and transfers of its K2 balance to them.

Adding an account asks K2 directly (it moves no money): our row is claimed first, keyed by the account itself, so a
double click or a second tab makes one; then K2 is asked, then its Location read for `account_reference` and status.
A transfer is written to the outbox (`merchant.outbound`) and sent by its worker, never from here: targeted (an
amount to one account) or blind (everything to K2's default settlement account; with v2, the sweep). One form
submission is one transfer: its token becomes our `request_ref`. K2's v1 results carry no metadata, so they are
matched by K2's id; `settlement_transfer_completed` webhooks are matched the same way, where their id is the
transfer's."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine, Row, Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from k2 import (
    APIConnectionError,
    APIStatusError,
    K2Client,
    K2Error,
    OutcomeUnknownError,
    RequestValidationError,
    ValidationError,
)
from k2.phones import kenyan_mobile
from k2.types.account_params import BankAccountDetails, MobileWalletDetails
from k2.types.send_money_params import Destination
from k2.types.transfer_params import SettlementTransferParams, SweepParams

from .access import AuditAction, Permission, User, record, require
from .db import writing
from .db.tables import BankBranch, SendMoneyRecord, Settlement, SettlementAccount, TransferRecord
from .errors import InputError
from .inbox import REQUEST_REF_KEY
from .money import from_cents, to_cents
from .money_in import MoneyInFilter
from .money_in.transactions import totals
from .outbound import OutboxRow, OutboxState, enqueue, queued
from .outbound.outbox import OUTBOX, record_location
from .preferences import load_preferences
from .runtime import Runtime

__all__ = [
    "MAX_WALLET_AMOUNT",
    "Account",
    "AccountKind",
    "Added",
    "K2Settlement",
    "ReceivedSince",
    "Transfer",
    "TransferPlan",
    "accounts",
    "add_bank_account",
    "add_wallet",
    "bank_branches",
    "get_transfer",
    "k2_settlements",
    "match_unanswered",
    "plan_transfer",
    "received_since_last_settlement",
    "refresh_account",
    "request_transfer",
    "transfers",
]

log = logging.getLogger(__name__)

MAX_WALLET_AMOUNT = Decimal(250_000)  # M-Pesa's limit for one transfer to a wallet; K2 fails anything above it
_CLAIM = "adding:"  # k2_reference of a row whose account K2 has not confirmed yet (unique: one per account)
_STALE_CLAIM = timedelta(minutes=1)  # an add K2 never answered may be tried again after this
_ACCOUNTS: Table = SettlementAccount.__table__  # type: ignore[attr-defined]
_BRANCHES: Table = BankBranch.__table__  # type: ignore[attr-defined]
_SETTLEMENTS: Table = Settlement.__table__  # type: ignore[attr-defined]
_V1_RESULTS: Table = TransferRecord.__table__  # type: ignore[attr-defined]
_V2_RESULTS: Table = SendMoneyRecord.__table__  # type: ignore[attr-defined]
_DESTINATIONS = TypeAdapter(list[Destination])
_SWEEP_PARAMS = '"destinations": []'  # how enqueue stores a sweep's params (json.dumps, sort_keys)
_LABELS = {
    "account_name": "Account name", "account_number": "Account number", "bank_branch_ref": "Bank branch",
    "settlement_method": "Settlement method", "first_name": "First name", "last_name": "Last name",
    "phone_number": "Phone number", "network": "Network", "nickname": "Nickname", "amount": "Amount",
    "destination_reference": "Account", "destinations": "Account",
}


class AccountKind(StrEnum):
    """K2's two kinds of settlement account; the value is K2's destination type."""

    BANK = "merchant_bank_account"
    WALLET = "merchant_wallet"


@dataclass(frozen=True, slots=True)
class Account:
    """One settlement account as stored. `reference` is K2's `account_reference` (None until K2 gave it);
    `location` None means K2 never confirmed the account was made (its answer was lost)."""

    id: int
    kind: AccountKind
    nickname: str
    details: dict[str, str]  # the fields as sent to K2
    reference: str | None
    k2_status: str | None
    location: str | None
    created_by: str
    created_at: datetime

    @property
    def ready(self) -> bool:
        """Transfers can go to it: K2 gave its reference."""
        return self.reference is not None

    @classmethod
    def of(cls, row: Row) -> Account:
        reference = row.k2_reference
        return cls(
            id=row.id, kind=AccountKind(row.kind), nickname=row.nickname, details=json.loads(row.details_json),
            reference=None if reference is None or reference.startswith(_CLAIM) else reference,
            k2_status=row.k2_status, location=row.k2_location, created_by=row.created_by, created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class Added:
    """What adding an account did: `created` False when the account was already there (or being added)."""

    account: Account
    created: bool


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """A checked transfer, not yet queued: `account` None is blind (everything to K2's default account, or with
    v2 the sweep to the preferred accounts); `amount` None means everything available."""

    account: Account | None
    amount: Decimal | None
    api: Literal["v1", "v2"]

    @property
    def kind(self) -> str:
        """The outbox kind (and K2 result type) it becomes."""
        return "send_money" if self.api == "v2" else "settlement_transfer"

    def params(self, request_ref: str) -> dict[str, Any]:
        """The K2 request as the outbox stores it (amounts as text, no callback URL)."""
        metadata = {REQUEST_REF_KEY: request_ref}
        account, amount = self.account, self.amount
        if self.api == "v2":
            if account is None or amount is None:
                return {"destinations": [], "metadata": metadata}
            return {"destinations": [{"type": account.kind.value, "reference": account.reference,
                                      "amount": f"{amount:f}"}], "metadata": metadata}
        if account is None or amount is None:
            return {"amount": None, "destination_type": None, "destination_reference": None, "metadata": metadata}
        return {"amount": f"{amount:f}", "destination_type": account.kind.value,
                "destination_reference": account.reference, "metadata": metadata}


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer we asked for, where it stands. `amount` is what was asked (None: everything); `moved` what
    K2 reports moved (its result, else its settlement notice); `references` the M-Pesa or bank references of K2's
    legs; `notice_at` when K2's `settlement_transfer_completed` for it came (matched by K2's id)."""

    request_ref: str
    api: Literal["v1", "v2"]
    account: Account | None
    amount: Decimal | None
    moved: Decimal | None
    state: OutboxState
    k2_status: str | None
    reason: str | None
    references: tuple[str, ...]
    requested_at: datetime
    requested_by: str | None
    notice_at: datetime | None

    @property
    def completed(self) -> bool:
        """K2 reports the money moved: its result, or its settlement notice for this transfer."""
        return self.state is OutboxState.SUCCEEDED or (self.notice_at is not None
                                                      and self.state is not OutboxState.FAILED)


@dataclass(frozen=True, slots=True)
class K2Settlement:
    """A `settlement_transfer_completed` K2 sent: money that left for one of the merchant's own accounts.
    `request_ref` is ours when K2's id matches a transfer we asked for (None: K2's own schedule, or no match)."""

    id: str
    amount: Decimal
    status: str
    destination_type: str | None  # K2's words: "Bank Account" or "Mobile Wallet"
    account: Account | None
    occurred_at: datetime | None
    request_ref: str | None


@dataclass(frozen=True, slots=True)
class ReceivedSince:
    """Money in since the last settlement, from our own tables (what K2 told us arrived), never K2's balance."""

    since: datetime | None  # the last settlement; None when there was none
    total: Decimal
    count: int


# ---------------------------------------------------------------- accounts


def accounts(engine: Engine) -> list[Account]:
    """Every settlement account, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(select(_ACCOUNTS).order_by(_ACCOUNTS.c.id)).all()
    return [Account.of(row) for row in rows]


def bank_branches(engine: Engine) -> list[tuple[str, str]]:
    """(name, K2 branch reference) of the branches the owner named, by name."""
    with engine.connect() as connection:
        return [(row.name, row.reference) for row in
                connection.execute(select(_BRANCHES.c.name, _BRANCHES.c.reference).order_by(_BRANCHES.c.name))]


def add_bank_account(
    runtime: Runtime,
    actor: User,
    *,
    account_name: str,
    account_number: str,
    bank_branch_ref: str,
    settlement_method: str = "EFT",
    nickname: str | None = None,
    source: str | None = None,
) -> Added:
    """Add a bank account settlements may go to, at K2 and here, if `actor` may settle (`NotAllowed`).
    `InputError` names the field K2 or our check refused (nothing kept then)."""
    require(actor, Permission.SETTLE)
    number = "".join((account_number or "").split())
    name = (account_name or "").strip()
    default = f"{name} ·{number[-4:]}" if name and number else ""
    details = _checked(BankAccountDetails, account_name=name, account_number=number,
                       bank_branch_ref=(bank_branch_ref or "").strip(), settlement_method=settlement_method)
    key = f"{AccountKind.BANK}|{details['bank_branch_ref'].lower()}|{details['account_number']}"
    return _add(runtime, actor, AccountKind.BANK, (nickname or "").strip() or default, details, key, source)


def add_wallet(
    runtime: Runtime,
    actor: User,
    *,
    first_name: str,
    last_name: str,
    phone_number: str,
    network: str = "Safaricom",
    nickname: str | None = None,
    source: str | None = None,
) -> Added:
    """Add an M-Pesa wallet settlements may go to, at K2 and here, if `actor` may settle (`NotAllowed`).
    `InputError` names the field K2 or our check refused (nothing kept then)."""
    require(actor, Permission.SETTLE)
    if not (phone_number or "").strip():
        raise InputError("phone_number", "Phone number: enter the M-Pesa number, e.g. 0712 345 678.")
    details = _checked(MobileWalletDetails, first_name=(first_name or "").strip(),
                       last_name=(last_name or "").strip(), phone_number=phone_number.strip(), network=network)
    default = f"M-Pesa {details['first_name']} ·{details['phone_number'][-3:]}"
    key = f"{AccountKind.WALLET}|{details['phone_number']}"
    return _add(runtime, actor, AccountKind.WALLET, (nickname or "").strip() or default, details, key, source)


def refresh_account(runtime: Runtime, actor: User, account_id: int) -> Account:
    """Ask K2 again for an account's reference and status (its Location was kept when the first read failed)."""
    require(actor, Permission.SETTLE)
    engine = _engine(runtime)
    account = _account(engine, account_id)
    if account is None:
        raise InputError("account", "Account: there is no such settlement account.")
    if account.location is None or runtime.client is None:
        return account
    try:
        return _read_back(engine, runtime.client, account)
    except K2Error as err:
        raise InputError("K2", f"K2 could not be asked about it now ({_why(err)}); try again in a minute.") from None


def _checked(model: type[BankAccountDetails] | type[MobileWalletDetails], **fields: str) -> dict[str, str]:
    """The fields as K2 will get them, checked by `k2`'s own rules; a problem names its field."""
    for field, value in fields.items():
        if not value:
            raise InputError(field, f"{_LABELS.get(field, field)}: this is needed.")
    try:
        params = model(**fields)  # type: ignore[arg-type]
    except RequestValidationError as err:
        raise _input_error(err.field, str(err).removeprefix(f"{err.field}: ")) from None
    return {key: str(value) for key, value in params.model_dump(exclude_none=True).items()}


def _input_error(field: str, detail: str) -> InputError:
    field = field.split(".")[0].split("[")[0]
    return InputError(field, f"{_LABELS.get(field, field.replace('_', ' ').capitalize())}: {detail}")


def _add(runtime: Runtime, actor: User, kind: AccountKind, nickname: str, details: dict[str, str], key: str,
         source: str | None) -> Added:
    client = runtime.client
    if client is None:
        raise InputError("K2_CLIENT_ID", "K2_CLIENT_ID and K2_CLIENT_SECRET are not set: there is no K2 account "
                                         "to add it to.")
    engine = _engine(runtime)
    same = next((account for account in accounts(engine) if _key_of(account) == key), None)
    claim = _CLAIM + hashlib.sha256(key.encode()).hexdigest()[:32]
    if same is not None and not _stale(same):
        return Added(_once_answered(engine, key), created=False)
    account_id = _claim(engine, kind, nickname, details, claim, key, actor, same)
    if account_id is None:  # another click or tab is adding it right now
        return Added(_once_answered(engine, key), created=False)
    api = load_preferences(engine).payout_api
    try:
        location = _create(client, kind, details, nickname, api)
    except K2Error as err:
        unknown = isinstance(err, OutcomeUnknownError) or (isinstance(err, APIStatusError) and err.status_code >= 500)
        if not unknown:  # K2 refused it, or was never reached: nothing exists there, so nothing is kept here
            with engine.begin() as connection:
                connection.execute(delete(_ACCOUNTS).where(_ACCOUNTS.c.id == account_id,
                                                           _ACCOUNTS.c.k2_location.is_(None)))
            if isinstance(err, ValidationError | APIStatusError) and err.status_code < 500:
                field, detail = _k2_field(err)
                raise _input_error(field, detail) if field else InputError("K2", f"K2 refused it: {detail}") from None
            raise InputError("K2", f"{_why(err)}; nothing was added. Try again in a minute.") from None
        log.warning("settlements: K2 did not confirm account %s: %s", account_id, err)
        with engine.begin() as connection:
            _audit(connection, actor, account_id, kind, nickname, None, source, confirmed=False)
        added = _account(engine, account_id)
        assert added is not None
        return Added(added, created=True)
    with engine.begin() as connection:
        connection.execute(update(_ACCOUNTS).where(_ACCOUNTS.c.id == account_id).values(k2_location=location))
        _audit(connection, actor, account_id, kind, nickname, location, source, confirmed=True)
    added = _account(engine, account_id)
    assert added is not None
    try:
        added = _read_back(engine, client, added)
    except K2Error:  # K2 made it; its reference is asked for again from the page ("Check with K2")
        log.warning("settlements: reading back account %s failed", account_id, exc_info=True)
    return Added(added, created=True)


def _once_answered(engine: Engine, key: str, seconds: float = 10.0) -> Account:
    """The account with `key` once the add under way (another click or tab) has K2's reference for it, or as it is
    after `seconds`: a double click shows the one add's outcome, not "not confirmed" while K2 is still answering."""
    deadline = time.monotonic() + seconds
    while True:
        found = next((account for account in accounts(engine) if _key_of(account) == key), None)
        if found is None:  # that add failed and took its row back; it said why in its own answer
            raise InputError("account", "Account: K2 did not add it a moment ago; nothing was added. Try again.")
        if found.ready or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _key_of(account: Account) -> str:
    if account.kind is AccountKind.BANK:
        return f"{account.kind}|{account.details.get('bank_branch_ref', '').lower()}|{account.details.get('account_number')}"
    return f"{account.kind}|{account.details.get('phone_number')}"


def _stale(account: Account) -> bool:
    """An add K2 never answered, long enough ago to be tried again."""
    return account.location is None and account.reference is None and \
        datetime.now(UTC) - account.created_at > _STALE_CLAIM


def _claim(engine: Engine, kind: AccountKind, nickname: str, details: dict[str, str], claim: str, key: str,
           actor: User, stale: Account | None) -> int | None:
    """Our row for the account, written before K2 is asked; None when another request holds it."""
    now = datetime.now(UTC)
    values = {"kind": kind.value, "nickname": nickname, "details_json": json.dumps(details, sort_keys=True),
              "created_by": actor.username, "created_at": now}
    with writing(engine) as connection:
        if connection.dialect.name == "postgresql":  # one claim per destination at a time, as IMMEDIATE on SQLite
            connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(claim))))
        # Looked for again under the lock: a claim's key is replaced by K2's reference once K2 answers, so the key
        # alone cannot stop a click that read the list before that from adding the same account again.
        held = [row for row in connection.execute(select(_ACCOUNTS)).all()
                if _key_of(Account.of(row)) == key]
        if any(stale is None or row.id != stale.id for row in held):
            return None
        if stale is not None:  # taken over by one request only: the WHERE names the time it was claimed at
            row = connection.execute(
                update(_ACCOUNTS)
                .where(_ACCOUNTS.c.id == stale.id, _ACCOUNTS.c.k2_location.is_(None),
                       _ACCOUNTS.c.created_at == stale.created_at)
                .values(**values).returning(_ACCOUNTS.c.id)
            ).first()
            return None if row is None else int(row.id)
        row = connection.execute(
            _insert(connection)(_ACCOUNTS).values(k2_reference=claim, **values)
            .on_conflict_do_nothing(index_elements=["k2_reference"]).returning(_ACCOUNTS.c.id)
        ).first()
    return None if row is None else int(row.id)


def _create(client: K2Client, kind: AccountKind, details: dict[str, str], nickname: str, api: str) -> str:
    """POST the account to K2 (v2 keeps our nickname too); its Location."""
    where = client.v2 if api == "v2" else client
    extra = {"nickname": nickname} if api == "v2" else {}
    if kind is AccountKind.BANK:
        return where.merchant_bank_accounts.create(
            account_name=details["account_name"], account_number=details["account_number"],
            bank_branch_ref=details["bank_branch_ref"], settlement_method=details["settlement_method"],  # type: ignore[arg-type]
            **extra,
        )
    return where.merchant_wallets.create(first_name=details["first_name"], last_name=details["last_name"],
                                         phone_number=details["phone_number"], network=details["network"], **extra)


def _read_back(engine: Engine, client: K2Client, account: Account) -> Account:
    """GET the account's Location: K2's reference (what transfers name) and status, kept on our row."""
    assert account.location is not None
    resource = client.merchant_bank_accounts if account.kind is AccountKind.BANK else client.merchant_wallets
    document = resource.get(account.location)
    values: dict[str, Any] = {"k2_status": document.status}
    if document.account_reference:
        values["k2_reference"] = document.account_reference
    with engine.begin() as connection:
        connection.execute(update(_ACCOUNTS).where(_ACCOUNTS.c.id == account.id).values(**values))
    read = _account(engine, account.id)
    assert read is not None
    return read


def _audit(connection: Connection, actor: User, account_id: int, kind: AccountKind, nickname: str,
           location: str | None, source: str | None, *, confirmed: bool) -> None:
    record(connection, AuditAction.SETTLEMENT_ACCOUNT_ADDED, actor=actor.username, target=nickname,
           detail={"kind": kind.value, "account_id": account_id, "k2_location": location,
                   "confirmed_by_k2": confirmed}, source=source)


def _account(engine: Engine, account_id: int) -> Account | None:
    with engine.connect() as connection:
        row = connection.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.id == account_id)).first()
    return None if row is None else Account.of(row)


def _k2_field(err: APIStatusError) -> tuple[str | None, str]:
    """(field, what K2 said of it) from K2's "<field>: <problem>" message, or (None, the message)."""
    message = err.error_message or f"K2 answered {err.status_code}"
    field = getattr(err, "field", None)
    if field is None and ": " in message:
        head, _, rest = message.partition(": ")
        if head.replace("_", "").replace(".", "").replace("[", "").replace("]", "").isalnum() and " " not in head:
            return head, rest
    return field, message.removeprefix(f"{field}: ") if field else message


def _why(error: K2Error) -> str:
    if isinstance(error, APIStatusError):
        return error.error_message or f"K2 answered {error.status_code}"
    if isinstance(error, APIConnectionError):
        return "K2 could not be reached"
    return str(error)


# ---------------------------------------------------------------- transfers


def plan_transfer(
    runtime: Runtime,
    actor: User,
    *,
    account_id: int | None = None,
    amount: Decimal | str | None = None,
    everything: bool = False,
) -> TransferPlan:
    """Check a transfer before it is confirmed (nothing is written): `amount` to the account `account_id`, or,
    said in so many words with `everything`, blind (all of it to K2's default account; the sweep with v2); no
    account is never read as everything. `NotAllowed`, or `InputError` naming the field. Bank accounts take cents (K2's settlement takes them, and banks carry them); M-Pesa
    wallets take whole shillings up to M-Pesa's limit."""
    require(actor, Permission.SETTLE)
    engine = _engine(runtime)
    if runtime.client is None:
        raise InputError("K2_CLIENT_ID", "K2_CLIENT_ID and K2_CLIENT_SECRET are not set: there is no K2 account.")
    if not runtime.callback_url:
        raise InputError("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set: K2 could not tell us the outcome.")
    api = load_preferences(engine).payout_api
    if everything:
        if account_id is not None or amount is not None:
            raise InputError("account", "Account: everything goes to the default account; name no account or amount.")
        plan = TransferPlan(None, None, api)
    elif account_id is None:
        raise InputError("account", "Account: choose which of your settlement accounts to transfer to.")
    else:
        account = _account(engine, account_id)
        if account is None:
            raise InputError("account", "Account: choose one of your settlement accounts.")
        if not account.ready:
            raise InputError("account", f"Account: K2 has not confirmed {account.nickname} yet; check it with K2 "
                                        "on the Settlement accounts tab first.")
        plan = TransferPlan(account, _amount(amount, account.kind), api)
    _check_with_k2_rules(plan, runtime.callback_url)
    return plan


def _amount(amount: Decimal | str | None, kind: AccountKind) -> Decimal:
    """KES to send: cents allowed to a bank, whole shillings (at most M-Pesa's limit) to a wallet."""
    if amount is None or (isinstance(amount, str) and not amount.replace(",", "").strip()):
        raise InputError("amount", "Amount: enter how many shillings to transfer, e.g. 25,000.")
    if isinstance(amount, str):
        text = amount.replace(",", "").strip()
        try:
            amount = Decimal(text.upper().removeprefix("KES").removeprefix("KSH").strip())
        except InvalidOperation:
            raise InputError("amount", f"Amount: {text!r} is not an amount of shillings (e.g. 25000).") from None
    if not amount.is_finite() or amount < 1:
        raise InputError("amount", "Amount: transfer at least KES 1.")
    if kind is AccountKind.WALLET:
        if amount != amount.to_integral_value():
            raise InputError("amount", f"Amount: M-Pesa moves whole shillings; transfer {int(amount)}, not {amount}.")
        if amount > MAX_WALLET_AMOUNT:
            raise InputError("amount", f"Amount: M-Pesa takes at most KES {MAX_WALLET_AMOUNT:,} in one transfer; "
                                       "send the rest to a bank account or in another transfer.")
        return amount.quantize(Decimal(1))
    if amount != amount.quantize(Decimal("0.01")):
        raise InputError("amount", f"Amount: at most two decimal places (cents), not {amount}.")
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount.quantize(Decimal("0.01"))


def _check_with_k2_rules(plan: TransferPlan, callback_url: str) -> None:
    """The request as K2 will get it, checked by `k2`'s models; a problem names its field."""
    params = plan.params("check")
    try:
        if plan.api == "v2":
            _DESTINATIONS.validate_python(params["destinations"])
        elif params["destination_reference"] is None:
            SweepParams(callback_url=callback_url, metadata=params["metadata"])
        else:
            SettlementTransferParams(amount=Decimal(params["amount"]), destination_type=params["destination_type"],
                                     destination_reference=params["destination_reference"],
                                     callback_url=callback_url, metadata=params["metadata"])
    except RequestValidationError as err:
        raise _input_error(err.field, str(err).removeprefix(f"{err.field}: ")) from None


def request_transfer(
    runtime: Runtime,
    actor: User,
    *,
    request_ref: str,
    account_id: int | None = None,
    amount: Decimal | str | None = None,
    everything: bool = False,
    source: str | None = None,
) -> Transfer:
    """Queue the transfer `plan_transfer` checks, under our id `request_ref` (a confirmed form's token); the
    outbox worker sends it. The same `request_ref` again returns the transfer already queued, whatever was asked
    the second time. The row and its `MONEY_REQUESTED` audit entry commit together."""
    require(actor, Permission.SETTLE)
    engine = _engine(runtime)
    existing = get_transfer(engine, request_ref)
    if existing is not None:
        return existing
    plan = plan_transfer(runtime, actor, account_id=account_id, amount=amount, everything=everything)
    with engine.begin() as connection:
        if enqueue(connection, queued(
            request_ref=request_ref,
            kind=plan.kind,
            params=plan.params(request_ref),
            amount=plan.amount if plan.amount is not None else Decimal(0),
            created_by=actor.username,
            account_id=plan.account.id if plan.account else None,
        )):
            record(connection, AuditAction.MONEY_REQUESTED, actor=actor.username, target=request_ref,
                   detail={"kind": plan.kind, "amount": "everything" if plan.amount is None else str(plan.amount),
                           "account": plan.account.nickname if plan.account else "default settlement account",
                           "account_reference": plan.account.reference if plan.account else None},
                   source=source)
    if runtime.outbox is not None:
        runtime.outbox.wake()
    made = get_transfer(engine, request_ref)
    assert made is not None
    return made


def _is_settlement() -> Any:
    """Outbox rows that are settlements: v1 transfers, and v2 send_money to own accounts or sweeps (payouts to
    other people go through send_money too, always with a recipient or destinations)."""
    return or_(
        OUTBOX.c.kind == "settlement_transfer",
        and_(OUTBOX.c.kind == "send_money",
             or_(OUTBOX.c.account_id.is_not(None), OUTBOX.c.params_json.contains(_SWEEP_PARAMS, autoescape=True))),
    )


def get_transfer(engine: Engine, request_ref: str) -> Transfer | None:
    """The transfer with our id `request_ref`, if any."""
    found = _transfers(engine, OUTBOX.c.request_ref == request_ref, limit=1)
    return found[0] if found else None


def transfers(engine: Engine, *, limit: int = 50) -> list[Transfer]:
    """The newest transfers first."""
    return _transfers(engine, None, limit=limit)


def _transfers(engine: Engine, where: Any, *, limit: int) -> list[Transfer]:
    query = select(OUTBOX).where(_is_settlement())
    if where is not None:
        query = query.where(where)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(OUTBOX.c.created_at.desc(), OUTBOX.c.id.desc()).limit(limit)).all()
        if not rows:
            return []
        stored = [(OutboxRow.of(row), row.k2_id, row.account_id) for row in rows]
        refs = [outbox.request_ref for outbox, _, _ in stored]
        ids = [k2_id for _, k2_id, _ in stored if k2_id]
        results: dict[str, Row] = {}
        for table in (_V1_RESULTS, _V2_RESULTS):
            for result in connection.execute(
                select(table).where(or_(table.c.request_ref.in_(refs), table.c.k2_id.in_(ids)))
            ):
                results[f"ref:{result.request_ref}" if result.request_ref else f"id:{result.k2_id}"] = result
        notices = {row.id: row for row in connection.execute(select(_SETTLEMENTS).where(_SETTLEMENTS.c.id.in_(ids)))}
        by_id = {row.id: Account.of(row) for row in connection.execute(select(_ACCOUNTS))}
    made = []
    for outbox, k2_id, account_id in stored:
        result = results.get(f"ref:{outbox.request_ref}") or (results.get(f"id:{k2_id}") if k2_id else None)
        notice = notices.get(k2_id) if k2_id else None
        made.append(_transfer(outbox, by_id.get(account_id) if account_id else None, result, notice))
    return made


def _transfer(outbox: OutboxRow, account: Account | None, result: Row | None, notice: Row | None) -> Transfer:
    legs = json.loads(result.disbursements_json) if result is not None and result.disbursements_json else []
    paid = [leg for leg in legs if leg.get("status") == "Transferred"]
    moved: Decimal | None = None
    if result is not None and result.amount_cents is not None and outbox.state is OutboxState.SUCCEEDED:
        moved = from_cents(result.amount_cents)
    elif paid:
        moved = sum((Decimal(str(leg["amount"])) for leg in paid), Decimal(0))
    elif notice is not None:
        moved = from_cents(notice.amount_cents)
    blind = outbox.params.get("destination_reference") is None and not outbox.params.get("destinations")
    return Transfer(
        request_ref=outbox.request_ref,
        api="v2" if outbox.kind == "send_money" else "v1",
        account=account,
        amount=None if blind else outbox.amount,
        moved=moved,
        state=outbox.state,
        k2_status=outbox.k2_status,
        reason=outbox.reason,
        references=tuple(leg["transaction_reference"] for leg in paid if leg.get("transaction_reference")),
        requested_at=outbox.created_at,
        requested_by=outbox.created_by,
        notice_at=(notice.occurred_at or outbox.updated_at) if notice is not None else None,
    )


def match_unanswered(engine: Engine) -> int:
    """Give K2's id to v1 transfers whose POST got no answer (so no Location), from an unclaimed v1 result that
    can only be theirs: same account and amount (or both blind), arrived after it was sent, and no other candidate
    either way. K2's v1 results echo no metadata; the outbox then settles the row by K2's id. Returns how many."""
    with engine.begin() as connection:
        orphans = [OutboxRow.of(row) for row in connection.execute(
            select(OUTBOX).where(OUTBOX.c.kind == "settlement_transfer", OUTBOX.c.state == OutboxState.UNKNOWN,
                                 OUTBOX.c.k2_id.is_(None)))]
        if not orphans:
            return 0
        claimed = select(OUTBOX.c.k2_id).where(OUTBOX.c.k2_id.is_not(None))
        since = min(orphan.created_at for orphan in orphans)
        results = connection.execute(
            select(_V1_RESULTS).where(_V1_RESULTS.c.request_ref.is_(None), _V1_RESULTS.c.k2_id.not_in(claimed),
                                      _V1_RESULTS.c.location.is_not(None), _V1_RESULTS.c.updated_at >= since)
        ).all()
        pairs: dict[str, list[Row]] = {orphan.request_ref: [r for r in results if _answers(orphan, r)]
                                       for orphan in orphans}
        linked = 0
        for orphan in orphans:
            candidates = pairs[orphan.request_ref]
            if len(candidates) != 1:
                continue
            [result] = candidates
            if sum(1 for other in pairs.values() if result in other) != 1:
                continue
            record_location(connection, {orphan.request_ref: result.location})
            linked += 1
    return linked


def _answers(orphan: OutboxRow, result: Row) -> bool:
    if result.updated_at is not None and result.updated_at < orphan.created_at:
        return False
    legs = json.loads(result.disbursements_json) if result.disbursements_json else []
    reference = orphan.params.get("destination_reference")
    if reference is None:  # blind: K2's result for a blind transfer has no amount
        return result.amount_cents is None
    amount = Decimal(orphan.params["amount"])
    return result.amount_cents == to_cents(amount) and any(
        leg.get("destination_reference") == reference for leg in legs)


def k2_settlements(engine: Engine, *, limit: int = 50) -> list[K2Settlement]:
    """K2's settlement notices, newest first, with our request where K2's id matches one."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(_SETTLEMENTS, OUTBOX.c.request_ref)
            .join(OUTBOX, and_(OUTBOX.c.k2_id == _SETTLEMENTS.c.id, _is_settlement()), isouter=True)
            .order_by(_SETTLEMENTS.c.occurred_at.desc(), _SETTLEMENTS.c.id).limit(limit)
        ).all()
        by_reference = {row.k2_reference: Account.of(row) for row in connection.execute(select(_ACCOUNTS))}
    return [K2Settlement(row.id, from_cents(row.amount_cents), row.status, row.destination_type,
                         by_reference.get(row.destination_reference), row.occurred_at, row.request_ref)
            for row in rows]


def received_since_last_settlement(engine: Engine, *, now: datetime | None = None) -> ReceivedSince:
    """Money received (kept, not reversed) since the latest settlement K2 told us of, or our latest completed
    transfer; everything we recorded when there was none. Our own count, not K2's balance."""
    with engine.connect() as connection:
        notice = connection.execute(select(func.max(_SETTLEMENTS.c.occurred_at))).scalar()
        ours = connection.execute(
            select(func.max(OUTBOX.c.updated_at)).where(_is_settlement(), OUTBOX.c.state == OutboxState.SUCCEEDED)
        ).scalar()
    moments = [_aware(moment) for moment in (notice, ours) if moment is not None]
    since = max(moments) if moments else None
    start = since or datetime(2000, 1, 1, tzinfo=UTC)
    figures = totals(engine, MoneyInFilter(start, max(start, now or datetime.now(UTC))))  # a clock behind K2's: none
    return ReceivedSince(since, figures.received, figures.received_count)


def _aware(moment: datetime) -> datetime:
    """A max() over a UTC column comes back naive from SQLite (the column type is not applied to aggregates)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _engine(runtime: Runtime) -> Engine:
    assert runtime.engine is not None, "the runtime is not started"
    return runtime.engine


def _insert(connection: Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


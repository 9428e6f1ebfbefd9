"""The emulated K2 account: tokens, resources, receipts and balance, changed only by methods under one lock.

No HTTP here. Side effects (run something after the configured delay, send a document) go through the
`Effects` the server provides, called after the lock is released.
"""
from __future__ import annotations

import hmac
import random
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Protocol

from . import payloads, traffic
from .config import SimConfig
from .errors import Conflict, Invalid, NotFound, OAuthError, Unauthorized
from .models import Disbursement, Outbound, Receipt, ReceiptKind, Resource, Token
from .outcomes import Flow, Outcome, applies, message, random_failure, rule
from .parse import PARSERS, recipient_identifier

__all__ = ["Effects", "SimState", "FLOWS", "Created"]

# kind -> the outcome flow it belongs to (forcing applies only to these)
FLOWS: dict[str, Flow] = {"incoming_payment": "stk", "payment": "payout", "send_money": "payout",
                          "settlement_transfer": "payout"}
_INITIAL = {
    "incoming_payment": "Pending", "payment": "Scheduled", "send_money": "Scheduled",
    "settlement_transfer": "Scheduled", "polling": "Pending", "transaction_sms_notification": "Pending",
    "reversal": "Received", "payment_link": "Pending", "pay_recipient": "Approved",
    "external_recipient": "Approved", "merchant_bank_account": "Approved", "merchant_wallet": "Approved",
    "webhook_subscription": "Active",
}
_WALLET_LEGS = frozenset({"mobile_wallet", "merchant_wallet"})
_CODE_ALPHABET = string.ascii_uppercase + string.digits


class Effects(Protocol):
    """What the state asks of the server: run an action after the configured delay; send a document."""

    def later(self, action: Callable[[], object]) -> None: ...

    def send(self, message: Outbound) -> None: ...


@dataclass(frozen=True)
class Created:
    """What a simulated receipt or traffic run produced, for the control API's answer."""

    receipts: list[Receipt]
    reversals: int


def _now() -> datetime:
    return datetime.now(payloads.NAIROBI)


def _identifier(account: Resource) -> str | None:
    return account.fields.get("phone_number") or account.fields.get("account_number")


def _same_till(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.upper().lstrip("K") == b.upper().lstrip("K")


class SimState:
    """One merchant account at K2, as the emulator plays it."""

    def __init__(self, config: SimConfig, effects: Effects) -> None:
        self.config = config
        self._effects = effects
        self._lock = threading.RLock()
        self._rng = random.Random(config.seed)
        self._tokens: dict[str, Token] = {}
        self.reset()

    # ---------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        """Back to a fresh account: no resources, receipts or forced outcomes, the configured balance.

        Issued tokens stay valid, so connected clients carry on."""
        with self._lock:
            self._resources: dict[str, Resource] = {}
            self._subscriptions: list[Resource] = []
            self._receipts: list[Receipt] = []
            self._by_reference: dict[str, Receipt] = {}
            self._events: dict[str, str] = {}
            self._phones: set[str] = set()
            self._forced: dict[str, deque[Outcome]] = {}
            self.balance = self.config.balance
            account = self._store(Resource(
                id=self._uuid(), kind="merchant_bank_account", version=1, self_url="", base_url="",
                created_at=_now(), status="Approved", final=True,
                fields={"account_name": "K2 Sim Settlement Account", "account_number": "0000000000",
                        "bank_branch_ref": self._uuid(), "settlement_method": "EFT", "nickname": None}))
            self.settlement_account = account.id

    def _uuid(self) -> str:
        return str(uuid.uuid4())

    def _code(self) -> str:
        return "T" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(9))

    def _store(self, resource: Resource) -> Resource:
        self._resources[resource.id] = resource
        if resource.kind == "webhook_subscription":
            self._subscriptions.append(resource)
        return resource

    # ---------------------------------------------------------------- OAuth

    def _client(self, fields: dict[str, str]) -> str:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        known_id, known_secret = self.config.client_id or "", self.config.client_secret or ""
        if not (hmac.compare_digest(client_id.encode(), known_id.encode())
                and hmac.compare_digest(secret.encode(), known_secret.encode())):
            raise OAuthError("invalid_client", "Client authentication failed due to unknown client, "
                             "no client authentication included, or unsupported authentication method.")
        return client_id

    def issue_token(self, fields: dict[str, str]) -> Token:
        """Client-credentials grant: a bearer token living `token_ttl_s`."""
        if fields.get("grant_type", "client_credentials") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "The authorization grant type is not supported.",
                             status=400)
        client_id = self._client(fields)
        issued = time.time()
        token = Token(secrets.token_urlsafe(32), client_id, issued, issued + self.config.token_ttl_s)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def _live(self, value: str | None) -> Token | None:
        token = self._tokens.get(value or "")
        return token if token is not None and token.expires_at > time.time() else None

    def revoke(self, fields: dict[str, str]) -> None:
        """Forget a token (answering `{}` whether or not it existed, as OAuth does)."""
        self._client(fields)
        with self._lock:
            self._tokens.pop(fields.get("token", ""), None)

    def introspect(self, fields: dict[str, str]) -> Token | None:
        """The token if it is live, else None (`{"active": false}`)."""
        self._client(fields)
        with self._lock:
            return self._live(fields.get("token"))

    def authenticate(self, authorization: str | None) -> Token:
        """The live token of an `Authorization: Bearer` header, or 401 saying why not."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Missing access token: send Authorization: Bearer <token>")
        with self._lock:
            token = self._tokens.get(value.strip())
            if token is None:
                raise Unauthorized("Invalid access token")
            if token.expires_at <= time.time():
                raise Unauthorized("Expired access token")
            return token

    # ---------------------------------------------------------------- API resources

    def create(self, kind: str, version: int, body: dict[str, Any], *, base_url: str, path: str) -> Resource:
        """Accept a POST to `base_url + path`: validate, store, plan its outcome and schedule its resolution."""
        fields = PARSERS[kind](body, version)
        resource_id = self._uuid()
        resource = Resource(
            id=resource_id, kind=kind, version=version, self_url=f"{base_url}{path}/{resource_id}",
            base_url=base_url, created_at=_now(), fields=fields, status=_INITIAL[kind],
            callback_url=fields.get("callback_url"), final="callback_url" not in fields)
        with self._lock:
            prepare = self._PREPARE.get(kind)
            if prepare is not None:
                prepare(self, resource)
            self._store(resource)
        if not resource.final:
            self._effects.later(partial(self.resolve, resource_id))
        return resource

    def get(self, kind: str, resource_id: str) -> Resource:
        """A resource of this kind, or 404."""
        with self._lock:
            resource = self._resources.get(resource_id)
            if resource is None or resource.kind != kind:
                raise NotFound(f"No {kind} with id {resource_id}")
            return resource

    def document(self, kind: str, resource_id: str) -> dict[str, Any]:
        """The status document of a resource, built under the lock so it is never half-resolved."""
        with self._lock:
            return payloads.document(self.get(kind, resource_id))

    def status_of(self, resource_id: str | None) -> str | None:
        """The current status of any resource (for the request log)."""
        with self._lock:
            resource = self._resources.get(resource_id or "")
            return None if resource is None else resource.status

    def _forced_or_planned(self, kind: str, planned: Outcome | None) -> Outcome | None:
        queue = self._forced.get(kind)
        if queue:
            return queue.popleft()
        if planned is None and self.config.fail_rate and self._rng.random() < self.config.fail_rate:
            return random_failure(FLOWS[kind], self._rng)
        return planned

    def _prepare_incoming_payment(self, resource: Resource) -> None:
        f = resource.fields
        planned = rule("stk", f["phone_number"], f["amount"], mobile_money=True)
        resource.outcome = self._forced_or_planned(resource.kind, planned)

    def _account(self, kind: str, reference: str, field: str) -> Resource:
        account = self._resources.get(reference)
        if account is None or account.kind != kind:
            raise Invalid(field, f"no {kind} with reference {reference}")
        return account

    def _leg(self, kind: str, amount: Decimal, destination_type: str, reference: str | None,
             identifier: str | None) -> Disbursement:
        planned = rule("payout", identifier, amount, mobile_money=destination_type in _WALLET_LEGS)
        return Disbursement(amount, destination_type, reference, outcome=self._forced_or_planned(kind, planned))

    def _prepare_payment(self, resource: Resource) -> None:
        f = resource.fields
        recipient = self._resources.get(f["destination_reference"])
        if recipient is None or recipient.kind not in ("pay_recipient", "external_recipient"):
            raise Invalid("destination_reference", f"no pay recipient with reference {f['destination_reference']}")
        if recipient.fields["type"] != f["destination_type"]:
            raise Invalid("destination_type", f"the recipient is a {recipient.fields['type']}")
        identifier = recipient_identifier(recipient.fields["type"], recipient.fields["details"])
        resource.disbursements = [self._leg(resource.kind, f["amount"], f["destination_type"], recipient.id, identifier)]

    def _prepare_send_money(self, resource: Resource) -> None:
        legs = resource.fields["legs"]
        if not legs:
            self._prepare_sweep(resource, "merchant_bank_account", self.settlement_account)
            return
        for index, leg in enumerate(legs):
            reference = leg["details"].get("reference")
            if reference is not None:
                identifier = _identifier(self._account(leg["type"], reference, f"destinations[{index}].reference"))
            else:
                identifier = recipient_identifier(leg["type"], leg["details"])
            disbursement = self._leg(resource.kind, leg["amount"], leg["type"], reference, identifier)
            disbursement.echo = {"nickname": leg["nickname"], "favourite": leg["favourite"],
                                 "phone_number": leg["details"].get("phone_number")}
            resource.disbursements.append(disbursement)

    def _prepare_settlement_transfer(self, resource: Resource) -> None:
        f = resource.fields
        kind = f["destination_type"] or "merchant_bank_account"
        reference = f["destination_reference"] or self.settlement_account
        account = self._account(kind, reference, "destination_reference")
        if f["amount"] is None:
            self._prepare_sweep(resource, kind, account.id)
            return
        resource.disbursements = [self._leg(resource.kind, f["amount"], kind, account.id, _identifier(account))]

    def _prepare_sweep(self, resource: Resource, kind: str, reference: str) -> None:
        resource.extra["sweep"] = True
        resource.disbursements = [self._leg(resource.kind, Decimal(0), kind, reference, None)]

    def _prepare_sms(self, resource: Resource) -> None:
        reference = resource.fields["webhook_event_reference"]
        if self._events.get(reference) not in ("buygoods_transaction_received", "b2b_transaction_received"):
            raise Invalid("webhook_event_reference", f"no buygoods transaction webhook event {reference}")

    def _prepare_reversal(self, resource: Resource) -> None:
        reference = resource.fields["transaction_reference"]
        receipt = self._by_reference.get(reference)
        if receipt is None or receipt.kind == "m2m":
            raise Invalid("transaction_reference", f"no buygoods or b2b transaction with reference {reference}")
        if receipt.reversed or receipt.reversing:
            raise Invalid("transaction_reference", f"transaction {reference} is already reversed")
        receipt.reversing = True
        resource.receipt = receipt

    def _prepare_payment_link(self, resource: Resource) -> None:
        resource.fields["till_name"] = self.config.till_name

    _PREPARE: ClassVar[dict[str, Callable[[SimState, Resource], None]]] = {
        "incoming_payment": _prepare_incoming_payment,
        "payment": _prepare_payment,
        "send_money": _prepare_send_money,
        "settlement_transfer": _prepare_settlement_transfer,
        "transaction_sms_notification": _prepare_sms,
        "reversal": _prepare_reversal,
        "payment_link": _prepare_payment_link,
    }

    # ---------------------------------------------------------------- resolution

    def resolve(self, resource_id: str, outcome: Outcome | None = None) -> bool:
        """Bring a resource to its final state and send what that produces; False if it already was final."""
        with self._lock:
            resource = self._resources.get(resource_id)
            if resource is None:
                raise NotFound(f"No resource with id {resource_id}")
            if outcome is not None:
                flow = FLOWS.get(resource.kind)
                if flow is None or not applies(outcome, flow):
                    raise Invalid("outcome", f"{outcome} does not apply to a {resource.kind}")
            if resource.final:
                return False
            if outcome is not None:
                resource.outcome = outcome
                for leg in resource.disbursements:
                    leg.outcome = outcome
            silent, messages = self._RESOLVE[resource.kind](self, resource)
            resource.final = True
            if not silent and resource.callback_url:
                messages.insert(0, Outbound("callback", resource.kind, resource.callback_url,
                                            payloads.document(resource), resource.id))
        for item in messages:
            self._effects.send(item)
        return True

    def _resolve_incoming_payment(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        outcome = resource.outcome or Outcome.SUCCESS
        if outcome is not Outcome.SUCCESS:
            resource.status, resource.error = "Failed", message(outcome, "stk")
            return outcome is Outcome.TIMEOUT, []
        f = resource.fields
        receipt = Receipt(self._uuid(), "buygoods", self._code(), f["amount"], f["till_number"], _now(),
                          resource.base_url, phone_number=f["phone_number"], first_name=f["first_name"],
                          middle_name=f["middle_name"], last_name=f["last_name"])
        resource.status, resource.receipt = "Success", receipt
        return False, self._record(receipt, receipt.origination_time)

    def _resolve_payout(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        legs = resource.disbursements
        if resource.extra.get("sweep"):
            legs[0].amount = self.balance
            if self.balance <= 0 and (legs[0].outcome or Outcome.SUCCESS) is Outcome.SUCCESS:
                legs[0].outcome = Outcome.INSUFFICIENT_FUNDS
        paying = [leg for leg in legs if (leg.outcome or Outcome.SUCCESS) is Outcome.SUCCESS]
        if sum((leg.amount for leg in paying), Decimal(0)) > self.balance:
            for leg in paying:
                leg.outcome = Outcome.INSUFFICIENT_FUNDS
            paying = []
        now = _now()
        for leg in legs:
            leg.origination_time = now
            if leg in paying:
                leg.status = "Transferred"
                leg.transaction_reference = None if "bank" in leg.destination_type else self._code()
                self.balance -= leg.amount
            else:
                leg.status, leg.error = "Failed", message(leg.outcome or Outcome.SUCCESS, "payout")
        failed = [leg for leg in legs if leg not in paying]
        resource.status = "Processed" if paying else "Failed"
        resource.error = None if paying else failed[0].error
        silent = not paying and all(leg.outcome is Outcome.TIMEOUT for leg in failed)
        return silent, self._settlement_webhooks(resource, paying, now)

    def _settlement_webhooks(self, resource: Resource, paid: list[Disbursement], now: datetime) -> list[Outbound]:
        by_account: dict[str, list[Disbursement]] = {}
        for leg in paid:
            if leg.destination_type.startswith("merchant_") and leg.destination_reference:
                by_account.setdefault(leg.destination_reference, []).append(leg)
        messages: list[Outbound] = []
        for reference, legs in by_account.items():
            event_id = self._uuid()
            document = payloads.settlement_completed(event_id, resource, self._resources[reference], legs, now)
            messages += self._to_subscribers("settlement_transfer_completed", None, event_id, document, resource.id)
        return messages

    def _resolve_polling(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        f = resource.fields
        resource.transactions = [
            receipt for receipt in sorted(self._receipts, key=lambda r: r.origination_time)
            if f["from_time"] <= receipt.origination_time <= f["to_time"]
            and (f["scope"] == "company" or (receipt.kind != "m2m" and _same_till(receipt.till_number, f["scope_reference"])))
        ]
        resource.status = "Success"
        return False, []

    def _resolve_sms(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        resource.status = "Success"
        return False, []

    def _resolve_reversal(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        receipt = resource.receipt
        assert receipt is not None
        receipt.reversing = False
        if receipt.amount > self.balance:
            resource.status, resource.error = "Failed", message(Outcome.INSUFFICIENT_FUNDS, "payout")
            return False, []
        now = _now()
        resource.status = "Processed"
        resource.extra["reversal_bulk_payment"] = {
            "amount": payloads.money_text(receipt.amount), "status": "Processed",
            "origination_time": payloads.iso_s(now), "transaction_reference": self._code()}
        return False, self._reverse(receipt, now)

    def _resolve_payment_link(self, resource: Resource) -> tuple[bool, list[Outbound]]:
        resource.status = "Processed"
        resource.extra["payment_link"] = {
            "payment_link_status": "Active",
            "expires_at": payloads.iso_ms(_now() + timedelta(days=30)),
            "initiator_name": self.config.till_name,
            "link": f"{resource.base_url}/sim/payment_links/{resource.id}/pay",
        }
        return False, []

    _RESOLVE: ClassVar[dict[str, Callable[[SimState, Resource], tuple[bool, list[Outbound]]]]] = {
        "incoming_payment": _resolve_incoming_payment,
        "payment": _resolve_payout,
        "send_money": _resolve_payout,
        "settlement_transfer": _resolve_payout,
        "polling": _resolve_polling,
        "transaction_sms_notification": _resolve_sms,
        "reversal": _resolve_reversal,
        "payment_link": _resolve_payment_link,
    }

    def cancel_payment_link(self, resource_id: str) -> None:
        """Cancel an active payment link; 409 when it is not active."""
        with self._lock:
            link = self.get("payment_link", resource_id)
            details = link.extra.get("payment_link")
            if details is None or details["payment_link_status"] != "Active":
                raise Conflict("Only an active payment link can be cancelled")
            details["payment_link_status"] = "Cancelled"

    def pay_payment_link(self, resource_id: str, phone_number: str) -> None:
        """A customer pays an active link: a buygoods receipt, the link marked Paid, a second callback."""
        with self._lock:
            link = self.get("payment_link", resource_id)
            details = link.extra.get("payment_link")
            if details is None or details["payment_link_status"] != "Active":
                raise Conflict("Only an active payment link can be paid")
            first, last = traffic.name_for(phone_number)
            receipt = Receipt(self._uuid(), "buygoods", self._code(), link.fields["amount"], link.fields["till_number"],
                              _now(), link.base_url, phone_number=phone_number, first_name=first, last_name=last)
            details.update(payment_link_status="Paid", transaction_reference=receipt.reference,
                           sender_phone_number=phone_number, origination_time=payloads.iso_s(receipt.origination_time))
            messages = [Outbound("callback", link.kind, link.callback_url or "", payloads.document(link), link.id)]
            messages += self._record(receipt, receipt.origination_time)
        for item in messages:
            self._effects.send(item)

    # ---------------------------------------------------------------- receipts and webhooks

    def _to_subscribers(self, topic: str, till: str | None, event_id: str, document: dict[str, Any],
                        resource_id: str, daraja: Callable[[], dict[str, Any]] | None = None) -> list[Outbound]:
        self._events[event_id] = topic
        return [
            Outbound("webhook", topic, sub.fields["url"],
                     daraja() if daraja is not None and sub.fields["enable_daraja_payload"] else document, resource_id)
            for sub in self._subscriptions
            if sub.fields["event_type"] == topic
            and (sub.fields["scope"] == "company" or _same_till(sub.fields["scope_reference"], till))
        ]

    def _record(self, receipt: Receipt, created_at: datetime) -> list[Outbound]:
        """Book money received: balance, ledger, the received webhook and, for a new phone, customer_created."""
        self._receipts.append(receipt)
        self._by_reference[receipt.reference] = receipt
        self.balance += receipt.amount
        balance = self.balance
        event_id = self._uuid()
        messages = self._to_subscribers(
            payloads.topic_of(receipt, "received"), receipt.till_number, event_id,
            payloads.receipt_webhook(event_id, receipt, "received", created_at), receipt.id,
            daraja=lambda: payloads.daraja(receipt, balance))
        if receipt.phone_number and receipt.phone_number not in self._phones:
            self._phones.add(receipt.phone_number)
            event_id = self._uuid()
            document = payloads.customer_created(event_id, self._uuid(), receipt, created_at)
            messages += self._to_subscribers("customer_created", None, event_id, document, receipt.id)
        return messages

    def _reverse(self, receipt: Receipt, at: datetime) -> list[Outbound]:
        receipt.reversal_time = at
        self.balance -= receipt.amount
        event_id = self._uuid()
        return self._to_subscribers(payloads.topic_of(receipt, "reversed"), receipt.till_number, event_id,
                                    payloads.receipt_webhook(event_id, receipt, "reversed", at), receipt.id)

    def receive(self, kind: ReceiptKind, amount: Decimal | None, *, base_url: str, phone_number: str | None = None,
                sending_till: str | None = None, sending_merchant: str | None = None) -> Receipt:
        """Money arrives on the till now (a customer's buygoods, another till's b2b, a merchant's m2m)."""
        with self._lock:
            spec = traffic.single(self._rng, kind, amount, _now(), phone_number=phone_number,
                                  sending_till=sending_till, sending_merchant=sending_merchant)
            receipt = self._receipt_from(spec, base_url)
            messages = self._record(receipt, receipt.origination_time)
        for item in messages:
            self._effects.send(item)
        return receipt

    def _receipt_from(self, spec: traffic.Planned, base_url: str) -> Receipt:
        till = self.config.till_number
        return Receipt(self._uuid(), spec.kind, self._code(), spec.amount, till, spec.at, base_url,
                       phone_number=spec.phone_number, first_name=spec.first_name, middle_name=spec.middle_name,
                       last_name=spec.last_name, sending_till=spec.sending_till, sending_merchant=spec.sending_merchant)

    def generate_traffic(self, count: int, start: datetime, end: datetime, *, base_url: str,
                         webhooks: bool = True) -> Created:
        """`count` past receipts between start and end (realistic hours, amounts, repeat customers, some
        b2b/m2m, a few reversals), booked for polling and, unless `webhooks` is false, sent as webhooks now."""
        with self._lock:
            plan = traffic.plan(self._rng, count, start, end)
            receipts: list[Receipt] = []
            messages: list[Outbound] = []
            reversals = 0
            for spec in plan:
                receipt = self._receipt_from(spec, base_url)
                receipts.append(receipt)
                messages += self._record(receipt, receipt.origination_time)
                if spec.reversed_at is not None:
                    messages += self._reverse(receipt, spec.reversed_at)
                    reversals += 1
        for item in messages if webhooks else ():
            self._effects.send(item)
        return Created(receipts, reversals)

    # ---------------------------------------------------------------- control

    def force_next(self, kind: str, outcome: Outcome, count: int) -> None:
        """Make the next `count` requests of this kind end with `outcome`, whatever the rules say."""
        flow = FLOWS.get(kind)
        if flow is None:
            raise Invalid("kind", f"must be one of {', '.join(FLOWS)}")
        if not applies(outcome, flow):
            raise Invalid("outcome", f"{outcome} does not apply to a {kind}")
        with self._lock:
            self._forced.setdefault(kind, deque()).extend([outcome] * count)

    def summary(self) -> dict[str, Any]:
        """Balance, till and counts, for `/sim/state`."""
        with self._lock:
            counts: dict[str, int] = {}
            for resource in self._resources.values():
                counts[resource.kind] = counts.get(resource.kind, 0) + 1
            return {
                "balance": {"currency": "KES", "value": payloads.money_text(self.balance)},
                "till_number": self.config.till_number,
                "settlement_account": self.settlement_account,
                "resources": counts,
                "receipts": len(self._receipts),
                "forced": {kind: [str(o) for o in queue] for kind, queue in self._forced.items() if queue},
            }

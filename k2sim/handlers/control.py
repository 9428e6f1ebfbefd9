"""`/sim/`: look inside the emulator and steer it (logs, forced outcomes, faults, traffic, reset)."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from starlette.requests import Request
from starlette.responses import Response

from ..delivery import Dispatcher
from ..errors import Conflict, Invalid
from ..faults import Faults
from ..log import DeliveryRecord, RequestRecord, SimLog
from ..models import ReceiptKind
from ..outcomes import Outcome
from ..payloads import NAIROBI, iso_ms, iso_s, money_text
from ..validate import amount, choice, count, flag, get, phone, text, timestamp
from .common import base_url, json_response, read_json, sim

__all__ = [
    "ping", "state", "requests", "deliveries", "drain", "force_outcome", "resolve", "faults", "add_fault",
    "clear_faults", "generate_traffic", "receive", "pay_payment_link", "reset",
]

_OUTCOMES = {outcome.value.lower(): outcome.value for outcome in Outcome}
_RECEIPT_KINDS: dict[str, str] = {"buygoods": "buygoods", "b2b": "b2b", "m2m": "m2m"}
_MAX_TRAFFIC = 100_000
_T = TypeVar("_T", int, float)


def _log(request: Request) -> SimLog:
    log: SimLog = request.app.state.log
    return log


def _faults(request: Request) -> Faults:
    registry: Faults = request.app.state.faults
    return registry


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def _query(request: Request, name: str, default: _T, kind: Callable[[str], _T]) -> _T:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise Invalid(name, "must be a number") from None


def _request_json(record: RequestRecord, status: str | None) -> dict[str, Any]:
    return {"seq": record.seq, "at": iso_ms(record.at), "method": record.method, "path": record.path,
            "body": record.body, "status": record.status, "resource_id": record.resource_id, "state": status}


def _delivery_json(record: DeliveryRecord) -> dict[str, Any]:
    return {"id": record.id, "kind": record.kind, "topic": record.topic, "resource_id": record.resource_id,
            "url": record.url, "state": record.state, "fault": record.fault, "signature": record.signature,
            "created_at": iso_ms(record.created_at), "body": json.loads(record.body),
            "attempts": [{"number": a.number, "at": iso_ms(a.at), "status_code": a.status_code, "error": a.error,
                          "duration_ms": round(a.duration_ms, 3)} for a in record.attempts]}


async def ping(request: Request) -> Response:
    """GET /sim/ping: a no-op, the baseline the benchmark compares status GETs with."""
    return json_response({})


async def state(request: Request) -> Response:
    """GET /sim/state: balance, till, default settlement account, counts, queued forced outcomes."""
    return json_response({"base_url": base_url(request), **sim(request).summary()})


async def requests(request: Request) -> Response:
    """GET /sim/requests[?path=prefix&resource_id=&since=seq]: every K2 API request received."""
    query = request.query_params
    since = _query(request, "since", 0, int)
    received, _ = _log(request).snapshot()
    state_of = sim(request).status_of
    return json_response([
        _request_json(record, state_of(record.resource_id)) for record in received
        if record.seq > since and record.path.startswith(query.get("path", "/"))
        and query.get("resource_id") in (None, record.resource_id)
    ])


async def deliveries(request: Request) -> Response:
    """GET /sim/deliveries[?resource_id=&topic=&state=]: every callback and webhook, with its attempts."""
    query = request.query_params
    _, sent = _log(request).snapshot()
    return json_response([
        _delivery_json(record) for record in sent
        if all(query.get(key) in (None, getattr(record, key)) for key in ("resource_id", "topic", "state"))
    ])


async def drain(request: Request) -> Response:
    """POST /sim/drain[?timeout=10]: wait until every pending resolution and delivery has run."""
    settled = await _dispatcher(request).drain(_query(request, "timeout", 10.0, float))
    return json_response({"settled": settled})


async def force_outcome(request: Request) -> Response:
    """POST /sim/outcomes {"kind", "outcome", "count"}: the next requests of a kind end this way."""
    body = await read_json(request)
    sim(request).force_next(text(body, "kind"), Outcome(choice(body, "outcome", _OUTCOMES)),
                            count(body, "count", default=1))
    return json_response(sim(request).summary()["forced"])


async def resolve(request: Request) -> Response:
    """POST /sim/resources/<id>/resolve [{"outcome"}]: settle a pending request now; 409 if already final."""
    body = await read_json(request) if await request.body() else {}
    wanted = choice(body, "outcome", _OUTCOMES, required=False)
    if not sim(request).resolve(request.path_params["id"], None if wanted is None else Outcome(wanted)):
        raise Conflict("The resource is already final")
    return json_response({"id": request.path_params["id"], "state": sim(request).status_of(request.path_params["id"])})


async def faults(request: Request) -> Response:
    """GET /sim/faults: the active faults."""
    return json_response(_faults(request).listing())


async def add_fault(request: Request) -> Response:
    """POST /sim/faults {"type", "count", "path", "status", "ms", "seconds"}: inject a fault."""
    return json_response(_faults(request).add(await read_json(request)).as_json(), 201)


async def clear_faults(request: Request) -> Response:
    """DELETE /sim/faults: remove every fault."""
    _faults(request).clear()
    return json_response([])


async def generate_traffic(request: Request) -> Response:
    """POST /sim/traffic {"count", "from_time", "to_time", "webhooks"}: simulated till history, sent as webhooks
    now unless `webhooks` is false (then only the polling API returns it: webhooks a server never received)."""
    body = await read_json(request)
    wanted = count(body, "count", default=100, most=_MAX_TRAFFIC)
    end = timestamp(body, "to_time") if get(body, "to_time", required=False) else datetime.now(NAIROBI)
    start = timestamp(body, "from_time") if get(body, "from_time", required=False) else end - timedelta(days=30)
    if end <= start:
        raise Invalid("to_time", "must be after from_time")
    webhooks = flag(body, "webhooks") if "webhooks" in body else True
    made = sim(request).generate_traffic(wanted, start, end, base_url=base_url(request), webhooks=webhooks)
    by_kind: dict[str, int] = {}
    for receipt in made.receipts:
        by_kind[receipt.kind] = by_kind.get(receipt.kind, 0) + 1
    total = sum((receipt.amount for receipt in made.receipts), Decimal(0))
    return json_response({"generated": len(made.receipts), "by_kind": by_kind, "reversals": made.reversals,
                          "total": money_text(total), "from_time": iso_s(start), "to_time": iso_s(end)}, 201)


async def receive(request: Request) -> Response:
    """POST /sim/transactions {"type", "amount"?, "phone_number"?, "sending_till"?, "sending_merchant"?}:
    one receipt now (buygoods, b2b or m2m), with its webhooks."""
    body = await read_json(request)
    kind = cast(ReceiptKind, choice(body, "type", _RECEIPT_KINDS))
    receipt = sim(request).receive(
        kind, amount(body, "amount") if get(body, "amount", required=False) else None,
        base_url=base_url(request),
        phone_number=phone(body, "phone_number") if get(body, "phone_number", required=False) else None,
        sending_till=text(body, "sending_till", required=False),
        sending_merchant=text(body, "sending_merchant", required=False))
    return json_response({"id": receipt.id, "type": receipt.kind, "reference": receipt.reference,
                          "amount": money_text(receipt.amount), "till_number": receipt.till_number,
                          "origination_time": iso_s(receipt.origination_time)}, 201)


async def pay_payment_link(request: Request) -> Response:
    """POST /sim/payment_links/<id>/pay {"phone_number"}: a customer pays an active payment link."""
    body = await read_json(request)
    sim(request).pay_payment_link(request.path_params["id"], phone(body, "phone_number"))
    return json_response(sim(request).document("payment_link", request.path_params["id"]))


async def reset(request: Request) -> Response:
    """POST /sim/reset: a fresh account; pending work, logs and faults are dropped (tokens stay valid)."""
    await _dispatcher(request).cancel_all()
    sim(request).reset()
    _log(request).clear()
    _faults(request).clear()
    return json_response(sim(request).summary())

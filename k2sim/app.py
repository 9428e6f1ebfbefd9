"""`create_app(config)`: the route table, auth on the K2 group, the lifespan, and one error renderer."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .config import SimConfig
from .delivery import Dispatcher, Poster, post
from .errors import InjectedError, OAuthError, SimError
from .faults import REQUEST_FAULTS, Faults
from .handlers import control, oauth, resources
from .handlers.common import json_response
from .log import SimLog
from .payloads import NAIROBI
from .state import SimState

__all__ = ["create_app", "RESOURCE_PATHS"]

Endpoint = Callable[[Request], Awaitable[Response]]

# (version, path segment, kind): the K2 resources served at /api/v{version}/{segment}
RESOURCE_PATHS: tuple[tuple[int, str, str], ...] = (
    (1, "incoming_payments", "incoming_payment"),
    (1, "pay_recipients", "pay_recipient"),
    (1, "payments", "payment"),
    (1, "merchant_bank_accounts", "merchant_bank_account"),
    (1, "merchant_wallets", "merchant_wallet"),
    (1, "settlement_transfers", "settlement_transfer"),
    (1, "webhook_subscriptions", "webhook_subscription"),
    (1, "polling", "polling"),
    (1, "transaction_sms_notifications", "transaction_sms_notification"),
    (2, "incoming_payments", "incoming_payment"),
    (2, "external_recipients", "external_recipient"),
    (2, "send_money", "send_money"),
    (2, "merchant_bank_accounts", "merchant_bank_account"),
    (2, "merchant_wallets", "merchant_wallet"),
    (2, "webhook_subscriptions", "webhook_subscription"),
    (2, "polling", "polling"),
    (2, "reversals", "reversal"),
    (2, "payment_links", "payment_link"),
)


def _loggable(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace")
        return dict(parse_qsl(text)) if "=" in text else text


def _resource_id(request: Request, response: Response) -> str | None:
    location = response.headers.get("location")
    return location.rsplit("/", 1)[-1] if location else request.path_params.get("id")


def _k2(endpoint: Endpoint, *, auth: bool) -> Endpoint:
    """Wrap a K2 endpoint: log it, apply injected faults and configured latency, check the bearer token."""

    async def k2_endpoint(request: Request) -> Response:
        app_state = request.app.state
        path = request.url.path
        record = app_state.log.request(datetime.now(NAIROBI), request.method, path, _loggable(await request.body()))
        fault = app_state.faults.take(REQUEST_FAULTS, path)
        try:
            delay_ms = app_state.config.latency_ms + (fault.ms if fault is not None and fault.kind == "latency" else 0)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if fault is not None and fault.kind == "error":
                raise InjectedError(fault.status)
            if auth:
                app_state.sim.authenticate(request.headers.get("authorization"))
            response = await endpoint(request)
        except SimError as err:
            record.status, record.resource_id = err.status, request.path_params.get("id")
            raise
        record.status, record.resource_id = response.status_code, _resource_id(request, response)
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)
        return response

    k2_endpoint.__name__ = endpoint.__name__
    return k2_endpoint


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/oauth/token", _k2(oauth.token, auth=False), methods=["POST"]),
        Route("/oauth/revoke", _k2(oauth.revoke, auth=False), methods=["POST"]),
        Route("/oauth/introspect", _k2(oauth.introspect, auth=False), methods=["POST"]),
        Route("/oauth/token/info", _k2(oauth.token_info, auth=False), methods=["GET"]),
    ]
    for version, segment, kind in RESOURCE_PATHS:
        base = f"/api/v{version}/{segment}"
        routes.append(Route(base, _k2(resources.create(kind, version), auth=True), methods=["POST"]))
        routes.append(Route(f"{base}/{{id}}", _k2(resources.show(kind), auth=True), methods=["GET"]))
    routes.append(Route("/api/v2/payment_links/{id}/cancel", _k2(resources.cancel_payment_link, auth=True),
                        methods=["POST"]))
    routes += [
        Route("/sim/ping", control.ping, methods=["GET"]),
        Route("/sim/state", control.state, methods=["GET"]),
        Route("/sim/requests", control.requests, methods=["GET"]),
        Route("/sim/deliveries", control.deliveries, methods=["GET"]),
        Route("/sim/drain", control.drain, methods=["POST"]),
        Route("/sim/outcomes", control.force_outcome, methods=["POST"]),
        Route("/sim/resources/{id}/resolve", control.resolve, methods=["POST"]),
        Route("/sim/faults", control.faults, methods=["GET"]),
        Route("/sim/faults", control.add_fault, methods=["POST"]),
        Route("/sim/faults", control.clear_faults, methods=["DELETE"]),
        Route("/sim/traffic", control.generate_traffic, methods=["POST"]),
        Route("/sim/transactions", control.receive, methods=["POST"]),
        Route("/sim/payment_links/{id}/pay", control.pay_payment_link, methods=["POST"]),
        Route("/sim/reset", control.reset, methods=["POST"]),
    ]
    return routes


async def _render_error(request: Request, exc: Exception) -> Response:
    """The one place errors become HTTP: OAuth style on /oauth, K2's `{"error_code", "error_message"}` elsewhere."""
    if isinstance(exc, OAuthError):
        return json_response({"error": exc.error, "error_description": exc.message}, exc.status)
    if isinstance(exc, SimError):
        status, text = exc.status, exc.message
    else:
        assert isinstance(exc, HTTPException)
        status, text = exc.status_code, "Not found" if exc.status_code == 404 else str(exc.detail)
    headers = {"Retry-After": "1"} if status == 429 else None
    return json_response({"error_code": status, "error_message": text}, status, headers)


def create_app(config: SimConfig | None = None, *, poster: Poster = post) -> Starlette:
    """A K2 Connect emulator as an ASGI app; `poster` lets unit tests catch callbacks without a network."""
    settings = (config or SimConfig()).with_credentials()
    log = SimLog(settings.log_limit)
    faults = Faults()
    dispatcher = Dispatcher(settings, log, faults, poster=poster)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dispatcher.stop()

    app = Starlette(routes=_routes(), lifespan=lifespan,
                    exception_handlers={SimError: _render_error, HTTPException: _render_error})
    app.state.config = settings
    app.state.log = log
    app.state.faults = faults
    app.state.dispatcher = dispatcher
    app.state.sim = SimState(settings, dispatcher)
    return app

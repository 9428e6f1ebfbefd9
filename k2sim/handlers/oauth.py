"""The /oauth/* endpoints, answering JSON always (the Python SDK calls `.json()` on every one)."""
from __future__ import annotations

import time
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from ..models import Token
from ..payloads import NAIROBI, iso_s
from ..validate import form_or_json
from .common import json_response, sim

__all__ = ["token", "revoke", "introspect", "token_info"]


def _iso(epoch: float) -> str:
    return iso_s(datetime.fromtimestamp(epoch, NAIROBI))


def _lifetime(token: Token) -> int:
    return round(token.expires_at - token.issued_at)


async def token(request: Request) -> Response:
    """POST /oauth/token: client-credentials grant, fields as a form or as JSON."""
    issued = sim(request).issue_token(form_or_json(await request.body()))
    return json_response({"access_token": issued.value, "token_type": "Bearer", "expires_in": _lifetime(issued),
                          "created_at": int(issued.issued_at)})


async def revoke(request: Request) -> Response:
    """POST /oauth/revoke: always `{}`."""
    sim(request).revoke(form_or_json(await request.body()))
    return json_response({})


async def introspect(request: Request) -> Response:
    """POST /oauth/introspect: RFC 7662 style, with K2's ISO `exp`/`iat`."""
    live = sim(request).introspect(form_or_json(await request.body()))
    if live is None:
        return json_response({"active": False})
    return json_response({"active": True, "scope": "", "client_id": live.client_id, "token_type": "Bearer",
                          "exp": _iso(live.expires_at), "iat": _iso(live.issued_at)})


async def token_info(request: Request) -> Response:
    """GET /oauth/token/info: Doorkeeper's format, seconds remaining and epoch creation time."""
    live = sim(request).authenticate(request.headers.get("authorization"))
    remaining = max(0, int(live.expires_at - time.time()))
    return json_response({"resource_owner_id": None, "scope": [], "expires_in": remaining,
                          "application": {"uid": live.client_id}, "created_at": int(live.issued_at)})

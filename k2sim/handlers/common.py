"""Helpers every handler shares: reading the body, reaching the state, rendering K2's answers."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..payloads import dumps
from ..state import SimState
from ..validate import json_body

__all__ = ["read_json", "base_url", "sim", "json_response", "created"]


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, whatever the content type claims."""
    return json_body(await request.body())


def base_url(request: Request) -> str:
    """Scheme and host the client used, so every Location and link points back at the same host."""
    return str(request.base_url).rstrip("/")


def sim(request: Request) -> SimState:
    """The emulator state behind this app."""
    state: SimState = request.app.state.sim
    return state


def json_response(document: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, the same bytes a callback would carry."""
    return Response(dumps(document), status_code, headers, media_type="application/json")


def created(location: str) -> Response:
    """K2's answer to an accepted POST: 201, empty body, absolute Location."""
    return Response(b"", 201, {"Location": location}, media_type="application/json")

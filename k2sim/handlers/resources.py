"""The K2 resources: one create and one show per kind, built from the route table (the kinds differ
only in their state rules and document shape, which live in `parse`, `state` and `payloads`)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .common import base_url, created, json_response, read_json, sim

__all__ = ["create", "show", "cancel_payment_link"]

Endpoint = Callable[[Request], Awaitable[Response]]


def create(kind: str, version: int) -> Endpoint:
    """POST /api/v{version}/<kind>: 201 with the new resource's absolute Location."""

    async def create_resource(request: Request) -> Response:
        resource = sim(request).create(kind, version, await read_json(request), base_url=base_url(request),
                                       path=request.url.path)
        return created(resource.self_url)

    create_resource.__name__ = f"create_{kind}_v{version}"
    return create_resource


def show(kind: str) -> Endpoint:
    """GET <Location>: the status document."""

    async def show_resource(request: Request) -> Response:
        return json_response(sim(request).document(kind, request.path_params["id"]))

    show_resource.__name__ = f"show_{kind}"
    return show_resource


async def cancel_payment_link(request: Request) -> Response:
    """POST /api/v2/payment_links/<id>/cancel."""
    sim(request).cancel_payment_link(request.path_params["id"])
    return json_response({"message": "Payment link cancelled successfully"})

"""A scripted stand-in for K2 behind httpx.MockTransport, and a client wired to it with zero backoff."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from k2 import K2Client

BASE_URL = "https://k2.test"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK"
API_KEY = "api-key-DO-NOT-LEAK"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeK2:
    """Answers `/oauth/token` with numbered tokens and each route with its scripted replies, in order.

    The last reply of a route repeats; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.token_replies: list[Reply] = []
        self.tokens_issued = 0
        self.expires_in = 3600
        self._lock = threading.Lock()

    def route(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            # A copy: the client re-sends the same Request object with a new bearer after a 401.
            self.requests.append(
                httpx.Request(request.method, request.url, headers=request.headers.copy(), content=request.read())
            )
            if request.url.path == "/oauth/token" and not self.token_replies:
                self.tokens_issued += 1
                body = {
                    "access_token": f"token-{self.tokens_issued}",
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                }
                return httpx.Response(200, json=body)
            if request.url.path == "/oauth/token":
                reply = _next(self.token_replies)
            else:
                replies = self.routes.get((request.method, request.url.path))
                if replies is None:
                    return httpx.Response(404, json={"error_code": 404, "error_message": "Not found"})
                reply = _next(replies)
        # Played outside the lock, so a scripted reply may wait for other threads' requests.
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply


def _next(replies: list[Reply]) -> Reply:
    return replies.pop(0) if len(replies) > 1 else replies[0]


def created(path: str, resource_id: str = "abc-123") -> httpx.Response:
    return httpx.Response(201, headers={"Location": f"{BASE_URL}{path}/{resource_id}"})


def document(resource_type: str, attributes: dict[str, Any], resource_id: str = "abc-123") -> httpx.Response:
    return httpx.Response(200, json={"data": {"id": resource_id, "type": resource_type, "attributes": attributes}})


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.fixture
def fake() -> FakeK2:
    return FakeK2()


@pytest.fixture
def client(fake: FakeK2) -> Iterator[K2Client]:
    with K2Client(
        BASE_URL, CLIENT_ID, CLIENT_SECRET, api_key=API_KEY, transport=httpx.MockTransport(fake), retry_backoff=0
    ) as k2_client:
        yield k2_client


@pytest.fixture
def load(shared_fixtures: Path) -> Callable[[str], Any]:
    """A JSON file from Kopo Kopo's fixtures, read in place."""
    return lambda name: json.loads((shared_fixtures / name).read_text())

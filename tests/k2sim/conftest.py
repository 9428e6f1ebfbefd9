"""k2sim unit-test harness: the app in-process under TestClient, callbacks caught by a fake poster."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from k2sim import SimConfig, create_app

CLIENT_ID, CLIENT_SECRET, API_KEY = "test-client", "test-secret", "test-api-key"
CALLBACK = "https://merchant.example/k2/callback"
HOOKS = "https://merchant.example/k2/webhooks"


@dataclass(frozen=True)
class Sent:
    """One POST the emulator made: where, the exact bytes, and the headers (names lower-cased)."""

    url: str
    content: bytes
    headers: dict[str, str]


class Inbox:
    """Stands in for the network: keeps every POST with its raw bytes and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Sent] = []
        self.script: list[int | Exception] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append(Sent(url, body, {name.lower(): value for name, value in headers.items()}))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self, url: str | None = None) -> list[dict[str, Any]]:
        """Parsed bodies, oldest first, optionally only those sent to `url`."""
        return [json.loads(r.content) for r in self.requests if url is None or r.url == url]

    def topics(self) -> list[str]:
        """The topic (webhooks) or data.type (callbacks) of every POST, in order."""
        return [body.get("topic") or body["data"]["type"] for body in self.bodies()]


class Api:
    """A K2 client in miniature over TestClient: token once, then JSON POSTs and GETs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        token = client.post("/oauth/token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                  "grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers)

    def create(self, path: str, body: dict[str, Any]) -> str:
        """POST that must be accepted; returns the Location."""
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.headers["location"]

    def get(self, location: str) -> dict[str, Any]:
        response = self.client.get(location, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def attributes(self, location: str) -> dict[str, Any]:
        return self.get(location)["data"]["attributes"]

    def drain(self) -> None:
        """Wait until every scheduled resolution and delivery has run."""
        assert self.client.post("/sim/drain").json() == {"settled": True}

    def subscribe(self, event_type: str, scope: str = "company", scope_reference: str | None = None,
                  version: int = 1, **extra: Any) -> str:
        return self.create(f"/api/v{version}/webhook_subscriptions", {
            "event_type": event_type, "url": HOOKS, "scope": scope, "scope_reference": scope_reference, **extra})


def stk_body(phone: str = "+254712345678", value: Any = "100", **overrides: Any) -> dict[str, Any]:
    """An STK push request as the SDKs send it."""
    body: dict[str, Any] = {
        "payment_channel": "M-PESA STK Push", "till_number": "K000000",
        "subscriber": {"first_name": "Joe", "last_name": "Buyer", "phone_number": phone, "email": "jb@mail.net"},
        "amount": {"currency": "KES", "value": value},
        "metadata": {"customer_id": "123456789", "reference": "123456", "notes": "Payment for invoice 12345"},
        "_links": {"callback_url": CALLBACK},
    }
    body.update(overrides)
    return body


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def make_api(inbox: Inbox) -> Iterator[Callable[..., Api]]:
    """Build an emulator with config overrides and return an authenticated Api on it."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> Api:
        settings: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "api_key": API_KEY,
                                    "delivery_backoff_s": 0.0, **overrides}
        client = TestClient(create_app(SimConfig(**settings), poster=inbox.post))
        client.__enter__()
        clients.append(client)
        return Api(client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
def held(make_api: Callable[..., Api]) -> Api:
    """An emulator whose requests stay pending (a long delay) until a test resolves them via /sim/."""
    return make_api(callback_delay_s=3600)

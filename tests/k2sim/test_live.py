"""Against real servers on loopback: k2sim started with start_in_thread, a real callback receiver, the CLI."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from k2sim import RunningSim, SimConfig, start_in_thread
from k2sim.delivery import DeliveryError, post
from k2sim.server import bind, serve_in_thread

from .conftest import stk_body

pytestmark = pytest.mark.slow


@dataclass
class Receiver:
    """A real HTTP endpoint that keeps the raw bytes it gets and answers with scripted statuses."""

    api_key: str
    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        expected = hmac.new(self.api_key.encode(), raw, hashlib.sha256).hexdigest()
        self.verified.append(hmac.compare_digest(expected, request.headers.get("x-kopokopo-signature", "")))
        self.received.append((raw, dict(request.headers)))
        return Response(status_code=self.script.pop(0) if self.script else 200)


RECEIVER_KEY = "live-test-api-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver verifying with RECEIVER_KEY; each test starts its own emulator with that key, so the
    session-wide `live_k2sim` other suites share never gets subscriptions pointing here."""
    hook = Receiver(RECEIVER_KEY)
    server, thread, base = serve_in_thread(Starlette(routes=[Route("/hooks", hook.endpoint, methods=["POST"])]))
    hook.url = f"{base}/hooks"
    yield hook
    server.should_exit = True
    thread.join(5)


@contextlib.contextmanager
def client_for(sim: RunningSim) -> Iterator[httpx.Client]:
    """An httpx client on the emulator, already holding a bearer token."""
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        token = client.post("/oauth/token", data={"client_id": sim.client_id, "client_secret": sim.client_secret,
                                                  "grant_type": "client_credentials"}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_signed_callback_and_webhook_verify_over_raw_bytes(receiver: Receiver) -> None:
    with start_in_thread(SimConfig(api_key=RECEIVER_KEY)) as sim, client_for(sim) as client:
        client.post("/api/v1/webhook_subscriptions", json={"event_type": "buygoods_transaction_received",
                                                           "url": receiver.url, "scope": "company"})
        created = client.post("/api/v1/incoming_payments",
                              json=stk_body(_links={"callback_url": receiver.url}, subscriber={
                                  "first_name": "Wanjikũ", "last_name": "Ñjoroge/Ω", "phone_number": "0712345678"}))
        location = created.headers["location"]
        assert location.startswith(f"{sim.base_url}/api/v1/incoming_payments/")
        assert client.post("/sim/drain").json() == {"settled": True}
        status = client.get(location).json()
    assert receiver.verified == [True, True]
    (callback, headers), _ = receiver.received
    assert headers["content-type"] == "application/json"
    assert json.loads(callback) == status
    # A re-serialising verifier (Node's JSON.stringify(req.body)) computes the same bytes.
    for raw, _ in receiver.received:
        assert json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode() == raw
    assert "Wanjikũ".encode() in callback and b"/" in callback


def test_failed_deliveries_are_retried_with_backoff(receiver: Receiver) -> None:
    config = SimConfig(api_key=RECEIVER_KEY, delivery_backoff_s=0.05, delivery_max_attempts=4)
    receiver.script = [500, 502]
    with start_in_thread(config) as sim, client_for(sim) as client:
        client.post("/api/v2/incoming_payments", json=stk_body(_links={"callback_url": receiver.url}))
        assert client.post("/sim/drain").json() == {"settled": True}
        delivery = client.get("/sim/deliveries").json()[0]
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 200]
    at = [datetime.fromisoformat(a["at"]) for a in delivery["attempts"]]
    assert (at[1] - at[0]).total_seconds() >= 0.05 - 0.001 and (at[2] - at[1]).total_seconds() >= 0.1 - 0.001
    assert len({raw for raw, _ in receiver.received}) == 1 and receiver.verified == [True] * 3


def test_connection_refused_is_recorded_per_attempt() -> None:
    sock, dead_url = bind("127.0.0.1", 0)
    sock.close()
    with start_in_thread(SimConfig(delivery_backoff_s=0.0, delivery_max_attempts=2)) as sim, \
            client_for(sim) as client:
        client.post("/api/v1/incoming_payments", json=stk_body(_links={"callback_url": f"{dead_url}/cb"}))
        client.post("/sim/drain")
        delivery = client.get("/sim/deliveries").json()[0]
    assert delivery["state"] == "failed" and [a["error"] for a in delivery["attempts"]] == ["ConnectionRefusedError"] * 2


def test_timeout_fault_leaves_the_outcome_unknown_to_the_client(live_k2sim: RunningSim) -> None:
    with client_for(live_k2sim) as client:
        client.post("/sim/faults", json={"type": "timeout", "seconds": 0.3, "path": "/api/v1/payments"})
        recipient = client.post("/api/v1/pay_recipients", json={"type": "till", "pay_recipient": {
            "till_name": "Shop", "till_number": "123456"}}).headers["location"].rsplit("/", 1)[1]
        with pytest.raises(httpx.ReadTimeout):
            client.post("/api/v1/payments", timeout=0.05, json={
                "destination_type": "till", "destination_reference": recipient, "amount": {"value": 5},
                "description": "d", "_links": {"callback_url": "http://127.0.0.1:9/cb"}})
        accepted = client.get("/sim/requests?path=/api/v1/payments").json()
    assert accepted[-1]["status"] == 201 and accepted[-1]["resource_id"]


def test_command_line_serves_and_prints_credentials() -> None:
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "k2sim", "--port", "0", "--client-id", "cli-id"],
                               cwd=root, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        base_url = lines[0].split()[-1]
        assert base_url.startswith("http://127.0.0.1:") and "cli-id" in lines[1]
        assert all(len(line.split()[-1]) >= 20 for line in lines[2:4])
        for _ in range(200):
            try:
                assert httpx.get(f"{base_url}/sim/ping").json() == {}
                break
            except httpx.ConnectError:
                threading.Event().wait(0.05)
        else:
            pytest.fail("the CLI server never answered")
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(("answer", "expected"), [
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204),
    (b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 503),
    (b"SSH-2.0-OpenSSH\r\n", DeliveryError),
])
def test_poster_reads_the_status_over_a_raw_socket(answer: bytes, expected: int | type[Exception]) -> None:
    seen: list[bytes] = []

    async def scenario() -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n") + await reader.readexactly(2))
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await post(f"http://127.0.0.1:{port}/hooks?x=1", b"{}", {"X-KopoKopo-Signature": "abc"})

    if isinstance(expected, int):
        assert asyncio.run(scenario()) == expected
    else:
        with pytest.raises(expected):
            asyncio.run(scenario())
    request = seen[0].decode()
    assert request.startswith("POST /hooks?x=1 HTTP/1.1\r\n") and "Content-Length: 2\r\n" in request
    assert "X-KopoKopo-Signature: abc\r\n" in request and request.endswith("\r\n\r\n{}")

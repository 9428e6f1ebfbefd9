"""Our K2 client against the official k2-connect 2.0.0 SDK, in one run, on a local K2 stand-in.

    python3 bench/k2_client.py [--creates 200] [--gets 1000] [--slow-gets 1000] [--concurrency 32] [--rounds 3]

(a) sequential: `creates` STK creates then `gets` status GETs, each client in its usual loop, best of `rounds`;
(b) `slow-gets` status GETs against a server that adds 50 ms to every answer: ours through
    `get_many(concurrency=...)`, the SDK in its sequential loop. Also shown, for the record: the same GETs
    through a bare httpx.AsyncClient at the same concurrency (wall and CPU time), which is why `get_many`
    uses threads.
The server is a minimal keep-alive HTTP/1.1 server in its own process; the SDK runs in its own virtualenv
(.sdk/py-v2, made by tests/sdk/setup_sdks.sh). This file imports only the standard library at the top, so the
same file serves as the server and as the SDK driver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
SDK_PYTHON = ROOT / ".sdk" / "py-v2" / "bin" / "python"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
TOKEN = json.dumps({"access_token": "bench-token", "token_type": "Bearer", "expires_in": 3600}).encode()
PAYER = {
    "till_number": "K000000",
    "phone_number": "+254712345678",
    "amount": "100",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "metadata": {"reference": "bench"},
}
CALLBACK = "http://127.0.0.1:9/callback"


# ---------------------------------------------------------------- server (own process)


def _status_body(resource_id: str) -> bytes:
    return json.dumps(
        {
            "data": {
                "id": resource_id,
                "type": "incoming_payment",
                "attributes": {
                    "initiation_time": "2024-05-01T09:24:48.622+03:00",
                    "status": "Success",
                    "event": {
                        "type": "Incoming Payment Request",
                        "resource": {
                            "id": resource_id,
                            "reference": "OJJ1MPU40Z",
                            "origination_time": "2024-05-01T09:24:54+03:00",
                            "sender_phone_number": "+254712345678",
                            "amount": "100.0",
                            "currency": "KES",
                            "till_number": "K000000",
                            "system": "Lipa Na M-PESA",
                            "status": "Received",
                            "sender_first_name": "Jane",
                            "sender_middle_name": None,
                            "sender_last_name": "Doe",
                        },
                        "errors": None,
                    },
                    "metadata": {"reference": "bench"},
                    "_links": {"callback_url": CALLBACK, "self": f"/api/v2/incoming_payments/{resource_id}"},
                },
            }
        }
    ).encode()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float, host: str) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            length = 0
            for line in header_lines:
                if line[:15].lower() == "content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if latency:
                await asyncio.sleep(latency)
            if path.startswith("/oauth/token"):
                status, extra, body = "200 OK", b"", TOKEN
            elif method == "POST":
                location = f"http://{host}{path.rstrip('/')}/{uuid.uuid4()}"
                status, extra, body = "201 Created", f"Location: {location}\r\n".encode(), b""
            else:
                status, extra, body = "200 OK", b"", _status_body(path.rsplit("/", 1)[-1])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
                + extra
                + b"\r\n"
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(latency: float) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, latency, host), "127.0.0.1", 0, backlog=512)
    host = "127.0.0.1:%d" % server.sockets[0].getsockname()[1]
    print(host, flush=True)
    async with server:
        await server.serve_forever()


class Server:
    """The stand-in K2 in a child process (so it never shares our GIL); `latency` seconds added per answer."""

    def __init__(self, latency: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "serve", "--latency", str(latency)], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.base_url = "http://" + self._process.stdout.readline().strip()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


# ---------------------------------------------------------------- the official SDK (its own virtualenv)


def _sdk(mode: str, base_url: str, creates: int, urls: list[str]) -> None:
    import k2connect  # only in .sdk/py-v2

    k2connect.initialize(CLIENT_ID, CLIENT_SECRET, base_url + "/", api_secret="bench-key")
    started = time.perf_counter()
    token = k2connect.Tokens.request_access_token()["access_token"]
    service = k2connect.IncomingPayments(access_token=token)
    payload = {
        "payment_channel": "M-PESA STK Push",
        "till_number": PAYER["till_number"],
        "subscriber": {
            "first_name": PAYER["first_name"],
            "last_name": PAYER["last_name"],
            "phone_number": PAYER["phone_number"],
            "email": PAYER["email"],
        },
        "amount": {"currency": "KES", "value": PAYER["amount"]},
        "metadata": PAYER["metadata"],
        "callback_url": CALLBACK,
    }
    locations = [service.create_incoming_payment(payload) for _ in range(creates)]
    targets = urls if mode == "slow" else [locations[i % creates] for i in range(len(urls))]
    statuses = [service.query_resource(url)["data"]["attributes"]["status"] for url in targets]
    assert statuses.count("Success") == len(targets)
    print(json.dumps({"seconds": time.perf_counter() - started}))


def _run_sdk(mode: str, base_url: str, creates: int, gets: int) -> float:
    urls = [f"{base_url}/api/v2/incoming_payments/{uuid.uuid4()}" for _ in range(gets)]
    result = subprocess.run(
        [str(SDK_PYTHON), __file__, "sdk", mode, base_url, str(creates)],
        input=json.dumps(urls),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(result.stdout)["seconds"])


# ---------------------------------------------------------------- ours


def _ours_sequential(base_url: str, creates: int, gets: int) -> float:
    from k2 import K2Client

    with K2Client(base_url, CLIENT_ID, CLIENT_SECRET) as client:
        started = time.perf_counter()
        locations = [
            client.v2.incoming_payments.create(callback_url=CALLBACK, **PAYER)  # type: ignore[arg-type]
            for _ in range(creates)
        ]
        statuses = [client.v2.incoming_payments.get(locations[i % creates]).status for i in range(gets)]
        elapsed = time.perf_counter() - started
    assert statuses.count("Success") == gets
    return elapsed


def _ours_concurrent(base_url: str, gets: int, concurrency: int) -> tuple[float, float]:
    from k2 import K2Client

    urls = [f"{base_url}/api/v2/incoming_payments/{uuid.uuid4()}" for _ in range(gets)]
    with K2Client(base_url, CLIENT_ID, CLIENT_SECRET) as client:
        started, cpu = time.perf_counter(), time.process_time()
        documents = client.v2.incoming_payments.get_many(urls, concurrency=concurrency)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert [document.status for document in documents].count("Success") == gets
    return elapsed, cpu


def _httpx_async(base_url: str, gets: int, concurrency: int) -> tuple[float, float]:
    """Reference only: the same GETs through a bare httpx.AsyncClient, no models, no auth."""
    import httpx

    async def run() -> None:
        limit = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:

            async def one(url: str) -> Any:
                async with limit:
                    return (await client.get(url)).json()

            await asyncio.gather(*(one(f"{base_url}/api/v2/incoming_payments/{uuid.uuid4()}") for _ in range(gets)))

    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run())
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--slow-gets", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not SDK_PYTHON.exists():
        sys.exit(f"{SDK_PYTHON} is missing: run `bash tests/sdk/setup_sdks.sh` first")
    python = sys.version.split()[0]
    print(f"k2 client bench: python {python}, {os.cpu_count()} CPUs, k2-connect 2.0.0 in {SDK_PYTHON.parents[1]}")

    requests = args.creates + args.gets
    with Server(latency=0.0) as server:
        _ours_sequential(server.base_url, 20, 50)  # warm imports and the loopback path; not counted
        # Best of `rounds`, alternating, for both: other work on a 2-core box only ever slows a round down.
        ours_best = sdk_best = float("inf")
        for _ in range(args.rounds):
            ours_best = min(ours_best, _ours_sequential(server.base_url, args.creates, args.gets))
            sdk_best = min(sdk_best, _run_sdk("fast", server.base_url, args.creates, args.gets))
        ours, sdk = requests / ours_best, requests / sdk_best
    verdict = "PASS" if ours >= 1.5 * sdk else "FAIL"
    print(f"(a) {args.creates} creates + {args.gets} GETs, sequential, no added latency, best of {args.rounds}")
    print(f"    ours {ours:8.1f} req/s | SDK {sdk:8.1f} req/s | ratio {ours / sdk:5.2f}x (target >= 1.5x) {verdict}")

    with Server(latency=args.latency_ms / 1000) as server:
        elapsed, cpu = _ours_concurrent(server.base_url, args.slow_gets, args.concurrency)
        ours = args.slow_gets / elapsed
        async_elapsed, async_cpu = _httpx_async(server.base_url, args.slow_gets, args.concurrency)
        sdk = args.slow_gets / _run_sdk("slow", server.base_url, 1, args.slow_gets)
    verdict = "PASS" if ours >= 10 * sdk else "FAIL"
    print(
        f"(b) {args.slow_gets} GETs, {args.latency_ms:g} ms added per answer; "
        f"ours get_many(concurrency={args.concurrency}), SDK sequential"
    )
    print(f"    ours {ours:8.1f} req/s | SDK {sdk:8.1f} req/s | ratio {ours / sdk:5.2f}x (target >= 10x) {verdict}")
    print(
        f"    ours: {elapsed:.2f}s wall, {cpu:.2f}s CPU | bare httpx.AsyncClient, same concurrency: "
        f"{args.slow_gets / async_elapsed:.1f} req/s, {async_elapsed:.2f}s wall, {async_cpu:.2f}s CPU"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(_serve(float(sys.argv[3])))
    elif sys.argv[1:2] == ["sdk"]:
        _sdk(sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.stdin.read()))
    else:
        main()

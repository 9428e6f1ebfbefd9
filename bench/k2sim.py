"""Benchmark k2sim: status GETs per second (baseline: the same server's no-op route) and callback lateness
with 200 requests in flight (baseline: the configured delay).

    python bench/k2sim.py [--seconds 5] [--delay 1.0] [--in-flight 200]

Starts `python -m k2sim` as its own process on a free port, drives GETs with wrk, and receives the
callbacks on a local receiver in this process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from k2sim.server import serve_in_thread  # noqa: E402

__all__ = ["main"]


@contextmanager
def emulator(delay_s: float) -> Iterator[tuple[str, dict[str, str]]]:
    """`python -m k2sim` on a free port; yields its base URL and a bearer header."""
    process = subprocess.Popen(
        [sys.executable, "-m", "k2sim", "--port", "0", "--callback-delay-s", str(delay_s),
         "--client-id", "bench", "--client-secret", "bench-secret"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[-1]
        for _ in range(200):
            try:
                token = httpx.post(f"{base_url}/oauth/token", data={
                    "client_id": "bench", "client_secret": "bench-secret", "grant_type": "client_credentials"})
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        yield base_url, {"Authorization": f"Bearer {token.json()['access_token']}"}
    finally:
        process.terminate()
        process.wait(10)


def stk(callback_url: str) -> dict[str, object]:
    return {"payment_channel": "M-PESA STK Push", "till_number": "K000000",
            "subscriber": {"phone_number": "+254712345678", "first_name": "Bench", "last_name": "Mark"},
            "amount": {"currency": "KES", "value": "100"}, "_links": {"callback_url": callback_url}}


def wrk(url: str, headers: dict[str, str], seconds: int) -> float:
    """Requests per second wrk measured on `url`."""
    command = ["wrk", "-t2", "-c64", f"-d{seconds}s", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match is None or errors is not None:
        raise RuntimeError(f"wrk run failed:\n{output}")
    return float(match.group(1))


def status_gets(seconds: int) -> tuple[float, float]:
    """(status GET/s, no-op GET/s) on the same server."""
    with emulator(0.0) as (base_url, headers):
        location = httpx.post(f"{base_url}/api/v1/incoming_payments", json=stk("http://127.0.0.1:9/cb"),
                              headers=headers).headers["location"]
        baseline = wrk(f"{base_url}/sim/ping", {}, seconds)
        figure = wrk(location, headers, seconds)
    return figure, baseline


class Receiver:
    """Notes when each callback arrives and when the emulator accepted its request (`initiation_time`)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.waited: dict[str, float] = {}
        self.done = threading.Event()

    async def endpoint(self, request: Request) -> Response:
        arrived = time.time()
        document = json.loads(await request.body())
        accepted = datetime.fromisoformat(document["data"]["attributes"]["initiation_time"]).timestamp()
        self.waited.setdefault(document["data"]["id"], arrived - accepted)
        if len(self.waited) >= self.expected:
            self.done.set()
        return Response()


def lateness(delay_s: float, in_flight: int) -> list[float]:
    """Seconds from the emulator accepting each of `in_flight` concurrent STK pushes to its callback's arrival
    (one machine, one wall clock; `initiation_time` has millisecond resolution)."""
    receiver = Receiver(in_flight)
    server, thread, receiver_url = serve_in_thread(
        Starlette(routes=[Route("/cb", receiver.endpoint, methods=["POST"])])
    )

    async def fire(base_url: str, headers: dict[str, str]) -> None:
        limits = httpx.Limits(max_connections=in_flight)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
            await asyncio.gather(*(client.post("/api/v1/incoming_payments", json=stk(f"{receiver_url}/cb"))
                                   for _ in range(in_flight)))

    try:
        with emulator(delay_s) as (base_url, headers):
            asyncio.run(fire(base_url, headers))
            if not receiver.done.wait(delay_s + 30):
                raise RuntimeError(f"only {len(receiver.waited)} of {in_flight} callbacks arrived")
    finally:
        server.should_exit = True
        thread.join(5)
    return list(receiver.waited.values())


def main() -> None:
    """Run both benchmarks and print each figure beside its baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run")
    parser.add_argument("--delay", type=float, default=1.0, help="configured callback delay, seconds")
    parser.add_argument("--in-flight", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/k2sim.py needs wrk (apt-get install wrk; .ci/run installs it)")
    print(f"k2sim benchmark on {os.cpu_count()} cores, python {sys.version.split()[0]}")
    figure, baseline = status_gets(args.seconds)
    print(f"status GET  /api/v1/incoming_payments/<id>: {figure:9,.0f} req/s   "
          f"baseline no-op GET /sim/ping: {baseline:9,.0f} req/s   target >= 1,000 req/s "
          f"({'met' if figure >= 1000 else 'MISSED'})")
    seconds = sorted(lateness(args.delay, args.in_flight))
    p50, p99 = statistics.median(seconds), seconds[max(0, int(len(seconds) * 0.99) - 1)]
    target = args.delay + 0.050
    print(f"callback lateness, {args.in_flight} in flight: p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
          f"max {seconds[-1] * 1000:7.1f} ms   baseline (configured delay): {args.delay * 1000:7.1f} ms   "
          f"target p99 <= {target * 1000:.0f} ms ({'met' if p99 <= target else 'MISSED'})")


if __name__ == "__main__":
    main()

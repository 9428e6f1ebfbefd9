"""kill -9 during a stream of signed deliveries: every delivery that got a 200 survives, none is stored twice."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from k2.webhooks import sign
from tests.servers import free_port

from .conftest import KEY, buygoods, count, rows

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 600
KILL_AFTER = 150


def start_receiver(database_url: str, port: int, *, workers: int = 1) -> subprocess.Popen[bytes]:
    """`python -m merchant.webhooks` as an operator starts it; returns once it answers HTTP."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")}
    env |= {"DATABASE_URL": database_url, "K2_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "merchant.webhooks", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None:
                pytest.fail(f"receiver exited with {process.returncode}")
            asyncio.run(asyncio.sleep(0.05))
    pytest.fail("receiver never answered")


async def stream(url: str, bodies: list[bytes], process: subprocess.Popen[bytes] | None) -> dict[int, int]:
    """Send every body from 16 connections; once KILL_AFTER are acknowledged, kill -9 the server."""
    statuses: dict[int, int] = {}
    pending = iter(range(len(bodies)))

    async def sender(client: httpx.AsyncClient) -> None:
        for n in pending:
            try:
                headers = {"X-KopoKopo-Signature": sign(bodies[n], KEY)}
                response = await client.post(url, content=bodies[n], headers=headers)
                statuses[n] = response.status_code
            except httpx.TransportError:
                statuses[n] = 0
            acked = sum(status == 200 for status in statuses.values())
            if process is not None and acked >= KILL_AFTER and process.poll() is None:
                process.send_signal(signal.SIGKILL)

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=16)) as client:
        await asyncio.gather(*(sender(client) for _ in range(16)))
    return statuses


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_delivery_and_stores_none_twice(database_url, engine) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/k2/webhooks"
    bodies = [buygoods(n) for n in range(TOTAL)]

    first = start_receiver(database_url, port)
    statuses = asyncio.run(stream(url, bodies, first))
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    acked = {n for n, status in statuses.items() if status == 200}
    assert KILL_AFTER <= len(acked) < TOTAL  # the kill landed mid-stream

    second = start_receiver(database_url, port)
    try:
        stored = {row.id for row in rows(engine, "SELECT id FROM webhook_events")}
        assert {f"evt-buygoods_transaction_received-{n}" for n in acked} <= stored  # 0 lost
        retried = asyncio.run(stream(url, bodies, None))  # K2 retries everything, acknowledged or not
        assert set(retried.values()) == {200}
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    assert count(engine, "webhook_events") == TOTAL  # none twice
    assert count(engine, "transactions") == TOTAL

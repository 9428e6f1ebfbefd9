"""Scale-out: several receiver processes on one database; concurrent duplicates across them still store once."""
from __future__ import annotations

import asyncio
import signal

import pytest

from .conftest import buygoods, count
from tests.servers import free_port

from .test_fault import start_receiver, stream

DISTINCT = 300


@pytest.mark.slow
def test_two_worker_processes_store_each_delivery_once(database_url, engine) -> None:
    port = free_port()
    process = start_receiver(database_url, port, workers=2)
    try:
        bodies = [buygoods(n) for n in range(DISTINCT)]
        statuses = asyncio.run(stream(f"http://127.0.0.1:{port}/api/k2/webhooks", bodies + bodies[::2], None))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert set(statuses.values()) == {200}
    assert count(engine, "webhook_events") == DISTINCT
    assert count(engine, "transactions") == DISTINCT

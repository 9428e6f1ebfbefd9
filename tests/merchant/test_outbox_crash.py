"""Kill -9 the process that sends money, at a random moment, and start it again: no request reaches K2 twice,
none is lost, and every one ends settled (or unknown only if it never reached K2).

Each run: 200 STK requests queued against k2sim with 50 ms latency, sent by a real `python -m merchant.webhooks`
process (its runtime runs the outbox worker), killed with SIGKILL mid-stream, restarted; k2sim's callbacks, retried
while the receiver is down, reach the restarted one."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.db import open_database
from merchant.outbound import FINAL, OutboxState, enqueue, queued
from tests.servers import ROOT, free_port

from .conftest import KEY

pytestmark = [pytest.mark.slow, pytest.mark.crash]

REQUESTS = 200
STK_PATH = "/api/v1/incoming_payments"
# Phone suffixes k2sim turns into outcomes: paid, cancelled, insufficient funds, invalid initiator.
SUFFIXES = ("123", "001", "002", "004")


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    config = SimConfig(api_key=KEY, latency_ms=50, delivery_backoff_s=0.2, delivery_max_attempts=8)
    with start_in_thread(config) as running:
        yield running


def queue_requests(engine: sa.Engine) -> list[str]:
    refs = [f"crash-{n:03d}" for n in range(REQUESTS)]
    with engine.begin() as connection:
        for n, ref in enumerate(refs):
            phone = f"+2547{n % 100:02d}00{n % 10}{SUFFIXES[n % len(SUFFIXES)]}"
            params = {"till_number": "K000000", "phone_number": phone, "amount": "10",
                      "metadata": {"request_ref": ref}}
            enqueue(connection, queued(request_ref=ref, kind="incoming_payment", params=params, amount=Decimal(10),
                                       phone_number=phone))
    return refs


def start_worker(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "merchant.webhooks", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.post(f"http://127.0.0.1:{port}/api/k2/webhooks", content=b"{}", timeout=1).status_code == 401:
                return process  # the runtime is started: the route verifies signatures
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the worker did not start: {log.read_text()[-2000:]}")


def states(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text("SELECT request_ref, state FROM outbox")).all())


def posts_by_ref(sim: RunningSim) -> Counter[str]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": STK_PATH}, timeout=30).json()
    return Counter(entry["body"]["metadata"]["request_ref"] for entry in log if entry["method"] == "POST")


@pytest.mark.parametrize("run", range(20))
def test_a_killed_sender_never_sends_twice_and_loses_nothing(run: int, sim: RunningSim, tmp_path: Path) -> None:
    randomly = random.Random(run)
    database_url = f"sqlite:///{tmp_path / 'merchant.db'}"
    engine = open_database(database_url)
    refs = queue_requests(engine)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")} | {
        "K2_BASE_URL": sim.base_url, "K2_CLIENT_ID": sim.client_id, "K2_CLIENT_SECRET": sim.client_secret,
        "K2_API_KEY": KEY, "K2_TILL_NUMBER": sim.config.till_number, "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "OUTBOX_PER_SECOND": "100", "OUTBOX_CONCURRENCY": "8",
    }
    log = tmp_path / "worker.log"

    first = start_worker(env, port, log)
    time.sleep(randomly.uniform(0.0, 2.0))  # 200 requests take about 2 s to send: die somewhere in them
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    interrupted = Counter(states(engine).values())

    second = start_worker(env, port, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = states(engine)
            sent = posts_by_ref(sim)
            open_rows = [ref for ref, state in now.items() if state not in FINAL]
            if all(now[ref] == OutboxState.UNKNOWN and not sent[ref] for ref in open_rows):
                break
            time.sleep(0.25)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    final, sent = states(engine), posts_by_ref(sim)
    assert sorted(final) == refs, "a request was lost"
    assert max(sent.values()) == 1, f"sent twice: {[ref for ref, n in sent.items() if n > 1]}"
    assert set(sent) <= set(refs)
    stuck = [ref for ref, state in final.items() if state not in FINAL]
    # A row is left unknown only when the process died between claiming it and K2 receiving it: nothing moved.
    assert all(final[ref] == OutboxState.UNKNOWN and not sent[ref] for ref in stuck), {r: final[r] for r in stuck}
    assert len(stuck) <= 8, f"{len(stuck)} rows in doubt; at most the in-flight ones may be"
    resolved = {entry["resource_id"]: entry for entry in
                httpx.get(f"{sim.base_url}/sim/requests", params={"path": STK_PATH}, timeout=30).json()}
    assert len(resolved) == len(sent)
    print(f"run {run}: killed with {dict(interrupted)}; ended {dict(Counter(final.values()))}")
    engine.dispose()

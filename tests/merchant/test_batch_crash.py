"""Kill -9 the server while it sends a 500-row payout batch, at a random moment, and start it again: no row is paid
twice at k2sim, none is lost, and every row ends paid or failed, or needs review only if it never reached K2.

Each run: a batch of 500 phone payments to 100 people (some of whom k2sim refuses to pay), approved, sent by a real
`python -m merchant.webhooks` process (its runtime runs the batch runner and the outbox worker) against k2sim with
50 ms latency; killed with SIGKILL somewhere between making recipients and the last payment, then restarted."""
from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from k2sim import RunningSim
from merchant.config import Settings
from merchant.payouts.batches import BatchRowView, RowStatus, approve_batch, batch_rows, submit_batch
from merchant.payouts.sheet import check_sheet, read_sheet
from merchant.runtime import Runtime
from tests.servers import free_port

from .conftest import KEY
from .test_batches import HEADER
from .test_outbox_crash import sim, start_worker  # noqa: F401 - k2sim at 50 ms, and the worker process
from .test_payments import NJERI, OTIENO

pytestmark = [pytest.mark.slow, pytest.mark.crash]

ROWS, PEOPLE = 500, 100
PAYMENTS_PATH, RECIPIENTS_PATH = "/api/v1/payments", "/api/v1/pay_recipients"


def payroll() -> bytes:
    """500 rows to 100 people; every 25th person's phone ends in 002 (k2sim: insufficient funds)."""
    lines = [HEADER]
    for n in range(ROWS):
        person = n % PEOPLE
        suffix = "002" if person % 25 == 24 else "123"
        lines.append(f"M-Pesa,Worker {person} Kamau,0711{person:03d}{suffix},,,,,{100 + n},Shift {n},S-{n}")
    return ("\r\n".join(lines) + "\r\n").encode()


def posts(sim: RunningSim, path: str) -> list[dict]:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}, timeout=30).json()
    return [entry for entry in log if entry["method"] == "POST"]


@pytest.mark.parametrize("run", range(20))
def test_a_killed_server_pays_each_row_at_most_once_and_loses_none(
    run: int, sim: RunningSim, tmp_path: Path
) -> None:
    randomly = random.Random(run)
    database_url = f"sqlite:///{tmp_path / 'merchant.db'}"
    port = free_port()
    settings = Settings(database_url=database_url, public_base_url=f"http://127.0.0.1:{port}")
    runtime = Runtime(settings).open()
    checked = check_sheet(read_sheet(payroll(), "payroll.csv"))
    assert not checked.problems and len(checked.rows) == ROWS
    batch = submit_batch(runtime, NJERI, checked, token=f"run-{run}", file_name="payroll.csv", confirmed=True)
    approve_batch(runtime, OTIENO, batch.id)
    env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")} | {
        "K2_BASE_URL": sim.base_url, "K2_CLIENT_ID": sim.client_id, "K2_CLIENT_SECRET": sim.client_secret,
        "K2_API_KEY": KEY, "K2_TILL_NUMBER": sim.config.till_number, "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "OUTBOX_PER_SECOND": "400", "OUTBOX_CONCURRENCY": "16",
    }
    log = tmp_path / "server.log"

    first = start_worker(env, port, log)
    time.sleep(randomly.uniform(0.0, 4.0))  # recipients, then 500 payments: about 4 s in all
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    interrupted = Counter(row.status.value for row in batch_rows(runtime.engine, batch.id))

    restarted = time.monotonic()
    second = start_worker(env, port, log)
    started = time.monotonic() - restarted
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            statuses = Counter(row.status for row in batch_rows(runtime.engine, batch.id))
            if set(statuses) <= {RowStatus.PAID, RowStatus.FAILED, RowStatus.NEEDS_REVIEW}:
                paid_at_sim = Counter(entry["body"]["metadata"]["request_ref"] for entry in posts(sim, PAYMENTS_PATH))
                if all(not paid_at_sim[row.request_ref]
                       for row in _needing_review(batch_rows(runtime.engine, batch.id))):
                    break
            time.sleep(0.25)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    rows = batch_rows(runtime.engine, batch.id)
    sent = Counter(entry["body"]["metadata"]["request_ref"] for entry in posts(sim, PAYMENTS_PATH))
    assert len(rows) == ROWS, "a row was lost"
    assert max(sent.values()) == 1, f"paid twice: {[ref for ref, n in sent.items() if n > 1]}"
    assert {int(entry["body"]["metadata"]["row"]) for entry in posts(sim, PAYMENTS_PATH)} <= set(range(2, ROWS + 2))
    statuses = Counter(row.status for row in rows)
    assert set(statuses) <= {RowStatus.PAID, RowStatus.FAILED, RowStatus.NEEDS_REVIEW}, statuses
    # In doubt only when the process died between claiming the row and K2 receiving it: nothing moved for it.
    in_doubt = _needing_review(rows)
    assert all(not sent[row.request_ref] for row in in_doubt)
    assert len(in_doubt) <= 16, "at most the payments in flight at the kill"
    refused = [row for row in rows if row.details["phone_number"].endswith("002")]
    assert statuses[RowStatus.FAILED] == len([row for row in refused if row.status is not RowStatus.NEEDS_REVIEW])
    assert len(sent) == statuses[RowStatus.PAID] + statuses[RowStatus.FAILED]
    print(f"run {run}: restart {started:.1f} s, settled {time.monotonic() - restarted:.1f} s after; "
          f"killed at {dict(interrupted)}; ended {dict(statuses)}; "
          f"{len(posts(sim, RECIPIENTS_PATH))} recipient requests for {PEOPLE} people")
    runtime.stop()


def _needing_review(rows: list[BatchRowView]) -> list[BatchRowView]:
    return [row for row in rows if row.status is RowStatus.NEEDS_REVIEW]

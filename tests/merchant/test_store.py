"""Store writes without HTTP: result callbacks, reprocessing, schema upgrades, the worker's bounds."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from merchant.db import make_engine, open_database
from merchant.inbox.ingest import IngestWorker, QueueFull, Ticket
from merchant.inbox.mapping import (
    OUTCOME_FAILED,
    REQUEST_REF_KEY,
    Mapped,
)
from merchant.inbox.mapping import event_key
from merchant.inbox.store import Delivered, record_deliveries, reprocess_failed, write_batch

from .conftest import NOW, buygoods, count, delivered, rows

ROOT = Path(__file__).resolve().parents[2]


def record(engine: sa.Engine, *bodies: bytes) -> None:
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(body) for body in bodies])


def stk(status: str, *, k2_id: str = "ip-1", metadata: dict[str, str] | None = None) -> bytes:
    resource = None
    if status == "Success":
        resource = {"id": "r1", "reference": "QSTK1", "amount": "50.00", "currency": "KES", "till_number": "K000000",
                    "sender_phone_number": "+254712345678", "origination_time": "2026-11-20T09:24:54+03:00",
                    "status": "Received"}
    body = {"data": {"id": k2_id, "type": "incoming_payment", "attributes": {
        "initiation_time": "2026-11-20T09:24:48+03:00", "status": status,
        "event": {"type": "Incoming Payment Request", "resource": resource, "errors": None},
        "metadata": metadata or {}, "_links": {"self": f"https://k2.test/api/v1/incoming_payments/{k2_id}"}}}}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def database(database_url: str) -> sa.Engine:
    made = open_database(database_url)
    yield made
    made.dispose()


class TestResults:
    def test_record_pending_after_success_keeps_success(self, database) -> None:
        record(database, stk("Success"))
        record(database, stk("Pending"))
        (row,) = rows(database, "SELECT * FROM incoming_payments")
        assert (row.status, row.amount_cents, row.mpesa_reference) == ("Success", 5000, "QSTK1")
        assert count(database, "webhook_events") == 2

    def test_record_success_after_pending_updates_the_row(self, database) -> None:
        record(database, stk("Pending"))
        record(database, stk("Success"))
        (row,) = rows(database, "SELECT * FROM incoming_payments")
        assert row.status == "Success" and row.phone_number == "+254712345678"
        assert count(database, "transactions", "reference = 'QSTK1'") == 1

    def test_record_failure_keeps_the_amount_our_request_wrote(self, database) -> None:
        with database.begin() as connection:
            connection.execute(sa.text("INSERT INTO incoming_payments (request_ref, status, amount_cents, currency) "
                                       "VALUES ('ord-18', 'Pending', 2500, 'KES')"))
        record(database, stk("Failed", k2_id="ip-10", metadata={REQUEST_REF_KEY: "ord-18"}))
        (row,) = rows(database, "SELECT * FROM incoming_payments")
        assert (row.status, row.amount_cents, row.currency) == ("Failed", 2500, "KES")

    def test_record_result_attaches_to_our_request_by_metadata(self, database) -> None:
        with database.begin() as connection:
            connection.execute(sa.text("INSERT INTO incoming_payments (request_ref, status) VALUES ('ord-17', 'Sent')"))
        record(database, stk("Failed", k2_id="ip-9", metadata={REQUEST_REF_KEY: "ord-17"}))
        (row,) = rows(database, "SELECT * FROM incoming_payments")
        assert (row.request_ref, row.k2_id, row.status) == ("ord-17", "ip-9", "Failed")
        assert row.location == "https://k2.test/api/v1/incoming_payments/ip-9"


class TestBatches:
    def test_record_batch_with_repeats_inside_it_writes_once(self, database) -> None:
        record(database, buygoods(1), buygoods(2), buygoods(1), buygoods(3, reference="REF0000002"))
        assert count(database, "webhook_events") == 3
        assert count(database, "transactions") == 2

    def test_record_row_the_database_refuses_is_isolated_as_failed(self, database) -> None:
        good, bad = delivered(buygoods(1)), delivered(buygoods(2))
        bad.mapped.transactions[0]["amount_cents"] = None  # NOT NULL: only this event must fail
        with database.begin() as connection:
            record_deliveries(connection, [good, bad])
        assert count(database, "transactions") == 1
        outcomes = {row.id: row.outcome for row in rows(database, "SELECT id, outcome FROM webhook_events")}
        assert outcomes == {good.id: "mapped", bad.id: "failed"}


class TestRefusedRows:
    """A row the database or its driver refuses fails its own event only; the batch's neighbours are stored."""

    def test_write_batch_cents_past_bigint_is_isolated_as_failed(self, database) -> None:
        good, bad = delivered(buygoods(1)), delivered(buygoods(2))
        bad.mapped.transactions[0]["amount_cents"] = 10**30  # SQLite's driver: OverflowError; PostgreSQL: DataError
        write_batch(database, [good, bad])
        assert [row.reference for row in rows(database, "SELECT reference FROM transactions")] == ["REF0000001"]
        outcomes = {row.id: (row.outcome, row.error) for row in rows(database, "SELECT * FROM webhook_events")}
        assert outcomes[good.id] == ("mapped", None)
        assert outcomes[bad.id][0] == "failed" and outcomes[bad.id][1].startswith("database refused its rows")

    def test_write_batch_text_the_driver_cannot_encode_is_isolated(self, database) -> None:
        body = buygoods(2).replace(b'"Wanjiru"', b'"Wan\\ud800jiru"')  # a lone surrogate once parsed
        write_batch(database, [delivered(buygoods(1)), delivered(body), delivered(buygoods(3))])
        assert count(database, "transactions") == 2
        event = rows(database, "SELECT * FROM webhook_events WHERE outcome = 'failed'")[0]
        assert (event.id, event.payload) == ("evt-buygoods_transaction_received-2", body.decode())
        assert "surrogates not allowed" in event.error

    def test_write_batch_reference_too_long_for_an_index_is_isolated(self, database) -> None:
        body = buygoods(2, reference=os.urandom(40_000).hex())  # PostgreSQL: "index row requires ... bytes"
        write_batch(database, [delivered(buygoods(1)), delivered(body)])
        assert count(database, "transactions", "reference = 'REF0000001'") == 1
        assert count(database, "webhook_events") == 2
        if database.dialect.name == "postgresql":  # SQLite indexes any length
            assert count(database, "webhook_events", "outcome = 'failed'") == 1

    def test_write_batch_id_the_database_refuses_is_kept_under_its_body_hash(self, database) -> None:
        body = buygoods(2)
        hostile = delivered(body)
        hostile = Delivered("evt-\ud800", hostile.kind, NOW, hostile.payload, hostile.mapped)
        write_batch(database, [delivered(buygoods(1)), hostile])
        kept = rows(database, "SELECT * FROM webhook_events WHERE outcome = 'failed'")[0]
        assert kept.id.startswith("sha256:") and kept.payload == body.decode()
        assert "its id" in kept.error
        assert count(database, "transactions") == 1

    def test_event_key_an_id_no_index_holds_is_the_body_hash(self) -> None:
        for bad_id in ("x" * 5_000, "evt\x00", "evt\ud800", "evt\nnext", ""):
            raw = json.dumps({"topic": "buygoods_transaction_received", "id": bad_id}).encode()
            key = event_key(json.loads(raw), raw)
            assert key.id.startswith("sha256:") and key.kind == "buygoods_transaction_received"
        raw = json.dumps({"topic": "t" * 500, "id": "evt-1"}).encode()
        assert event_key(json.loads(raw), raw).kind == "unknown"
        deep: list[object] = []
        for _ in range(5_000):  # deeper than Python prints, built without the parser's limit
            deep = [deep]
        result = {"data": {"type": "payment", "id": "p1", "attributes": {"status": deep}}}
        key = event_key(result, b"{}")
        assert key.id.startswith("sha256:") and key.kind == "payment"


class TestReprocess:
    def test_reprocess_failed_maps_events_after_a_fix(self, database) -> None:
        body = buygoods(5)
        broken = delivered(body)
        failed = Delivered(broken.id, broken.kind, NOW, broken.payload, Mapped(outcome=OUTCOME_FAILED, error="bug"))
        with database.begin() as connection:
            record_deliveries(connection, [failed])
        assert count(database, "transactions") == 0

        assert reprocess_failed(database) == 1
        assert count(database, "transactions") == 1
        assert rows(database, "SELECT outcome, error FROM webhook_events")[0] == ("mapped", None)
        assert reprocess_failed(database) == 0

    def test_reprocess_command_maps_failed_events_in_the_configured_database(self, database, database_url) -> None:
        broken = delivered(buygoods(6))
        failed = Delivered(broken.id, broken.kind, NOW, broken.payload, Mapped(outcome=OUTCOME_FAILED, error="bug"))
        with database.begin() as connection:
            record_deliveries(connection, [failed])
        command = [sys.executable, "-m", "merchant.webhooks", "--reprocess"]
        done = subprocess.run(command, env=os.environ | {"DATABASE_URL": database_url}, capture_output=True,
                              text=True, timeout=60, check=True, cwd=ROOT)
        assert done.stdout.startswith("1 stored deliveries")
        assert count(database, "transactions") == 1

    def test_reprocess_failed_leaves_still_broken_events_failed(self, database) -> None:
        record(database, json.dumps({"no": "shape"}).encode())
        assert reprocess_failed(database) == 0
        assert rows(database, "SELECT outcome FROM webhook_events")[0].outcome == "failed"

    def test_reprocess_failed_leaves_a_body_nested_too_deeply_failed(self, database) -> None:
        payload = "[" * 5_000 + "]" * 5_000
        unreadable = Delivered("sha256:deep", "unknown", NOW, payload, Mapped(outcome=OUTCOME_FAILED, error="deep"))
        with database.begin() as connection:
            record_deliveries(connection, [unreadable])
        assert reprocess_failed(database) == 0
        assert tuple(rows(database, "SELECT outcome, error FROM webhook_events")[0]) == (
            "failed", "body is nested too deeply to read"
        )

    def test_redelivery_of_a_failed_event_heals_it(self, database) -> None:
        body = buygoods(6)
        broken = delivered(body)
        with database.begin() as connection:
            record_deliveries(connection, [Delivered(broken.id, broken.kind, NOW, broken.payload,
                                                     Mapped(outcome=OUTCOME_FAILED, error="bug"))])
        record(database, body)
        assert rows(database, "SELECT outcome FROM webhook_events")[0].outcome == "mapped"
        assert count(database, "transactions") == 1


class TestWorker:
    def test_submit_beyond_the_bound_raises_queue_full(self, database) -> None:
        worker = IngestWorker(database, queue_size=2)  # not started: nothing drains the queue
        loop = asyncio.new_event_loop()
        try:
            tickets = [Ticket(delivered(buygoods(n)), loop) for n in range(3)]
            worker.submit(tickets[0])
            worker.submit(tickets[1])
            with pytest.raises(QueueFull):
                worker.submit(tickets[2])
        finally:
            loop.close()

    def test_stop_writes_what_is_queued(self, database) -> None:
        worker = IngestWorker(database)
        loop = asyncio.new_event_loop()
        try:
            tickets = [Ticket(delivered(buygoods(n)), loop) for n in range(5)]
            for ticket in tickets:
                worker.submit(ticket)
            worker.start()
            worker.stop()
            loop.run_until_complete(asyncio.sleep(0))
            assert [ticket.future.result() for ticket in tickets] == [True] * 5
        finally:
            loop.close()
        assert count(database, "webhook_events") == 5
        assert not worker.running

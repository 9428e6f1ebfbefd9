"""The webhook route end to end: a real server on loopback, real signatures, and the database it writes."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from k2.webhooks import sign
from merchant.db.tables import Transaction
from merchant.inbox import WEBHOOK_PATH, WebhookReceiver

from .conftest import KEY, buygoods, count, eventually, rows, serve

TABLES = ("webhook_events", "transactions", "transaction_reversals", "customers", "settlements",
          "incoming_payments", "payments", "transfers", "send_money")


def stored_nothing(engine: sa.Engine) -> bool:
    return all(count(engine, table) == 0 for table in TABLES)


class TestFixtureBodies:
    def test_post_every_signed_fixture_lands_in_its_tables(
        self, receiver_factory, engine, signed_cases, fixture_key
    ) -> None:
        receiver = receiver_factory(api_key=fixture_key)
        for name, body, signature, _kind in signed_cases:
            assert receiver.post(body, signature).status_code == 200, name

        events = {row.id: row for row in rows(engine, "SELECT * FROM webhook_events")}
        assert sorted(row.kind for row in events.values()) == sorted(kind for *_, kind in signed_cases)
        assert all(row.outcome == "mapped" for row in events.values())
        assert {row.payload.encode() for row in events.values()} == {body for _, body, _, _ in signed_cases}

        money = {row.reference: row for row in rows(engine, "SELECT * FROM transactions")}
        # buygoods and the Daraja "Pay Bill" share OJM6Q1W84K; b2b and Daraja b2b share OJQ8USH5XK: one row each
        assert set(money) == {"OJM6Q1W84K", "OJQ8USH5XK", "893ebbcfc3-e8993-485e-929c-066741f47847", "OJJ1MPU40Z"}
        buygoods_row = money["OJM6Q1W84K"]
        assert (buygoods_row.kind, buygoods_row.amount_cents, buygoods_row.currency) == ("buygoods", 10000, "KES")
        assert buygoods_row.till_number == "514459"
        assert buygoods_row.sender_phone == "+254999999999"
        assert buygoods_row.status == "reversed"  # buygoodsreversedhook reverses the same reference
        assert (money["OJQ8USH5XK"].kind, money["OJQ8USH5XK"].amount_cents) == ("b2b", 31300)
        assert money["OJQ8USH5XK"].sender_till == "890642"
        m2m = money["893ebbcfc3-e8993-485e-929c-066741f47847"]
        assert (m2m.kind, m2m.amount_cents, m2m.sender_merchant) == ("m2m", 45600, "Jane Flowers")
        assert money["OJJ1MPU40Z"].amount_cents == 10000  # the paid STK push

        assert {row.phone_number for row in rows(engine, "SELECT * FROM customers")} == {
            "+254999999999", "+254888888888"
        }
        settlement = rows(engine, "SELECT * FROM settlements")[0]
        assert (settlement.amount_cents, settlement.destination_type) == (4945200, "Bank Account")

        stk = {row.k2_id: row for row in rows(engine, "SELECT * FROM incoming_payments")}
        assert stk["a652f86f-f2aa-4d70-baa2-ccfe4b78f4fc"].status == "Success"
        assert stk["a652f86f-f2aa-4d70-baa2-ccfe4b78f4fc"].mpesa_reference == "OJJ1MPU40Z"
        assert stk["09bc45fc-3b97-4c44-b860-42a7bcbd7480"].errors == "The initiator information is invalid."
        payment = rows(engine, "SELECT * FROM payments")[0]
        assert (payment.status, payment.amount_cents) == ("Processed", 78000)
        assert json.loads(payment.disbursements_json)[0]["transaction_reference"] == "LBA10034460"
        transfer = rows(engine, "SELECT * FROM transfers")[0]
        assert (transfer.status, transfer.amount_cents) == ("Processed", None)  # a blind transfer has no amount
        assert len(json.loads(transfer.disbursements_json)) == 3

    def test_post_times_are_stored_in_utc(self, receiver_factory, engine, signed_cases, fixture_key) -> None:
        receiver = receiver_factory(api_key=fixture_key)
        name, body, signature, _ = next(case for case in signed_cases if case[0] == "b2breceived.json")
        assert receiver.post(body, signature).status_code == 200
        with sa.orm.Session(engine) as session:
            row = session.scalars(sa.select(Transaction)).one()
        assert row.occurred_at == datetime(2020, 10, 29, 5, 18, 45, tzinfo=timezone.utc)


class TestRejections:
    @pytest.mark.parametrize(
        "tamper",
        ["byte", "wrong_key", "missing_header", "pretty_printed", "empty_signature"],
    )
    def test_post_unverifiable_is_401_and_stores_nothing(
        self, receiver_factory, engine, signed_cases, fixture_key, tamper, caplog
    ) -> None:
        receiver = receiver_factory(api_key=fixture_key)
        _, body, signature, _ = signed_cases[0]
        if tamper == "byte":
            body = body.replace(b'"100.0"', b'"900.0"')
        elif tamper == "wrong_key":
            signature = sign(body, "not-the-key")
        elif tamper == "pretty_printed":
            body = json.dumps(json.loads(body), indent=2).encode()
        elif tamper == "empty_signature":
            signature = ""
        with caplog.at_level(logging.WARNING):
            if tamper == "missing_header":
                response = receiver.post(body, key="")
            else:
                response = receiver.post(body, signature)
        assert response.status_code == 401
        assert stored_nothing(engine)
        refused = eventually(lambda: rows(engine, "SELECT minute, source, reason, count FROM webhook_rejections"))
        reason = "missing signature" if tamper in ("missing_header", "empty_signature") else "signature mismatch"
        assert [(row.source, row.reason, row.count) for row in refused] == [("127.0.0.1", reason, 1)]
        assert reason in caplog.text and "127.0.0.1" in caplog.text
        assert signature not in caplog.text or not signature

    def test_post_malformed_json_is_400_and_stores_nothing(self, receiver, engine) -> None:
        for body in (b"{not json", b"[1, 2]", b"\xff\xfe{}"):
            assert receiver.post(body).status_code == 400
        assert stored_nothing(engine)
        refused = eventually(lambda: rows(engine, "SELECT reason, count FROM webhook_rejections ORDER BY reason"),
                             lambda found: sum(row.count for row in found) == 3)
        assert [tuple(row) for row in refused] == [("body is not JSON", 2), ("body is not a JSON object", 1)]

    def test_post_over_size_limit_is_413(self, receiver_factory, engine) -> None:
        receiver = receiver_factory(max_body=1024)
        big = buygoods(1)[:-1] + b',"pad":"' + b"x" * 2000 + b'"}'
        assert receiver.post(big).status_code == 413

        def chunks():  # no Content-Length: the limit still holds while reading
            yield big[:500]
            yield big[500:]

        headers = {"X-KopoKopo-Signature": sign(big, KEY)}
        response = receiver.client.post(receiver.url, content=chunks(), headers=headers)
        assert response.status_code == 413
        assert stored_nothing(engine)
        refused = eventually(lambda: rows(engine, "SELECT reason, count FROM webhook_rejections"),
                             lambda found: sum(row.count for row in found) == 2)
        assert [tuple(row) for row in refused] == [("body too large", 2)]

    def test_post_with_no_api_key_configured_rejects_everything(self, receiver_factory, engine) -> None:
        receiver = receiver_factory(api_key="")
        assert receiver.post(buygoods(1), sign(buygoods(1), "")).status_code == 401
        assert stored_nothing(engine)


class TestIdempotency:
    def test_post_duplicate_delivery_is_200_and_one_row(self, receiver, engine) -> None:
        body = buygoods(7)
        assert [receiver.post(body).status_code for _ in range(3)] == [200, 200, 200]
        assert count(engine, "webhook_events") == 1
        assert count(engine, "transactions") == 1

    def test_post_reversal_before_its_receipt_marks_it_reversed(self, receiver, engine) -> None:
        reversal = buygoods(1, topic="buygoods_transaction_reversed", reference="QRV1")
        receipt = buygoods(2, reference="QRV1", amount="480.00")
        assert receiver.post(reversal).status_code == 200
        assert count(engine, "transactions") == 0
        assert count(engine, "transaction_reversals") == 1
        assert receiver.post(receipt).status_code == 200
        row = rows(engine, "SELECT * FROM transactions")[0]
        assert (row.reference, row.status, row.amount_cents) == ("QRV1", "reversed", 48000)
        assert row.reversed_at is not None

    def test_post_receipt_then_reversal_marks_it_reversed(self, receiver, engine) -> None:
        assert receiver.post(buygoods(2, reference="QRV2")).status_code == 200
        assert rows(engine, "SELECT status FROM transactions")[0].status == "received"
        assert receiver.post(buygoods(1, topic="buygoods_transaction_reversed", reference="QRV2")).status_code == 200
        assert rows(engine, "SELECT status FROM transactions")[0].status == "reversed"

    def test_post_unknown_topic_is_stored_and_shown(self, receiver, engine) -> None:
        body = json.dumps({"topic": "loyalty_points_awarded", "id": "evt-new", "created_at": "2026-11-20T10:00:00Z",
                           "event": {"type": "Loyalty", "resource": {"points": 5}}}).encode()
        assert receiver.post(body).status_code == 200
        event = rows(engine, "SELECT * FROM webhook_events")[0]
        assert (event.id, event.kind, event.outcome, event.payload) == (
            "evt-new", "loyalty_points_awarded", "unmapped", body.decode()
        )

    def test_post_unreadable_shape_is_stored_failed_with_reason(self, receiver, engine) -> None:
        body = json.dumps({"hello": "world"}).encode()
        assert receiver.post(body).status_code == 200
        event = rows(engine, "SELECT * FROM webhook_events")[0]
        assert event.outcome == "failed" and "neither" in event.error
        assert event.id.startswith("sha256:")

    def test_post_1000_concurrent_deliveries_with_duplicates_exact_counts(self, receiver, engine) -> None:
        distinct = [buygoods(n) for n in range(700)]
        deliveries = distinct + distinct[:300]  # 300 delivered twice, concurrently

        async def send_all() -> list[int]:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                async def send(body: bytes) -> int:
                    headers = {"X-KopoKopo-Signature": sign(body, KEY)}
                    return (await client.post(receiver.url, content=body, headers=headers)).status_code

                return await asyncio.gather(*(send(body) for body in deliveries))

        statuses = asyncio.run(send_all())
        assert statuses.count(200) == 1000
        assert count(engine, "webhook_events") == 700
        assert count(engine, "transactions") == 700
        assert rows(engine, "SELECT sum(amount_cents) AS total FROM transactions")[0].total == 700 * 25000
        assert count(engine, "customers") == 700


class TestUnavailableDatabase:
    def test_post_while_database_locked_is_503_then_200_on_retry(
        self, receiver_factory, engine, database_url
    ) -> None:
        receiver = receiver_factory(lock_timeout=0.2)
        body = buygoods(1)
        with engine.connect() as blocker:
            if engine.dialect.name == "sqlite":
                blocker.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                blocker.begin()
                blocker.execute(sa.text("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE"))
            assert receiver.post(body).status_code == 503
            blocker.rollback()
        assert count(engine, "webhook_events") == 0
        assert receiver.post(body).status_code == 200
        assert count(engine, "webhook_events") == 1
        assert count(engine, "transactions") == 1

    def test_post_waits_for_its_commit_at_most_wait_timeout(self, receiver_factory, engine) -> None:
        receiver = receiver_factory(wait_timeout=0.4)
        body = buygoods(1)
        with engine.connect() as blocker:
            if engine.dialect.name == "sqlite":
                blocker.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                blocker.begin()
                blocker.execute(sa.text("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            assert receiver.post(body).status_code == 503
            assert time.monotonic() - started < 2.5
            blocker.rollback()
        assert eventually(lambda: count(engine, "webhook_events")) == 1  # written once the lock went
        assert receiver.post(body).status_code == 200  # K2's retry: the same row
        assert count(engine, "transactions") == 1

    def test_post_before_start_is_503(self) -> None:
        receiver = WebhookReceiver()
        running = serve(Starlette(routes=receiver.routes))
        base = next(running)
        body = buygoods(1)
        response = httpx.post(base + WEBHOOK_PATH, content=body, headers={"X-KopoKopo-Signature": sign(body, KEY)})
        next(running, None)
        assert response.status_code == 503

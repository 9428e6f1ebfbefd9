"""The receiver as an attacker and a flaky network would try it, with honest K2 traffic going on beside.

Every honest delivery gets 200 and is stored once; a hostile one is stored `failed` (it was signed: nothing signed
is lost) or refused with a 4xx, never a 5xx; refusals are counted in `webhook_rejections`, sampled in the log."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import socket
import time
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from k2.webhooks import sign
from merchant.db import open_database
from merchant.inbox import REJECTION_COLUMNS, RejectionCounter, map_event, rejections
from merchant.inbox.mapping import event_key, raw_key
from merchant.access import CONSOLE
from merchant.money_in import MoneyInFilter
from merchant.money_in.transactions import export

from .conftest import KEY, NOW, buygoods, count, eventually, rows, server_logs

HONEST = 150
EVERY = 15  # a hostile delivery among every 15 honest ones, all sent at once: they share group commits
FORMULA = '=HYPERLINK("http://x")'
AMOUNTS = ["1e308", "1" * 30, "1e999999", "0", "-50", "NaN", "Infinity", "0.001"]


def _with(n: int, **resource: object) -> bytes:
    body = json.loads(buygoods(n))
    body["event"]["resource"].update(resource)
    return json.dumps(body, separators=(",", ":")).encode()


def hostile(case: str, n: int) -> bytes:
    """Hostile body number `n` (distinct per `n`, so none is a mere redelivery) of one kind, signed by the caller."""
    if case.startswith("amount "):
        return buygoods(n, amount=case.removeprefix("amount "))
    if case == "nested 5,000 deep":
        return b'{"topic":"buygoods_transaction_received","id":"' + str(n).encode() + b'","x":' + (
            b"[" * 5_000 + b"]" * 5_000
        ) + b"}"
    if case == "currency formula":
        return _with(n, currency=FORMULA)
    if case == "lone surrogate in a name":  # parses, maps, and then no database driver can encode it
        return buygoods(n).replace(b'"Wanjiru"', b'"Wan\\ud800jiru"')
    raise AssertionError(case)


CASES = [f"amount {amount}" for amount in AMOUNTS] + [
    "nested 5,000 deep", "currency formula", "lone surrogate in a name",
]


def stored_id(body: bytes) -> str:
    """The key the receiver stores `body` under (its hash when it cannot be read)."""
    try:
        return event_key(json.loads(body), body).id
    except RecursionError:
        return raw_key(body).id


async def post_all(url: str, bodies: list[bytes], *, connections: int = 48) -> list[int]:
    """Post every body, signed, all at once over `connections` connections; the statuses in order."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=connections)) as client:
        async def send(body: bytes) -> int:
            headers = {"X-KopoKopo-Signature": sign(body, KEY), "Content-Type": "application/json"}
            return (await client.post(url, content=body, headers=headers)).status_code

        return await asyncio.gather(*(send(body) for body in bodies))


class TestHostileBesideHonest:
    @pytest.mark.parametrize("case", CASES)
    def test_post_hostile_among_honest_deliveries(self, receiver, engine, case) -> None:
        honest = [buygoods(n) for n in range(HONEST)]
        bad = [hostile(case, 100_000 + n) for n in range(HONEST // EVERY)]
        mixed: list[bytes] = []
        for n, body in enumerate(honest):
            mixed.append(body)
            if n % EVERY == EVERY // 2:
                mixed.append(bad[n // EVERY])
        with server_logs() as logged:
            statuses = dict(zip(mixed, asyncio.run(post_all(receiver.url, mixed)), strict=True))

        assert [statuses[body] for body in honest] == [200] * HONEST
        refs = ", ".join(f"'REF{n:07d}'" for n in range(HONEST))
        assert count(engine, "transactions", f"reference IN ({refs})") == HONEST
        honest_ids = ", ".join(f"'evt-buygoods_transaction_received-{n}'" for n in range(HONEST))
        assert count(engine, "webhook_events", f"id IN ({honest_ids}) AND outcome = 'mapped'") == HONEST

        assert all(statuses[body] == 200 or 400 <= statuses[body] < 500 for body in bad), statuses
        events = {row.id: row for row in rows(engine, "SELECT id, outcome, error FROM webhook_events")}
        for body in bad:
            if statuses[body] != 200:
                assert stored_id(body) not in events
            elif case == "currency formula":  # money, in a currency nobody should trust: the export guards it
                assert events[stored_id(body)].outcome == "mapped"
            else:
                assert events[stored_id(body)].outcome == "failed" and events[stored_id(body)].error
        assert count(engine, "webhook_events") == HONEST + sum(statuses[body] == 200 for body in bad)
        expected_money = HONEST + (len(bad) if case == "currency formula" else 0)
        assert count(engine, "transactions") == expected_money
        assert not [record for record in logged if record.exc_info], "a traceback was logged"

        if case == "currency formula":
            around = MoneyInFilter(NOW - timedelta(days=1), NOW + timedelta(days=1))
            exported = list(csv.DictReader(io.StringIO(b"".join(export(engine, CONSOLE, around, format="csv"))
                                                       .decode("utf-8-sig"))))
            currencies = {line["Currency"] for line in exported}
            assert currencies == {"KES", f"'{FORMULA}"}

    def test_post_zero_and_negative_amounts_are_not_money_received(self, receiver, engine) -> None:
        for n, amount in enumerate(("0", "-50", "0.00", "-0.01")):
            assert receiver.post(buygoods(n, amount=amount)).status_code == 200
        assert count(engine, "transactions") == 0
        errors = [row.error for row in rows(engine, "SELECT error FROM webhook_events ORDER BY id")]
        assert errors == ["amount 0 is not positive", "amount -50 is not positive", "amount 0.00 is not positive",
                          "amount -0.01 is not positive"]


class TestAmounts:
    """Mapping's rule: money received is a positive, finite amount of whole cents that a BIGINT holds."""

    @pytest.mark.parametrize(
        ("amount", "reason"),
        [
            ("1e308", "too large to store"),
            ("1" * 30, "too large to store"),
            ("1e999999", "too large to store"),
            ("92233720368547758.08", "too large to store"),  # one cent past BIGINT
            ("0", "not positive"),
            ("-50", "not positive"),
            ("NaN", "finite number"),
            ("Infinity", "finite number"),
            ("-Infinity", "finite number"),
            ("0.001", "fraction of a cent"),
            ("1e-1000000", "fraction of a cent"),
            ("0.01" + "0" * 40 + "1", "fraction of a cent"),  # past Decimal's 28 digits: once rounded away
        ],
    )
    def test_map_event_amount_that_is_not_money_fails_with_reason(self, amount: str, reason: str) -> None:
        mapped = map_event(json.loads(buygoods(1, amount=amount)), event_id="e", received_at=NOW)
        assert (mapped.outcome, mapped.transactions, mapped.customers) == ("failed", [], [])
        assert reason in mapped.error and len(mapped.error) < 200

    @pytest.mark.parametrize(
        ("amount", "cents"),
        [("250.00", 25_000), ("0.01", 1), ("92233720368547758.07", 2**63 - 1), ("1." + "0" * 60, 100), ("5E+1", 5_000)],
    )
    def test_map_event_amount_in_whole_cents_is_money(self, amount: str, cents: int) -> None:
        mapped = map_event(json.loads(buygoods(1, amount=amount)), event_id="e", received_at=NOW)
        assert mapped.outcome == "mapped" and mapped.transactions[0]["amount_cents"] == cents

    def test_map_event_settlement_and_result_amounts_follow_the_same_rule(self) -> None:
        settlement = {"topic": "settlement_transfer_completed", "id": "s1", "created_at": "2026-11-20T10:00:00Z",
                      "event": {"type": "Settlement Transfer", "resource": {
                          "id": "s1", "amount": "-10.00", "currency": "KES", "status": "Transferred",
                          "origination_time": "2026-11-20T10:00:00Z", "destination_type": "Bank Account"}}}
        mapped = map_event(settlement, event_id="s1", received_at=NOW)
        assert (mapped.outcome, mapped.settlements) == ("failed", [])


class TestExport:
    @staticmethod
    def exported_line(database_url: str, **text: str | None) -> list[str]:
        """The CSV line of the one payment stored with these text columns (raw, as any writer could leave them)."""
        engine = open_database(database_url)
        row = {"reference": "OJM6Q1W84K", "kind": "buygoods", "status": "received", "currency": "KES",
               "sender_first_name": "Wanjiru", "sender_last_name": "Kamau", "sender_phone": "+254712345678",
               "till_number": "514459", **text}
        with engine.begin() as connection:
            connection.execute(sa.text(
                f"INSERT INTO transactions ({', '.join(row)}, amount_cents, occurred_at, event_id, recorded_at) "
                f"VALUES ({', '.join(':' + name for name in row)}, 300, :at, 'e1', :at)"), {**row, "at": NOW})
        around = MoneyInFilter(NOW - timedelta(days=1), NOW + timedelta(days=1))
        data = b"".join(export(engine, CONSOLE, around, format="csv"))
        engine.dispose()
        (line,) = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
        return line

    def test_export_csv_guards_every_text_cell(self, database_url: str) -> None:
        line = self.exported_line(database_url, reference="=1+1", kind="@kind", status="received", currency=FORMULA,
                                  sender_first_name=" =cmd|' /C calc'!A0", sender_last_name=None,
                                  sender_phone="\t=2", till_number="+1+2")
        assert line[4] == "3.00"
        assert all(cell.startswith("'") for index, cell in enumerate(line) if index not in (0, 3, 4, 5)), line

    def test_export_csv_keeps_phone_numbers_and_plain_text(self, database_url: str) -> None:
        line = self.exported_line(database_url)
        assert line[1:] == ["OJM6Q1W84K", "buygoods", "received", "3.00", "", "KES", "Wanjiru Kamau",
                            "+254712345678", "514459"]


def _raw_request(port: int, *, content_length: int, sent: bytes) -> socket.socket:
    """A connection that declares `content_length` bytes of body and sends only `sent`."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        b"POST /api/k2/webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-KopoKopo-Signature: " + sign(b"x", KEY).encode() + b"\r\n"
        b"Content-Length: " + str(content_length).encode() + b"\r\n\r\n" + sent
    )
    return connection


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def stored_refusals(engine: sa.Engine) -> dict[str, int]:
    found = rows(engine, "SELECT reason, sum(count) AS n FROM webhook_rejections GROUP BY reason")
    return {row.reason: int(row.n) for row in found}


class TestNetwork:
    def test_client_that_disconnects_mid_body_logs_no_traceback(self, receiver, engine) -> None:
        port = _port(receiver.url)
        with server_logs() as logged:
            for _ in range(30):
                _raw_request(port, content_length=1_000, sent=b'{"topic":').close()
            refused = eventually(lambda: stored_refusals(engine),
                                 lambda found: found.get("client disconnected before its body arrived") == 30)
            assert receiver.post(buygoods(1)).status_code == 200  # the receiver is fine
        assert refused == {"client disconnected before its body arrived": 30}
        assert not [record for record in logged if record.exc_info or record.levelno >= logging.ERROR], [
            record.getMessage() for record in logged
        ]
        assert len([record for record in logged if "disconnected" in record.getMessage()]) <= 3

    def test_stalled_body_is_cut_off_by_the_read_deadline(self, receiver_factory, engine) -> None:
        receiver = receiver_factory(read_timeout=0.5)
        port = _port(receiver.url)
        started = time.monotonic()
        stalled = [_raw_request(port, content_length=500, sent=b'{"topic":"x"') for _ in range(20)]
        answers = []
        for connection in stalled:
            answer = b""
            while chunk := connection.recv(4096):  # until the server closes the connection
                answer += chunk
            answers.append(answer)
            connection.close()
        assert time.monotonic() - started < 5
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[0]
        refused = eventually(lambda: stored_refusals(engine),
                             lambda found: found.get("body not received in time") == 20)
        assert refused == {"body not received in time": 20}
        assert receiver.post(buygoods(1)).status_code == 200

    def test_many_refusals_are_a_few_rows_and_a_few_log_lines(self, receiver, engine) -> None:
        bodies = [buygoods(n) for n in range(300)]

        async def send_unsigned() -> list[int]:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
                return await asyncio.gather(*(
                    client.post(receiver.url, content=body, headers={"X-KopoKopo-Signature": "f" * 64})
                    for body in bodies
                ))

        with server_logs() as logged:
            statuses = [response.status_code for response in asyncio.run(send_unsigned())]
            stored = eventually(lambda: rows(engine, "SELECT * FROM webhook_rejections"),
                                lambda found: sum(row.count for row in found) == 300)
        assert statuses == [401] * 300
        assert sum(row.count for row in stored) == 300
        assert len(stored) <= 2  # one per minute, source and reason (the run may straddle a minute)
        assert {(row.source, row.reason) for row in stored} == {("127.0.0.1", "signature mismatch")}
        lines = [record for record in logged if "signature mismatch" in record.getMessage()]
        assert 1 <= len(lines) <= 3
        assert count(engine, "webhook_events") == 0


class Clock:
    """A settable UTC clock for the counter."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def database(database_url: str):
    made = open_database(database_url)
    yield made
    made.dispose()


class TestRejectionCounter:
    def test_flush_adds_counts_to_the_minute_row(self, database) -> None:
        clock = Clock(datetime(2026, 11, 30, 9, 15, 5, tzinfo=timezone.utc))
        counter = RejectionCounter(clock=clock)
        for _ in range(3):
            counter.note("10.0.0.1", "signature mismatch")
        assert counter.flush(database) == 1
        clock.now += timedelta(seconds=20)
        counter.note("10.0.0.1", "signature mismatch")
        counter.note("10.0.0.2", "body too large")
        assert counter.pending == 2
        assert counter.flush(database) == 2
        assert counter.pending == 0 and counter.flush(database) == 0

        frame = rejections(database)
        assert tuple(frame.columns) == REJECTION_COLUMNS
        assert [tuple(row) for row in frame[["source", "reason", "count"]].itertuples(index=False)] == [
            ("10.0.0.1", "signature mismatch", 4), ("10.0.0.2", "body too large", 1)
        ]
        assert set(frame["minute"]) == {pd.Timestamp("2026-11-30 09:15", tz="UTC")}
        assert frame["last_at"].max() == pd.Timestamp("2026-11-30 09:15:25", tz="UTC")

    def test_rejections_since_and_limit(self, database) -> None:
        clock = Clock(datetime(2026, 11, 30, 9, 15, 5, tzinfo=timezone.utc))
        counter = RejectionCounter(clock=clock)
        for minutes in range(5):
            clock.now = datetime(2026, 11, 30, 9, 15 + minutes, 1, tzinfo=timezone.utc)
            counter.note("10.0.0.1", "signature mismatch")
        counter.flush(database)
        since = rejections(database, since=datetime(2026, 11, 30, 12, 17, 30, tzinfo=timezone(timedelta(hours=3))))
        assert list(since["minute"].dt.minute) == [19, 18, 17]
        assert len(rejections(database, limit=2)) == 2
        with pytest.raises(ValueError, match="aware"):
            rejections(database, since=datetime(2026, 11, 30))

    def test_log_samples_the_first_per_reason_and_summarizes_each_minute(self, caplog) -> None:
        clock = Clock(datetime(2026, 11, 30, 9, 15, 5, tzinfo=timezone.utc))
        counter = RejectionCounter(clock=clock)
        with caplog.at_level(logging.WARNING, logger="merchant.inbox.rejections"):
            for n in range(1_000):
                counter.note(f"10.0.0.{n % 7}", "signature mismatch")
            counter.note("10.0.0.9", "body too large")
            assert len(caplog.records) == 2
            clock.now += timedelta(minutes=1)
            counter.note("10.0.0.1", "signature mismatch")
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 4
        assert messages[2] == ("webhook refusals in the minute from 2026-11-30 09:15 UTC: 1,001 "
                               "(signature mismatch 1,000, body too large 1) from 8 source addresses")
        assert "signature mismatch" in messages[3]

    def test_flush_summarizes_a_minute_that_ended_quietly(self, database, caplog) -> None:
        clock = Clock(datetime(2026, 11, 30, 9, 15, 5, tzinfo=timezone.utc))
        counter = RejectionCounter(clock=clock)
        with caplog.at_level(logging.WARNING, logger="merchant.inbox.rejections"):
            for _ in range(5):
                counter.note("10.0.0.1", "signature mismatch")
            counter.flush(database)
            clock.now += timedelta(minutes=1)
            counter.flush(database)
            counter.flush(database)
        assert [record.getMessage().split(":")[0] for record in caplog.records] == [
            "webhook refused from 10.0.0.1", "webhook refusals in the minute from 2026-11-30 09"
        ]

    def test_many_sources_are_bounded_in_memory(self, database) -> None:
        counter = RejectionCounter(max_keys=10)
        for n in range(1_000):
            counter.note(f"2001:db8::{n:x}", "signature mismatch")
        assert counter.pending == 1_000
        assert counter.flush(database) <= 11
        frame = rejections(database)
        assert int(frame["count"].sum()) == 1_000 and "(other sources)" in set(frame["source"])

    def test_flush_that_fails_keeps_the_counts(self, database) -> None:
        counter = RejectionCounter()
        counter.note("10.0.0.1", "signature mismatch")
        broken = sa.create_engine("sqlite:////nonexistent/dir/x.db")
        with pytest.raises(sa.exc.OperationalError):
            counter.flush(broken)
        counter.note("10.0.0.1", "signature mismatch")
        assert counter.pending == 2
        counter.flush(database)
        assert int(rejections(database)["count"].sum()) == 2

"""Schema migrations: the database of release d74f602 upgrades with every row kept and the app serves it; a fresh
database at head is exactly the tables' schema, on SQLite and PostgreSQL; concurrent starts migrate once; Ask to
pay's requests move from `incoming_payments` to the outbox."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel
from streamlit.testing.v1 import AppTest

from merchant.access import Role
from tests.ui.conftest import page_as

from merchant.db import make_engine, migrate, open_database
from merchant.db import tables  # noqa: F401  (registers every table on SQLModel.metadata)
from merchant.db.tables import UTCDateTime
from merchant.money import from_cents
from merchant.outbound import OutboxState
from merchant.outbound.outbox import OUTBOX, OutboxRow
from merchant.payment_requests import recent_requests
from tests.servers import ROOT, running_app

STORED = ROOT / "tests" / "data" / "main-d74f602.sqlite"
_SCRIPTS = Config()
_SCRIPTS.set_main_option("script_location", str(ROOT / "merchant" / "db" / "migrations"))
HEAD = ScriptDirectory.from_config(_SCRIPTS).get_current_head()

# Rows in the stored database as release d74f602 wrote them (tests/data/README.md says how).
D74F602_COUNTS = {
    "webhook_events": 166,
    "transactions": 124,
    "transaction_reversals": 2,
    "customers": 32,
    "settlements": 1,
    "incoming_payments": 7,
    "payments": 1,
    "transfers": 1,
    "send_money": 0,
}
# Its seven Ask-to-pay requests, by the note typed with each: state, cents, phone, K2's word, reason.
D74F602_REQUESTS = {
    "2 kg sugar": (OutboxState.SUCCEEDED, 15000, "+254712345678", "Success", None),
    "cancelled one": (OutboxState.FAILED, 20000, "+254712345001", "Failed", "Request cancelled by user"),
    "callback lost": (OutboxState.ACCEPTED, 30000, "+254722000111", "Pending", None),
    "timed out": (OutboxState.SUCCEEDED, 45000, "+254733444555", "Success", None),
    "timed out, callback lost": (OutboxState.UNKNOWN, 46000, "+254733444556", None,
                                 "K2 did not answer in time; the customer may have the prompt."),
    "K2 down": (OutboxState.NOT_SENT, 9900, "+254744555666", None, "K2 could not be reached; nothing was sent."),
    "refused": (OutboxState.REJECTED, 12000, "+254755666777", None, "Rate limit exceeded"),
}
E164 = re.compile(r"^\+254\d{9}$")


def scalar(engine: sa.Engine, sql: str, **params: object) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def fetch(engine: sa.Engine, sql: str, **params: object) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql), params))


def checksum(engine: sa.Engine, sql: str) -> str:
    """sha256 over the rows of `sql` (which orders them), each as JSON text."""
    digest = hashlib.sha256()
    for row in fetch(engine, sql):
        digest.update(json.dumps(list(row), default=str).encode() + b"\n")
    return digest.hexdigest()


def checksums(engine: sa.Engine) -> tuple[str, str]:
    """What K2 sent (every stored body) and what it meant (every payment's reference, amount and status)."""
    return (
        checksum(engine, "SELECT id, kind, payload FROM webhook_events ORDER BY id"),
        checksum(engine, "SELECT reference, amount_cents, status FROM transactions ORDER BY reference"),
    )


def dump(engine: sa.Engine) -> dict[str, object]:
    """Every table's columns, indexes and rows (in a stable order)."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        return {
            name: (
                [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(name)],
                sorted(inspector.get_indexes(name), key=lambda index: index["name"] or ""),
                sorted((tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM {name}"))), key=repr),
            )
            for name in sorted(inspector.get_table_names())
            if name != "transactions_search"  # SQLite's FTS5 table cannot be read whole; its shadow tables are
        }


# The search index of revisions 0008 and 0010 is no SQLModel table: SQLite's FTS5 table with its shadow tables,
# PostgreSQL's trigram index on the column it computes itself (the app never writes it).
SEARCH_INDEX = re.compile(r"transactions_search(_[a-z]+)?|ix_transactions_search|searched_text")


def modelled(name: str | None, *_: object) -> bool:
    return not SEARCH_INDEX.fullmatch(name or "")


def schema_differences(engine: sa.Engine) -> list[Any]:
    """What autogenerate would change to make the database match the SQLModel tables (nothing, when they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True, "include_name": modelled}
        )
        return compare_metadata(context, SQLModel.metadata)


def versions(engine: sa.Engine) -> list[str]:
    return [row.version_num for row in fetch(engine, "SELECT version_num FROM alembic_version")]


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    """A copy of the database release d74f602 wrote, and a plain engine (no migration) to read it before."""
    path = tmp_path / "merchant.db"
    shutil.copyfile(STORED, path)
    url = f"sqlite:///{path}"
    plain = sa.create_engine(url)
    yield url, plain
    plain.dispose()


class TestD74F602Database:
    """The issue's acceptance: the stored database from release d74f602 opens with this code, every row kept."""

    def test_open_database_keeps_every_row(self, stored: tuple[str, sa.Engine]) -> None:
        url, plain = stored
        assert "alembic_version" not in sa.inspect(plain).get_table_names()
        assert {table: scalar(plain, f"SELECT count(*) FROM {table}") for table in D74F602_COUNTS} == D74F602_COUNTS
        before = checksums(plain)
        results_before = {row.k2_id: tuple(row) for row in fetch(
            plain, "SELECT k2_id, location, request_ref, status, errors, amount_cents, currency, result_event_id, "
                   "phone_number, till_number, mpesa_reference FROM incoming_payments WHERE k2_id IS NOT NULL")}
        assert len(results_before) == 4
        plain.dispose()

        engine = open_database(url)
        try:
            assert versions(engine) == [HEAD]
            counts = {table: scalar(engine, f"SELECT count(*) FROM {table}") for table in D74F602_COUNTS}
            assert counts == D74F602_COUNTS | {"incoming_payments": 4}
            assert checksums(engine) == before
            results_after = {row.k2_id: tuple(row) for row in fetch(
                engine, "SELECT k2_id, location, request_ref, status, errors, amount_cents, currency, "
                        "result_event_id, phone_number, till_number, mpesa_reference FROM incoming_payments")}
            assert results_after == results_before  # K2's results stay exactly as K2 gave them
            assert scalar(engine, "SELECT count(*) FROM webhook_rejections") == 0
            assert schema_differences(engine) == []
        finally:
            engine.dispose()

    def test_ask_to_pay_requests_become_outbox_rows_in_the_state_they_meant(
        self, stored: tuple[str, sa.Engine]
    ) -> None:
        url, plain = stored
        old = {row.note: row for row in fetch(plain, "SELECT * FROM incoming_payments")}
        plain.dispose()
        engine = open_database(url)
        try:
            with engine.connect() as connection:
                outbox = [OutboxRow.of(row) for row in connection.execute(sa.select(OUTBOX))]
                raw = {row.note: row for row in connection.execute(sa.text("SELECT * FROM outbox"))}  # as stored
            shown = recent_requests(engine)
        finally:
            engine.dispose()

        assert {row.note: (row.state, int(row.amount * 100), row.phone_number, row.k2_status, row.reason)
                for row in outbox} == D74F602_REQUESTS
        for row in outbox:
            was = old[row.note]
            assert row.request_ref == was.request_ref  # a late result still finds it by our id
            assert row.kind == "incoming_payment" and raw[row.note].currency == "KES"
            assert E164.match(row.phone_number) and row.params["phone_number"] == row.phone_number
            assert row.amount == from_cents(was.requested_cents)
            assert Decimal(row.params["amount"]) == row.amount
            assert row.params["metadata"] == {"request_ref": row.request_ref}
            assert row.params["till_number"] == "K000000"
            assert row.location == was.location and raw[row.note].k2_id == was.k2_id
            assert raw[row.note].created_at == was.requested_at and raw[row.note].sent_at == was.requested_at
            assert row.created_at.tzinfo is not None
            assert row.checks == 0
            # only a request K2 still holds is due for a status query
            assert (raw[row.note].due_at is not None) == (row.state is OutboxState.ACCEPTED)
        assert {row.params.get("first_name") for row in outbox} == {"Achieng", None}
        assert [row.note for row in outbox if row.params.get("first_name")] == ["2 kg sugar"]

        # the page's reader sees all seven, with the M-Pesa reference K2 gave the two that were paid
        assert len(shown) == 7
        assert set(shown["state"]) == {request[0] for request in D74F602_REQUESTS.values()}
        paid = shown[shown["state"] == OutboxState.SUCCEEDED]
        assert sorted(paid["mpesa_reference"]) == ["TKN8ORX0HE", "TRFGS4CFOL"]
        assert sorted(paid["amount"]) == [Decimal("150.00"), Decimal("450.00")]

    def test_only_requests_that_k2_never_knew_leave_incoming_payments(self, stored: tuple[str, sa.Engine]) -> None:
        url, plain = stored
        kept = sorted(row.k2_id for row in fetch(plain, "SELECT k2_id FROM incoming_payments WHERE k2_id IS NOT NULL"))
        plain.dispose()
        engine = open_database(url)
        try:
            after = fetch(engine, "SELECT k2_id, status FROM incoming_payments ORDER BY k2_id")
            columns = {column["name"] for column in sa.inspect(engine).get_columns("incoming_payments")}
        finally:
            engine.dispose()
        assert [row.k2_id for row in after] == kept
        assert sorted(row.status for row in after) == ["Failed", "Pending", "Success", "Success"]
        assert not columns & {"requested_at", "requested_cents", "first_name", "note"}

    def test_a_failed_upgrade_leaves_it_as_release_d74f602_left_it(self, stored: tuple[str, sa.Engine]) -> None:
        url, plain = stored
        with plain.begin() as connection:
            refuse_deletes(connection)
        before = dump(plain)
        plain.dispose()
        with pytest.raises(sa.exc.DBAPIError, match="refused by the test"):
            open_database(url)  # stamped at the baseline and half through 0002 when it fails
        engine = make_engine(url)
        try:
            assert dump(engine) == before  # not stamped, no outbox, no request lost
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TRIGGER refuse_deletes"))
        finally:
            engine.dispose()
        open_database(url).dispose()
        engine = make_engine(url)
        try:
            assert versions(engine) == [HEAD]
            assert scalar(engine, "SELECT count(*) FROM outbox") == 7
        finally:
            engine.dispose()

    def test_opening_it_again_changes_nothing(self, stored: tuple[str, sa.Engine]) -> None:
        url, plain = stored
        plain.dispose()
        open_database(url).dispose()
        engine = make_engine(url)
        first = dump(engine)
        engine.dispose()
        open_database(url).dispose()
        engine = make_engine(url)
        try:
            assert dump(engine) == first
            assert versions(engine) == [HEAD]
        finally:
            engine.dispose()

    def test_ask_to_pay_page_shows_the_moved_requests(
        self, stored: tuple[str, sa.Engine], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url, plain = stored
        plain.dispose()
        for name, value in app_env(url).items():
            monkeypatch.setenv(name, value)
        page = page_as("pages/ask_to_pay.py", Role.CASHIER)
        page.run()
        assert not page.exception, page.exception
        assert not page.error
        shown = page.dataframe[0].value
        assert len(shown) == 7
        assert sorted(shown["note"]) == sorted(D74F602_REQUESTS)
        assert "Achieng" in set(shown["first_name"])

    @pytest.mark.slow
    def test_the_app_serves_it(self, stored: tuple[str, sa.Engine], tmp_path: Path) -> None:
        url, plain = stored
        transactions = scalar(plain, "SELECT count(*) FROM transactions")
        plain.dispose()
        with running_app(app_env(url), tmp_path / "app.log") as base, httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/_stcore/health").status_code == 200
            assert client.get("/").status_code == 200
        engine = sa.create_engine(url)
        try:
            assert versions(engine) == [HEAD]
            assert scalar(engine, "SELECT count(*) FROM transactions") == transactions
            states = {row.note: row.state for row in fetch(engine, "SELECT note, state FROM outbox")}
            # K2 was unreachable throughout: nothing was sent and nothing settled
            assert states == {note: request[0].value for note, request in D74F602_REQUESTS.items()}
        finally:
            engine.dispose()


def app_env(url: str) -> dict[str, str]:
    """Settings for a real (not demo) start whose K2 is unreachable: nothing can be sent or settled."""
    return {
        "DATABASE_URL": url,
        "K2_CLIENT_ID": "id",
        "K2_CLIENT_SECRET": "secret",
        "K2_BASE_URL": "http://127.0.0.1:9",
        "K2_TILL_NUMBER": "K000000",
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
    }


class TestFreshDatabase:
    """A database made by the migrations, on SQLite and PostgreSQL."""

    def test_head_matches_the_tables_exactly(self, database_url: str) -> None:
        engine = open_database(database_url)
        try:
            assert versions(engine) == [HEAD]
            tables = set(filter(modelled, sa.inspect(engine).get_table_names()))
            assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
            assert schema_differences(engine) == []
        finally:
            engine.dispose()

    def test_migrating_twice_is_a_no_op(self, database_url: str) -> None:
        engine = open_database(database_url)
        try:
            now = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
            with engine.begin() as connection:
                connection.execute(sa.insert(tables.WebhookEvent.__table__).values(
                    id="evt-1", kind="buygoods_transaction_received", received_at=now, payload="{}", outcome="stored"))
            before = dump(engine)
            migrate(engine)
            migrate(engine)
            assert dump(engine) == before
            assert versions(engine) == [HEAD]
            assert schema_differences(engine) == []
        finally:
            engine.dispose()

    def test_concurrent_starts_all_succeed_and_migrate_once(self, database_url: str, tmp_path: Path) -> None:
        # Each process imports first, says so, then waits for one word on stdin: the three migrate together.
        code = (
            "import logging, sys\n"
            "from merchant.db import open_database\n"
            "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "open_database(sys.argv[1]).dispose()\n"
        )
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code, database_url], cwd=ROOT, env=os.environ.copy(),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(3)
        ]
        try:
            for process in processes:
                assert process.stdout is not None and process.stdout.readline() == "ready\n"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            finished = [process.communicate(timeout=60) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        for process, (_, errors) in zip(processes, finished, strict=True):
            assert process.returncode == 0, errors
        upgraded = [errors for _, errors in finished if "Running upgrade" in errors]
        assert len(upgraded) == 1, [errors for _, errors in finished]  # the others waited and found it done
        engine = make_engine(database_url)
        try:
            assert versions(engine) == [HEAD]
            assert schema_differences(engine) == []
        finally:
            engine.dispose()


# The old shape (revision 0001): a request we made lived in incoming_payments with four columns of ours.
_OLD = sa.table(
    "incoming_payments",
    *(sa.column(name) for name in (
        "k2_id", "location", "request_ref", "status", "errors", "metadata_json", "amount_cents", "currency",
        "result_event_id", "phone_number", "till_number", "mpesa_reference", "first_name", "note",
    )),
    sa.column("requested_cents", sa.BigInteger()),
    *(sa.column(name, UTCDateTime()) for name in ("requested_at", "updated_at")),
)
_T0 = datetime(2026, 11, 20, 5, 0, tzinfo=timezone.utc)


def _old_request(n: int, status: str, *, k2: bool, cents: int, **values: object) -> dict[str, object]:
    """A row as release d74f602's `request_payment` wrote it, then settled with `status`."""
    ref = f"ref-{n}"
    k2_id = f"k2-{n}" if k2 else None
    return {
        "k2_id": k2_id,
        "location": f"https://sandbox.kopokopo.com/api/v1/incoming_payments/{k2_id}" if k2 else None,
        "request_ref": ref,
        "status": status,
        "errors": None,
        "metadata_json": json.dumps({"request_ref": ref}),
        "amount_cents": cents,
        "currency": "KES",
        "result_event_id": None,
        "phone_number": f"+25471200000{n}",
        "till_number": "K000000",
        "mpesa_reference": None,
        "first_name": None,
        "note": f"note {n}",
        "requested_cents": cents,
        "requested_at": _T0 + timedelta(minutes=n),
        "updated_at": _T0 + timedelta(minutes=n, seconds=5),
    } | values


OLD_ROWS = [
    _old_request(1, "Requested", k2=False, cents=25000, first_name="Achieng", note="interrupted mid-send"),
    _old_request(2, "Pending", k2=True, cents=30000),
    _old_request(3, "Success", k2=True, cents=45000, mpesa_reference="TKN8ORX0HE",
                 result_event_id="incoming_payment:k2-3:Success"),
    _old_request(4, "Failed", k2=True, cents=20000, errors="Request cancelled by user",
                 result_event_id="incoming_payment:k2-4:Failed"),
    _old_request(5, "Unknown", k2=False, cents=1234567, errors="K2 did not answer in time."),
    _old_request(6, "Rejected", k2=False, cents=12000, errors="Rate limit exceeded"),
    # release d74f602 took shillings and cents ("99.50"); no metadata stored is rebuilt from our id
    _old_request(7, "Not sent", k2=False, cents=9950, errors="K2 could not be reached; nothing was sent.",
                 metadata_json=None),
    # a result K2 sent for a prompt another system made to our till: not ours, it stays where it is
    _old_request(8, "Success", k2=True, cents=5000, request_ref=None, requested_at=None, requested_cents=None,
                 note=None, mpesa_reference="TQX0000008", metadata_json=None),
]
# request_ref: (state, k2_status, reason, sent_at == requested_at, due)
EXPECTED_OUTBOX = {
    "ref-1": (OutboxState.UNKNOWN, None, "Sending was interrupted.", False),
    "ref-2": (OutboxState.ACCEPTED, "Pending", None, True),
    "ref-3": (OutboxState.SUCCEEDED, "Success", None, False),
    "ref-4": (OutboxState.FAILED, "Failed", "Request cancelled by user", False),
    "ref-5": (OutboxState.UNKNOWN, None, "K2 did not answer in time.", False),
    "ref-6": (OutboxState.REJECTED, None, "Rate limit exceeded", False),
    "ref-7": (OutboxState.NOT_SENT, None, "K2 could not be reached; nothing was sent.", False),
}


def refuse_deletes(connection: sa.Connection) -> None:
    """A trigger that fails any DELETE from incoming_payments, as a fault in the middle of revision 0002."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(
            "CREATE FUNCTION refuse_deletes() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"))
        connection.execute(sa.text(
            "CREATE TRIGGER refuse_deletes BEFORE DELETE ON incoming_payments "
            "FOR EACH ROW EXECUTE FUNCTION refuse_deletes()"))
    else:
        connection.execute(sa.text(
            "CREATE TRIGGER refuse_deletes BEFORE DELETE ON incoming_payments "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))


class TestMoveToOutbox:
    """Revision 0002 on rows written in the old shape, on SQLite and PostgreSQL."""

    def test_requests_move_and_k2_results_stay(self, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            migrate(engine, "0001")
            assert versions(engine) == ["0001"]
            with engine.begin() as connection:
                connection.execute(sa.insert(_OLD), OLD_ROWS)
            migrate(engine)
            assert versions(engine) == [HEAD]
            with engine.connect() as connection:
                moved = {row.request_ref: row for row in connection.execute(sa.select(OUTBOX))}
                results = list(connection.execute(sa.text(
                    "SELECT k2_id, request_ref, status, errors, mpesa_reference, amount_cents, result_event_id "
                    "FROM incoming_payments ORDER BY k2_id")))
            columns = {column["name"] for column in sa.inspect(engine).get_columns("incoming_payments")}
            assert schema_differences(engine) == []
        finally:
            engine.dispose()

        old = {row["request_ref"]: row for row in OLD_ROWS if row["request_ref"]}
        assert set(moved) == set(EXPECTED_OUTBOX)
        for ref, (state, k2_status, reason, due) in EXPECTED_OUTBOX.items():
            was, row = old[ref], OutboxRow.of(moved[ref])
            assert (row.state, row.k2_status, row.reason) == (state, k2_status, reason), ref
            assert row.kind == "incoming_payment" and moved[ref].currency == "KES"
            assert moved[ref].amount_cents == was["requested_cents"]
            assert row.amount == from_cents(was["requested_cents"]) == Decimal(row.params["amount"])
            assert row.phone_number == was["phone_number"] == row.params["phone_number"]
            assert row.params["metadata"] == {"request_ref": ref} and row.params["till_number"] == "K000000"
            assert row.params.get("first_name") == was["first_name"]
            assert row.note == was["note"]
            assert row.created_at == was["requested_at"]
            assert row.updated_at == was["updated_at"]
            assert moved[ref].sent_at == was["requested_at"]
            assert row.location == was["location"] and moved[ref].k2_id == was["k2_id"]
            assert (moved[ref].due_at is not None) is due
        assert OutboxRow.of(moved["ref-5"]).amount == Decimal("12345.67")
        assert OutboxRow.of(moved["ref-7"]).amount == Decimal("99.50")

        # what K2 told us stays; rows that held only our request are gone; so are our four columns
        assert [(row.k2_id, row.request_ref, row.status, row.mpesa_reference) for row in results] == [
            ("k2-2", "ref-2", "Pending", None),
            ("k2-3", "ref-3", "Success", "TKN8ORX0HE"),
            ("k2-4", "ref-4", "Failed", None),
            ("k2-8", None, "Success", "TQX0000008"),
        ]
        assert results[1].amount_cents == 45000 and results[1].result_event_id == "incoming_payment:k2-3:Success"
        assert not columns & {"requested_at", "requested_cents", "first_name", "note"}

    def test_a_failed_upgrade_leaves_the_database_as_it_was(self, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            migrate(engine, "0001")
            with engine.begin() as connection:
                connection.execute(sa.insert(_OLD), OLD_ROWS)
                refuse_deletes(connection)
            before = dump(engine)
            with pytest.raises(sa.exc.DBAPIError, match="refused by the test"):
                migrate(engine)  # fails after the outbox was made and requests copied into it
            assert versions(engine) == ["0001"]
            assert "outbox" not in sa.inspect(engine).get_table_names()
            assert dump(engine) == before
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TRIGGER refuse_deletes ON incoming_payments"
                                           if engine.dialect.name == "postgresql" else "DROP TRIGGER refuse_deletes"))
            migrate(engine)
            assert versions(engine) == [HEAD]
            assert scalar(engine, "SELECT count(*) FROM outbox") == len(EXPECTED_OUTBOX)
        finally:
            engine.dispose()

    def test_a_baseline_database_without_requests_upgrades(self, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            migrate(engine, "0001")
            migrate(engine)
            assert versions(engine) == [HEAD]
            assert scalar(engine, "SELECT count(*) FROM outbox") == 0
        finally:
            engine.dispose()

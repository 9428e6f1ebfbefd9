"""The outbox over real HTTP: a request written first, sent once by the worker to k2sim, settled by the signed
callback through a real receiver or by a status query (SQLite and PostgreSQL). Money never moves twice."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from k2 import K2Client
from k2sim import RunningSim
from merchant.access import CONSOLE
from merchant.config import Settings
from merchant.db import open_database
from merchant.outbound import (
    FINAL,
    TRANSITIONS,
    OutboxState,
    enqueue,
    enqueue_all,
    find,
    queued,
    state_for_k2_status,
)
from merchant.outbound.outbox import claim_queued, move, move_each
from merchant.outbound.states import sources
from merchant.payment_requests import request_payment
from merchant.runtime import Runtime

from .conftest import KEY, Executed, Receiver, rows

STK_PATH = "/api/v1/incoming_payments"


class TestStates:
    def test_final_states_never_move(self) -> None:
        assert FINAL == {OutboxState.SUCCEEDED, OutboxState.FAILED, OutboxState.REJECTED, OutboxState.NOT_SENT,
                         OutboxState.DECLINED, OutboxState.CANCELLED}
        assert all(not TRANSITIONS[state] for state in FINAL)

    def test_nothing_returns_to_queued_so_nothing_is_sent_twice(self) -> None:
        # only an approval queues, or a resume of a row a pause held before it was ever sent
        assert sources(OutboxState.QUEUED) == (OutboxState.AWAITING_APPROVAL, OutboxState.HELD)
        assert sources(OutboxState.HELD) == (OutboxState.QUEUED,)
        assert sources(OutboxState.SENDING) == (OutboxState.QUEUED,)  # only a queued row is ever sent

    @pytest.mark.parametrize(("word", "state"), [("Success", OutboxState.SUCCEEDED), ("Processed", OutboxState.SUCCEEDED),
                                                 ("Failed", OutboxState.FAILED), ("Pending", None), ("Scheduled", None)])
    def test_k2_words(self, word: str, state: OutboxState | None) -> None:
        assert state_for_k2_status(word) is state


def stk_params(ref: str, phone: str = "+254712345678") -> dict[str, object]:
    return {"till_number": "K000000", "phone_number": phone, "amount": "100", "metadata": {"request_ref": ref}}


def stk_request(ref: str, amount: int = 1) -> dict[str, object]:
    """The outbox row of an STK push with our id `ref`."""
    return queued(request_ref=ref, kind="incoming_payment", params=stk_params(ref), amount=Decimal(amount))


class TestTable:
    def test_the_same_submission_twice_is_one_row(self, database_url: str) -> None:
        engine = open_database(database_url)
        with engine.begin() as connection:
            assert enqueue(connection, stk_request("r1", 100))
            assert not enqueue(connection, stk_request("r1", 999))
        assert find(engine, "r1").amount == Decimal(100)
        engine.dispose()

    def test_many_written_again_stay_one_row_each(self, database_url: str) -> None:
        engine = open_database(database_url)
        first = [queued(request_ref=f"r{n}", kind="payment", params={}, amount=Decimal(n + 1)) for n in range(3)]
        again = [queued(request_ref=f"r{n}", kind="payment", params={}, amount=Decimal(999)) for n in range(5)]
        with engine.begin() as connection:
            enqueue_all(connection, first)
            enqueue_all(connection, again)  # a hand-over run twice: the rows already there are left as they are
        assert [find(engine, f"r{n}").amount for n in range(5)] == [1, 2, 3, 999, 999]
        engine.dispose()

    def test_a_move_the_table_forbids_changes_nothing(self, database_url: str) -> None:
        engine = open_database(database_url)
        with engine.begin() as connection:
            enqueue(connection, stk_request("r1"))
            assert move(connection, "r1", OutboxState.ACCEPTED) == 0  # queued → accepted skips sending
        assert [row.request_ref for row in claim_queued(engine, 10)] == ["r1"]
        assert claim_queued(engine, 10) == []  # claimed once
        with engine.begin() as connection:
            assert move(connection, "r1", OutboxState.REJECTED, reason="no") == 1
            assert move(connection, "r1", OutboxState.SUCCEEDED) == 0  # final stays final
        assert find(engine, "r1").state is OutboxState.REJECTED
        engine.dispose()

    def test_concurrent_claimers_never_take_the_same_row(self, database_url: str) -> None:
        engine = open_database(database_url)
        with engine.begin() as connection:
            for n in range(200):
                enqueue(connection, stk_request(f"r{n}"))
        claimed: list[str] = []
        lock = threading.Lock()

        def claimer() -> None:
            mine = open_database(database_url, lock_timeout=30)
            while batch := claim_queued(mine, 7):
                with lock:
                    claimed.extend(row.request_ref for row in batch)
            mine.dispose()

        threads = [threading.Thread(target=claimer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(claimed) == sorted(f"r{n}" for n in range(200))
        engine.dispose()

    def test_a_claim_takes_no_more_than_asked(self, database_url: str) -> None:
        """The worker asks for as many rows as it holds tokens and free senders for (PostgreSQL once re-ran the
        LIMIT subquery per row and handed over every queued row at once)."""
        engine = open_database(database_url)
        with engine.begin() as connection:
            for n in range(50):
                enqueue(connection, stk_request(f"r{n}"))
        assert [row.request_ref for row in claim_queued(engine, 3)] == ["r0", "r1", "r2"]
        assert len(claim_queued(engine, 40)) == 40
        engine.dispose()

    def test_a_claim_reads_the_rows_it_takes_not_every_queued_one(self, tmp_path: Path) -> None:
        """SQLite's plan for the claim: the next queued rows from the (state, id) index, then each by its id; not
        every queued row sorted, then walked again to find the chosen ones (claims slowed as a payroll filled the
        queue: 9 ms each at 10,000 rows)."""
        engine = open_database(f"sqlite:///{tmp_path / 'outbox.db'}")
        executed = Executed(engine)
        claim_queued(engine, 8)
        [(statement, parameters)] = executed.holding("UPDATE outbox")
        with engine.connect() as connection:
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        assert "SEARCH outbox USING COVERING INDEX ix_outbox_state_id (state=?)" in plan  # the next ones, in order
        assert [step for step in plan if step.startswith("SEARCH outbox") and "id=?" in step]  # each by its id
        assert not [step for step in plan if "TEMP B-TREE" in step]
        engine.dispose()


@pytest.fixture
def runtime_for(receiver: Receiver, database_url: str) -> Iterator[Callable[..., Runtime]]:
    """A started runtime whose outbox worker sends to `sim` and whose callbacks reach the running receiver."""
    started: list[Runtime] = []

    def start(sim: RunningSim, *, timeout: float = 5.0, check_after: float = 30.0, public: bool = True) -> Runtime:
        settings = Settings(
            k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret, k2_api_key=KEY,
            k2_till_number=sim.config.till_number, database_url=database_url,
            public_base_url=receiver.url.removesuffix("/api/k2/webhooks") if public else "http://127.0.0.1:9",
        )
        client = K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY, retry_backoff=0,
                          timeout=timeout)
        runtime = Runtime(settings, client=client, check_after=timedelta(seconds=check_after)).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
        assert runtime._given_client is not None  # noqa: SLF001 - lent by this fixture
        runtime._given_client.close()  # noqa: SLF001


def ask(runtime: Runtime, phone: str = "0712345678", amount: str = "500") -> str:
    ref = uuid.uuid4().hex
    request_payment(runtime, CONSOLE, request_ref=ref, phone_number=phone, amount=amount, repeat_ok=True)
    return ref


def settled(runtime: Runtime, ref: str, seconds: float = 20) -> OutboxState:
    """Wait until the request is final (or `seconds` pass); its state."""
    assert runtime.engine is not None
    deadline = threading.Event()
    for _ in range(int(seconds / 0.1)):
        row = find(runtime.engine, ref)
        assert row is not None
        if row.state in FINAL:
            return row.state
        deadline.wait(0.1)
    return row.state


def posts(sim: RunningSim, ref: str) -> int:
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": STK_PATH}, timeout=10).json()
    return sum(1 for entry in log if entry["method"] == "POST" and entry["body"].get("metadata", {}).get("request_ref") == ref)


def fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json=spec, timeout=10).raise_for_status()


class TestSending:
    def test_paid_request_succeeds_with_its_mpesa_reference(self, sim: RunningSim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        ref = ask(runtime)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        [result] = rows(engine, "SELECT status, mpesa_reference FROM incoming_payments WHERE request_ref = :r", r=ref)
        assert result.status == "Success" and result.mpesa_reference
        assert posts(sim, ref) == 1

    def test_cancelled_request_fails_with_k2s_reason(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        ref = ask(runtime, phone="0712345001")
        assert settled(runtime, ref) is OutboxState.FAILED
        assert "cancelled" in find(runtime.engine, ref).reason.lower()

    def test_timeout_is_unknown_never_resent_and_settled_by_its_callback(self, sim: RunningSim, runtime_for) -> None:
        fault(sim, type="timeout", seconds=2, path=STK_PATH)
        runtime = runtime_for(sim, timeout=0.5)
        ref = ask(runtime)
        for _ in range(50):
            if find(runtime.engine, ref).state is not OutboxState.QUEUED:
                break
            threading.Event().wait(0.05)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED  # the callback, matched by our id
        assert posts(sim, ref) == 1

    def test_dropped_callback_is_settled_by_one_status_query(self, sim: RunningSim, runtime_for) -> None:
        fault(sim, type="drop")
        runtime = runtime_for(sim, check_after=0.5)
        ref = ask(runtime)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        row = find(runtime.engine, ref)
        gets = [entry for entry in httpx.get(f"{sim.base_url}/sim/requests", timeout=10).json()
                if entry["method"] == "GET" and row.location and row.location.endswith(entry["path"])]
        assert len(gets) == 1 and row.checks == 1

    @pytest.mark.parametrize(("spec", "state"), [
        ({"type": "error", "status": 500}, OutboxState.UNKNOWN),
        ({"type": "error", "status": 503}, OutboxState.UNKNOWN),
        ({"type": "error", "status": 429}, OutboxState.REJECTED),
    ])
    def test_k2_errors_become_states(self, sim: RunningSim, runtime_for, spec: dict, state: OutboxState) -> None:
        fault(sim, path=STK_PATH, count=1, **spec)
        runtime = runtime_for(sim, public=False)
        ref = ask(runtime)
        for _ in range(100):
            if find(runtime.engine, ref).state not in (OutboxState.QUEUED, OutboxState.SENDING):
                break
            threading.Event().wait(0.05)
        assert find(runtime.engine, ref).state is state
        assert posts(sim, ref) <= 1

    def test_unreachable_k2_is_not_sent(self, sim: RunningSim, receiver: Receiver, database_url: str) -> None:
        settings = Settings(k2_base_url="http://127.0.0.1:9", k2_client_id="id", k2_client_secret="secret",
                            k2_till_number="K000000", public_base_url="http://127.0.0.1:9", database_url=database_url)
        dead = K2Client("http://127.0.0.1:9", "id", "secret", max_retries=0)
        runtime = Runtime(settings, client=dead).start()
        try:
            ref = ask(runtime)
            assert settled(runtime, ref, seconds=10) is OutboxState.NOT_SENT
        finally:
            runtime.stop()
            dead.close()

    def test_a_row_left_sending_by_a_dead_process_is_unknown_and_never_sent(
        self, sim: RunningSim, runtime_for, database_url: str
    ) -> None:
        engine = open_database(database_url)
        with engine.begin() as connection:
            enqueue(connection, stk_request("died", 100))
        assert [row.request_ref for row in claim_queued(engine, 1)] == ["died"]  # then the process died
        runtime = runtime_for(sim)
        threading.Event().wait(0.5)
        assert find(engine, "died").state is OutboxState.UNKNOWN
        assert posts(sim, "died") == 0
        engine.dispose()

    def test_duplicated_callback_settles_once(self, sim: RunningSim, runtime_for, engine) -> None:
        fault(sim, type="duplicate")
        runtime = runtime_for(sim)
        ref = ask(runtime)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        assert rows(engine, "SELECT count(*) AS n FROM incoming_payments WHERE request_ref = :r", r=ref)[0].n == 1



class TestApproval:
    def test_a_request_above_the_threshold_waits_for_someone_else(self, database_url: str) -> None:
        from merchant.outbound import approve, decline

        engine = open_database(database_url)
        with engine.begin() as connection:
            enqueue(connection, queued(request_ref="big", kind="payment", params={}, amount=Decimal(90_000),
                                       created_by="njeri", needs_approval=True))
            enqueue(connection, queued(request_ref="no", kind="payment", params={}, amount=Decimal(80_000),
                                       created_by="njeri", needs_approval=True))
        assert claim_queued(engine, 10) == []  # nothing waiting for approval is sent
        with engine.begin() as connection:
            assert not approve(connection, "big", "njeri")  # not the one who entered it
            assert approve(connection, "big", "wanjiku")
            assert not approve(connection, "big", "kamau")  # once
            assert decline(connection, "no", "wanjiku", "Not this month.")
            assert not approve(connection, "no", "kamau")
        assert [row.request_ref for row in claim_queued(engine, 10)] == ["big"]
        assert find(engine, "no").state is OutboxState.DECLINED and find(engine, "no").reason == "Not this month."
        engine.dispose()


def test_a_round_of_answers_moves_every_row_it_names(database_url: str) -> None:
    """K2's answers are written many rows to one statement (executemany): each row moves once, from the states
    the transition table allows only."""
    engine = open_database(database_url)
    with engine.begin() as connection:
        for n in range(3):
            enqueue(connection, stk_request(f"r{n}"))
    claim_queued(engine, 2)  # r0, r1 are sending; r2 stays queued
    with engine.begin() as connection:
        move_each(connection, OutboxState.ACCEPTED, [
            {"request_ref": ref, "location": f"http://k2/{ref}", "reason": None} for ref in ("r0", "r1", "r2")])
    assert [find(engine, f"r{n}").state for n in range(3)] == [OutboxState.ACCEPTED, OutboxState.ACCEPTED,
                                                                OutboxState.QUEUED]
    assert find(engine, "r1").location == "http://k2/r1"
    engine.dispose()

"""Bulk payouts through the real path: a spreadsheet read and checked, submitted by one person, approved by another,
handed to the outbox by the batch runner, paid by k2sim over HTTP, settled by its signed callbacks (SQLite and
PostgreSQL). Each row is paid at most once; each destination's recipient is made at K2 once and reused."""
from __future__ import annotations

import csv
import io
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from k2sim import RunningSim
from merchant.access import AuditAction, Role, User, audit_log
from merchant.access.users import insert_user
from merchant.errors import InputError
from merchant.payouts.batches import (
    RESULT_COLUMNS,
    BatchState,
    BatchView,
    NeedsConfirmation,
    OwnBatch,
    RowStatus,
    approve_batch,
    batch_rows,
    cancel_batch,
    check_batch,
    decline_batch,
    export_results,
    get_batch,
    list_batches,
    pause_batch,
    resume_batch,
    retry_failed,
    submit_batch,
)
from merchant.payouts.runner import BatchRunner
from merchant.payouts.sheet import CheckedSheet, check_sheet, read_sheet
from merchant.preferences import set_payout_api, set_self_approval
from merchant.runtime import Runtime

from .conftest import Executed, rows
from .test_outbox import runtime_for  # noqa: F401 - the outbox's live fixture, shared
from .test_payments import NJERI, OTIENO, fault, requests, user

HEADER = "Type,Name,Phone,Bank branch,Account number,Till number,Paybill number,Amount,Description,Reference"
BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"
V1_PATH, V2_PATH, RECIPIENTS_PATH = "/api/v1/payments", "/api/v2/send_money", "/api/v1/pay_recipients"


def sheet(*lines: str, name: str = "payroll.csv") -> CheckedSheet:
    return check_sheet(read_sheet(("\r\n".join((HEADER, *lines)) + "\r\n").encode(), name))


def payroll(count: int, *, fail_every: int = 0, start: int = 0) -> CheckedSheet:
    """`count` phone payments to different people; every `fail_every`-th phone ends in 002 (k2sim: insufficient
    funds)."""
    lines = []
    for n in range(start, start + count):
        suffix = "002" if fail_every and n % fail_every == fail_every - 1 else "123"
        lines.append(f"M-Pesa,Worker {n} Kamau,0711{n:03d}{suffix},,,,,{100 + n},Salary,NOV-{n}")
    return sheet(*lines)


def submitted(runtime: Runtime, checked: CheckedSheet, actor: User = NJERI, **options: Any) -> BatchView:
    return submit_batch(runtime, actor, checked, token=secrets.token_hex(8), file_name="payroll.csv", **options)


def finished(runtime: Runtime, batch_id: int, seconds: float = 60) -> BatchView:
    """The batch once nothing more will happen to it by itself (or after `seconds`)."""
    assert runtime.engine is not None
    deadline = time.monotonic() + seconds
    while True:
        batch = get_batch(runtime.engine, batch_id)
        assert batch is not None
        if (batch.done or not batch.moving) and batch.state is not BatchState.AWAITING_APPROVAL:
            return batch
        if time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


def posts_by_ref(sim: RunningSim, path: str) -> Counter[str]:
    return Counter(entry["body"]["metadata"]["request_ref"] for entry in requests(sim, path))


class TestSendingABatch:
    def test_a_mixed_file_is_paid_once_per_row_with_references_and_exported(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        runtime = runtime_for(sim)
        checked = sheet(
            "M-Pesa,Jane Wanjiru,0712 345 678,,,,,\"1,500\",November salary,NOV-1",
            "mpesa,Jane Wanjiru,+254712345678,,,,,200,Bus fare,NOV-2",  # the same phone: one recipient
            "Till,Kamau Hardware,,,,555123,,3000,Cement,INV-114",
            "Paybill,Kenya Power,,,14123,,888880,950,Tokens,",
            f"Bank,Mama Mboga Ltd,,{BRANCH},0100234123,,,12500.50,Supplies,INV-9",
            "M-Pesa,Brian Otieno,0722 000 002,,,,,700,Salary,NOV-3",  # 002: insufficient funds at k2sim
        )
        assert not checked.problems, checked.problems
        batch = submitted(runtime, checked, confirmed=True)
        assert batch.state is BatchState.AWAITING_APPROVAL and batch.row_count == 6
        assert batch.total == Decimal("18850.50")
        assert not requests(sim, RECIPIENTS_PATH), "nothing goes to K2 before approval"

        approve_batch(runtime, OTIENO, batch.id)
        done = finished(runtime, batch.id)

        assert done.done, done
        assert done.counts == {RowStatus.PAID: 5, RowStatus.FAILED: 1}
        assert done.paid == Decimal("18150.50")
        assert len(requests(sim, RECIPIENTS_PATH)) == 5, "one recipient per destination"
        sent = posts_by_ref(sim, V1_PATH)
        assert len(sent) == 6 and set(sent.values()) == {1}
        results = batch_rows(runtime.engine, batch.id)
        assert [row.number for row in results] == [2, 3, 4, 5, 6, 7]
        # M-Pesa's receipt for every paid M-Pesa row (a bank transfer carries none at k2sim)
        assert all(row.transaction_reference for row in results
                   if row.status is RowStatus.PAID and row.type != "bank_account"), results
        failed = next(row for row in results if row.status is RowStatus.FAILED)
        assert failed.number == 7 and "insufficient" in (failed.reason or "").lower()
        metadata = [entry["body"]["metadata"] for entry in requests(sim, V1_PATH)]
        assert {m["batch"] for m in metadata} == {str(batch.id)}
        assert sorted(int(m["row"]) for m in metadata) == [2, 3, 4, 5, 6, 7]

        exported = export_results(runtime.engine, OTIENO, batch.id, format="csv")
        table = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
        assert tuple(table[0]) == RESULT_COLUMNS
        assert table[1][3] == "0712 345 678" and table[1][7] == "Paid"
        assert sum(Decimal(line[4]) for line in table[1:] if line[7] == "Paid") == done.paid
        assert audit_log(runtime.engine, actions=[AuditAction.EXPORTED]).shape[0] == 1

    def test_recipients_are_reused_by_the_next_batch(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        runtime = runtime_for(sim)
        first = submitted(runtime, payroll(3))
        approve_batch(runtime, OTIENO, first.id)
        assert finished(runtime, first.id).done
        again = submitted(runtime, payroll(3), confirmed=True)
        approve_batch(runtime, OTIENO, again.id)
        assert finished(runtime, again.id).counts == {RowStatus.PAID: 3}
        assert len(requests(sim, RECIPIENTS_PATH)) == 3
        assert len(posts_by_ref(sim, V1_PATH)) == 6

    def test_a_destinations_rows_are_found_by_key_when_pointed_at_its_recipient(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        """The plan of the UPDATE that points rows at recipients: by a destination index, not a pass over the
        batch's rows per destination (SQLite chose the (batch, state) index: a 10,000-row payroll took 10,000
        passes, under the write lock)."""
        runtime = runtime_for(sim)
        assert runtime.engine is not None
        executed = Executed(runtime.engine)
        batch = submitted(runtime, payroll(3))
        approve_batch(runtime, OTIENO, batch.id)
        assert finished(runtime, batch.id).counts == {RowStatus.PAID: 3}
        pointing = executed.holding("UPDATE payout_rows SET recipient_id")
        assert pointing
        statement, parameters = pointing[0]
        with runtime.engine.connect() as connection:
            if runtime.engine.dialect.name == "sqlite":
                plan = str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all())
            else:  # a scan priced out: does the planner match an index to it at all (three rows never need one)
                connection.exec_driver_sql("SET enable_seqscan = off")
                plan = str(connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all())
        assert "ix_payout_rows_batch_destination" in plan or "ix_payout_rows_destination_key" in plan

    def test_batches_approved_by_another_process_are_picked_up_after_a_batch_went_out(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        """The page may run in another process than the runner: nothing wakes the runner then but its own poll,
        which must keep its interval after a round that handed rows over (not sleep a second per row)."""
        runtime = runtime_for(sim)
        page = Runtime(runtime.settings).open()  # approves; its own runner is not running
        try:
            for start in (0, 40):
                batch = submitted(page, payroll(40, start=start))
                approve_batch(page, OTIENO, batch.id)
                assert finished(runtime, batch.id, seconds=15).counts == {RowStatus.PAID: 40}
        finally:
            page.stop()
        assert len(posts_by_ref(sim, V1_PATH)) == 80

    def test_v2_sends_chunks_of_destinations(self, sim: RunningSim, runtime_for: Callable[..., Runtime]) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, user("owner", Role.OWNER), "v2")
        batch = submitted(runtime, payroll(120, fail_every=40))
        approve_batch(runtime, OTIENO, batch.id)
        done = finished(runtime, batch.id)
        assert done.counts == {RowStatus.PAID: 117, RowStatus.FAILED: 3}, done
        assert len(requests(sim, V2_PATH)) == 3, "120 rows in chunks of 50"
        assert not requests(sim, RECIPIENTS_PATH)
        assert all(row.transaction_reference for row in batch_rows(runtime.engine, batch.id)
                   if row.status is RowStatus.PAID)


class TestApproval:
    def test_the_submitter_cannot_approve_their_own_batch(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        runtime = runtime_for(sim)
        batch = submitted(runtime, payroll(2))
        with pytest.raises(OwnBatch, match="another finance user or the owner"):
            approve_batch(runtime, NJERI, batch.id)
        assert get_batch(runtime.engine, batch.id).state is BatchState.AWAITING_APPROVAL
        approve_batch(runtime, OTIENO, batch.id)
        with pytest.raises(InputError, match="already approved by otieno"):
            approve_batch(runtime, user("wambui"), batch.id)
        entries = audit_log(runtime.engine, actions=[AuditAction.BATCH_SUBMITTED, AuditAction.APPROVED])
        assert sorted(entries["actor"]) == ["njeri", "otieno"]

    def test_a_single_owner_may_self_approve_after_a_second_yes_when_switched_on(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        runtime = runtime_for(sim)
        with runtime.engine.begin() as connection:  # the shop's only user who may approve
            owner = insert_user(connection, username="mama", name="Mama Njeri", role=Role.OWNER,
                                password="a long enough password", email=None)
        batch = submitted(runtime, payroll(2), actor=owner)
        with pytest.raises(OwnBatch):
            approve_batch(runtime, owner, batch.id, self_approval=True)  # not switched on
        set_self_approval(runtime.engine, owner, True)
        with pytest.raises(OwnBatch, match="Confirm a second time"):
            approve_batch(runtime, owner, batch.id)
        assert approve_batch(runtime, owner, batch.id, self_approval=True).state is BatchState.SENDING

    def test_declining_sends_nothing(self, sim: RunningSim, runtime_for: Callable[..., Runtime]) -> None:
        runtime = runtime_for(sim)
        batch = submitted(runtime, payroll(3))
        declined = decline_batch(runtime, OTIENO, batch.id, reason="Wrong month")
        assert declined.state is BatchState.DECLINED and declined.note == "Wrong month"
        assert declined.counts == {RowStatus.CANCELLED: 3} and declined.done
        BatchRunner(runtime.engine, runtime.client).run_once()
        assert not requests(sim, RECIPIENTS_PATH) and not requests(sim, V1_PATH)


class TestSubmitting:
    def test_rows_with_problems_stop_the_submission(self, runtime_for: Callable[..., Runtime], sim: RunningSim
                                                   ) -> None:
        runtime = runtime_for(sim)
        bad = sheet("M-Pesa,Jane Wanjiru,0712 345 678,,,,,abc,Salary,")
        assert bad.problems
        with pytest.raises(InputError, match="1 problems in the file"):
            submitted(runtime, bad)
        assert list_batches(runtime.engine) == []

    def test_the_same_file_and_recent_repeats_need_a_second_look(
        self, sim: RunningSim, runtime_for: Callable[..., Runtime]
    ) -> None:
        runtime = runtime_for(sim)
        first = submitted(runtime, payroll(3))
        check = check_batch(runtime, NJERI, payroll(3))
        assert check.same_file is not None and check.same_file.id == first.id
        assert [number for number, _ in check.recent] == [2, 3, 4]
        assert "row 2 of batch" in check.recent[0][1]
        with pytest.raises(NeedsConfirmation, match="already submitted as batch"):
            submitted(runtime, payroll(3))
        assert submitted(runtime, payroll(3), confirmed=True).id != first.id
        fresh = check_batch(runtime, NJERI, payroll(2, start=500))
        assert fresh.clear

    def test_the_same_submission_twice_is_one_batch(self, sim: RunningSim, runtime_for: Callable[..., Runtime]
                                                    ) -> None:
        runtime = runtime_for(sim)
        token = secrets.token_hex(8)
        results: list[int] = []

        def submit() -> None:
            results.append(submit_batch(runtime, NJERI, payroll(4), token=token, file_name="a.csv").id)

        threads = [threading.Thread(target=submit) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 3 and len(set(results)) == 1 and len(list_batches(runtime.engine)) == 1


class TestWhileSending:
    def test_pause_holds_resume_sends_cancel_takes_back_the_rest(
        self, start_sim: Callable[..., RunningSim], runtime_for: Callable[..., Runtime], database_url: str
    ) -> None:
        sim = start_sim(latency_ms=300)  # 8 at a time: 30 rows take seconds, long enough to pause midway
        runtime = runtime_for(sim)
        batch = submitted(runtime, payroll(30))
        approve_batch(runtime, OTIENO, batch.id)
        deadline = time.monotonic() + 20
        while len(requests(sim, V1_PATH)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        paused = pause_batch(runtime, NJERI, batch.id)
        assert paused.state is BatchState.PAUSED
        time.sleep(1.0)
        sent_while_paused = len(requests(sim, V1_PATH))
        time.sleep(1.0)
        assert len(requests(sim, V1_PATH)) == sent_while_paused, "nothing goes out while paused"
        assert get_batch(runtime.engine, batch.id).counts.get(RowStatus.PAUSED, 0) > 0
        going = batch_rows(runtime.engine, batch.id, unsettled=5)  # what the page redraws while it sends
        assert len(going) == 5 and all(row.status is not RowStatus.PAID for row in going)
        assert [row.number for row in going] == sorted(row.number for row in going)

        resume_batch(runtime, NJERI, batch.id)
        while len(requests(sim, V1_PATH)) < sent_while_paused + 3 and time.monotonic() < deadline + 10:
            time.sleep(0.05)
        cancelled = cancel_batch(runtime, NJERI, batch.id)
        assert cancelled.state is BatchState.CANCELLED
        done = finished(runtime, batch.id)
        sent = posts_by_ref(sim, V1_PATH)
        assert done.done and set(sent.values()) == {1}
        assert done.counts[RowStatus.PAID] == len(sent)
        assert done.counts[RowStatus.CANCELLED] == 30 - len(sent) > 0
        with pytest.raises(InputError, match="cannot be resumed"):
            resume_batch(runtime, NJERI, batch.id)

    def test_failed_rows_become_a_new_batch(self, sim: RunningSim, runtime_for: Callable[..., Runtime]) -> None:
        runtime = runtime_for(sim)
        batch = submitted(runtime, payroll(8, fail_every=4))
        approve_batch(runtime, OTIENO, batch.id)
        assert finished(runtime, batch.id).counts == {RowStatus.PAID: 6, RowStatus.FAILED: 2}
        again = retry_failed(runtime, NJERI, batch.id, token=secrets.token_hex(8))
        assert again.retry_of == batch.id and again.row_count == 2
        assert again.state is BatchState.AWAITING_APPROVAL
        assert [row.number for row in batch_rows(runtime.engine, again.id)] == [5, 9]
        with pytest.raises(InputError, match="no failed rows"):
            retry_failed(runtime, NJERI, again.id, token=secrets.token_hex(8))

    def test_two_runners_hand_each_row_over_once(self, sim: RunningSim, runtime_for: Callable[..., Runtime]) -> None:
        runtime = runtime_for(sim)
        assert runtime.batches is not None
        runtime.batches.stop()  # these two race instead
        batch = submitted(runtime, payroll(40))
        approve_batch(runtime, OTIENO, batch.id)
        runners = [BatchRunner(runtime.engine, runtime.client) for _ in range(2)]
        threads = [threading.Thread(target=runner.run_once) for runner in runners for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outbox = rows(runtime.engine, "SELECT request_ref FROM outbox WHERE kind = 'payment'")
        assert len(outbox) == 40
        assert finished(runtime, batch.id).counts == {RowStatus.PAID: 40}
        assert set(posts_by_ref(sim, V1_PATH).values()) == {1}

"""Paying one recipient through the outbox, over real HTTP: k2sim pays (or refuses) it, its signed callback reaches a
real receiver or a status query settles it (SQLite and PostgreSQL). One submission is one payment; above the owner's
threshold a second person lets it go; v2 sends it as send_money; the history filters and exports it safely."""
from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.config import Settings
from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, User, audit_log
from merchant.errors import InputError
from merchant.outbound import FINAL, OutboxState, find
from merchant.payouts.payments import (
    EXPORT_COLUMNS,
    OwnPayment,
    Payout,
    approve_payment,
    awaiting_approval,
    check_payment,
    decline_payment,
    export_payments,
    get_payment,
    pay,
    payment_history,
)
from merchant.payouts.recipients import RecipientView, add_recipient
from merchant.preferences import set_approval_threshold, set_payout_api
from merchant.runtime import Runtime

from .conftest import KEY, Receiver, rows
from .test_outbox import runtime_for  # noqa: F401 - the outbox's live fixture, shared

V1_PATH = "/api/v1/payments"
V2_PATH = "/api/v2/send_money"
BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"


class BlankDescription(httpx.HTTPTransport):
    """Between our client and k2sim: blanks a payment's description after `k2` checked it, so k2sim answers the 400
    K2 gives a blank required field (our client never sends one itself)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == V1_PATH:
            body = json.loads(request.read()) | {"description": " "}
            headers = {key: value for key, value in request.headers.items() if key.lower() != "content-length"}
            request = httpx.Request("POST", request.url, headers=headers, json=body)
        return super().handle_request(request)


def runtime_over(sim: RunningSim, receiver: Receiver, database_url: str, transport: httpx.BaseTransport) -> Runtime:
    """A started runtime whose K2 client goes through `transport` (stop it, and its client, after)."""
    settings = Settings(k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret,
                        k2_api_key=KEY, k2_till_number=sim.config.till_number, database_url=database_url,
                        public_base_url=receiver.url.removesuffix("/api/k2/webhooks"))
    return Runtime(settings, client=K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY,
                                             retry_backoff=0, transport=transport)).start()


def user(username: str, role: Role = Role.FINANCE) -> User:
    return User(username, username.title(), None, role, False, datetime.now(UTC), None, None)


NJERI = user("njeri")  # enters payments
OTIENO = user("otieno")  # approves them


def recipient(runtime: Runtime, type: str = "mobile_wallet", suffix: str = "678", **details: str) -> RecipientView:
    """A recipient added at k2sim and here; `suffix` ends its phone, account, till or paybill account (k2sim's
    forced outcomes: 002 insufficient funds, 003 timeout, 005 recipient rejected)."""
    defaults: dict[str, dict[str, str]] = {
        "mobile_wallet": {"first_name": "Jane", "last_name": "Wanjiru", "phone_number": f"0712345{suffix}"},
        "bank_account": {"account_name": "Mama Mboga Ltd", "account_number": f"0100234{suffix}",
                         "bank_branch_ref": BRANCH, "settlement_method": "EFT"},
        "till": {"till_name": "Kamau Hardware", "till_number": f"555{suffix}"},
        "paybill": {"paybill_name": "Kenya Power", "paybill_number": "888880", "paybill_account_number": f"14{suffix}"},
    }
    view = add_recipient(runtime, CONSOLE, type=type, nickname=None, details=defaults[type] | details,
                         confirm_duplicate=True)
    assert view.confirmed, view
    return view


def paid(runtime: Runtime, to: RecipientView, amount: str = "1500", *, actor: User = NJERI, ref: str | None = None,
         description: str = "Stock, invoice 114", reference: str | None = None) -> str:
    ref = ref or uuid.uuid4().hex
    pay(runtime, actor, request_ref=ref, recipient_id=to.id, amount=amount, description=description,
        reference=reference)
    return ref


def settled(runtime: Runtime, ref: str, seconds: float = 20) -> Payout:
    """The payment once final (or after `seconds`)."""
    assert runtime.engine is not None
    deadline = time.monotonic() + seconds
    while True:
        payout = get_payment(runtime.engine, ref)
        assert payout is not None
        if payout.state in FINAL or time.monotonic() > deadline:
            return payout
        time.sleep(0.05)


def left(runtime: Runtime, ref: str, states: tuple[OutboxState, ...], seconds: float = 10) -> OutboxState:
    """The payment's state once it is no longer in `states`."""
    assert runtime.engine is not None
    deadline = time.monotonic() + seconds
    while (state := find(runtime.engine, ref).state) in states and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def requests(sim: RunningSim, path: str, ref: str | None = None) -> list[dict[str, Any]]:
    """The POSTs k2sim received on `path` (for our id `ref`)."""
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}, timeout=10).json()
    return [entry for entry in log if entry["method"] == "POST"
            and (ref is None or (entry["body"].get("metadata") or {}).get("request_ref") == ref)]


def fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json=spec, timeout=10).raise_for_status()


def audited(runtime: Runtime, action: AuditAction) -> list[dict[str, Any]]:
    assert runtime.engine is not None
    return audit_log(runtime.engine, actions=[action]).to_dict("records")


class TestPaying:
    @pytest.mark.parametrize("type", ["mobile_wallet", "bank_account", "till", "paybill"])
    def test_pay_each_type_succeeds_with_its_transaction_reference(self, sim: RunningSim, runtime_for, type: str,
                                                                   engine) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime, type)
        ref = paid(runtime, to, "1500", reference="INV-114")
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.SUCCEEDED and payout.k2_status == "Processed"
        assert (payout.recipient_nickname, payout.amount, payout.description, payout.reference) == (
            to.nickname, Decimal(1500), "Stock, invoice 114", "INV-114")
        if type == "bank_account":
            assert payout.transaction_reference is None  # banks give K2 no reference for a leg
        else:
            assert payout.transaction_reference and len(payout.transaction_reference) == 10
        [sent] = requests(sim, V1_PATH, ref)
        assert sent["body"]["destination_reference"] == to.k2_reference
        assert sent["body"]["metadata"] == {"request_ref": ref, "reference": "INV-114"}
        assert sent["body"]["amount"] == {"currency": "KES", "value": "1500.00" if type == "bank_account" else "1500"}
        [stored] = rows(engine, "SELECT status FROM payments WHERE request_ref = :r", r=ref)
        assert stored.status == "Processed"
        [entry] = audited(runtime, AuditAction.MONEY_REQUESTED)
        assert (entry["actor"], entry["target"]) == ("njeri", ref)

    def test_cents_go_to_a_bank_but_not_to_m_pesa(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        bank, phone = recipient(runtime, "bank_account"), recipient(runtime)
        ref = paid(runtime, bank, "1,250.50")
        assert settled(runtime, ref).amount == Decimal("1250.50")
        assert requests(sim, V1_PATH, ref)[0]["body"]["amount"]["value"] == "1250.50"
        with pytest.raises(InputError, match="whole shillings; pay 1250 or 1251") as caught:
            paid(runtime, phone, "1250.50")
        assert caught.value.field == "amount"

    @pytest.mark.parametrize(("amount", "says"), [("", "enter how many"), ("abc", "not a number"), ("0", "at least"),
                                                  ("-5", "at least"), ("250001", "at most KES 250,000"),
                                                  ("10.005", "cents at most")])
    def test_bad_amounts_are_named_and_nothing_is_written(self, sim: RunningSim, runtime_for, amount: str,
                                                          says: str) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime, "bank_account" if amount == "10.005" else "mobile_wallet")
        with pytest.raises(InputError, match=says) as caught:
            paid(runtime, to, amount)
        assert caught.value.field == "amount"
        assert payment_history(runtime.engine).empty

    def test_a_description_is_needed_and_a_recipient_must_be_chosen_and_enabled(self, sim: RunningSim,
                                                                                 runtime_for) -> None:
        from merchant.payouts.recipients import disable_recipient

        runtime = runtime_for(sim)
        to = recipient(runtime)
        with pytest.raises(InputError, match="Description: say what the payment is for"):
            paid(runtime, to, description="   ")
        with pytest.raises(InputError, match="Recipient: choose who to pay"):
            pay(runtime, NJERI, request_ref="x", recipient_id=None, amount="10", description="x")
        disable_recipient(runtime.engine, CONSOLE, to.id)
        with pytest.raises(InputError, match="disabled"):
            paid(runtime, to)
        assert payment_history(runtime.engine).empty and not requests(sim, V1_PATH)

    def test_check_shows_what_would_be_sent_and_writes_nothing(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        draft = check_payment(runtime, NJERI, recipient_id=to.id, amount="KES 12,500", description=" Rent  May ",
                              reference="")
        assert (draft.amount, draft.description, draft.reference, draft.api) == (Decimal(12500), "Rent May", None, "v1")
        assert not draft.needs_approval and draft.earlier is None
        assert payment_history(runtime.engine).empty

    def test_the_same_amount_to_the_same_recipient_again_is_pointed_out(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        ref = paid(runtime, to, "700")
        draft = check_payment(runtime, NJERI, recipient_id=to.id, amount="700", description="again")
        assert draft.earlier is not None and draft.earlier.request_ref == ref
        assert check_payment(runtime, NJERI, recipient_id=to.id, amount="701", description="x").earlier is None


class TestOutcomes:
    @pytest.mark.parametrize(("suffix", "says"), [("002", "Insufficient funds"),
                                                  ("004", "initiator information is invalid"),
                                                  ("005", "could not receive the funds")])
    def test_forced_failures_carry_k2s_reason(self, sim: RunningSim, runtime_for, suffix: str, says: str) -> None:
        runtime = runtime_for(sim)
        ref = paid(runtime, recipient(runtime, suffix=suffix))
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.FAILED and says in payout.reason
        assert payout.transaction_reference is None

    def test_an_outcome_queued_at_k2_is_what_happens(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        httpx.post(f"{sim.base_url}/sim/outcomes", json={"kind": "payment", "outcome": "INSUFFICIENT_FUNDS"},
                   timeout=10).raise_for_status()
        assert "Insufficient funds" in settled(runtime, paid(runtime, to)).reason
        assert settled(runtime, paid(runtime, to, "99")).state is OutboxState.SUCCEEDED  # the next one pays

    def test_a_transfer_k2_never_finishes_is_settled_failed_by_a_status_query(self, sim: RunningSim,
                                                                                runtime_for) -> None:
        runtime = runtime_for(sim, check_after=0.5)
        ref = paid(runtime, recipient(runtime, suffix="003"))  # k2sim: times out, and sends no callback
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.FAILED and "timed out" in payout.reason
        assert find(runtime.engine, ref).checks >= 1

    def test_k2_refusing_a_field_with_422_is_rejected_with_the_field_named(self, sim: RunningSim,
                                                                           runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        httpx.post(f"{sim.base_url}/sim/reset", timeout=10).raise_for_status()  # K2 no longer knows the recipient
        payout = settled(runtime, paid(runtime, to))
        assert payout.state is OutboxState.REJECTED
        assert payout.reason.startswith("destination_reference: ")
        [sent] = requests(sim, V1_PATH)
        assert sent["status"] == 422

    def test_k2_refusing_a_blank_field_with_400_is_rejected_with_the_field_named(
        self, sim: RunningSim, receiver: Receiver, database_url: str
    ) -> None:
        runtime = runtime_over(sim, receiver, database_url, BlankDescription())
        try:
            payout = settled(runtime, paid(runtime, recipient(runtime)))
        finally:
            runtime.stop()
            runtime._given_client.close()  # noqa: SLF001 - lent here
        assert payout.state is OutboxState.REJECTED
        assert payout.reason == "description: is required"
        assert [entry["status"] for entry in requests(sim, V1_PATH)] == [400]

    @pytest.mark.parametrize("status", [500, 503])
    def test_a_5xx_is_unknown_and_never_sent_again(self, sim: RunningSim, runtime_for, status: int) -> None:
        fault(sim, type="error", status=status, path=V1_PATH, count=1)
        runtime = runtime_for(sim)
        ref = paid(runtime, recipient(runtime))
        assert left(runtime, ref, (OutboxState.QUEUED, OutboxState.SENDING)) is OutboxState.UNKNOWN
        time.sleep(0.5)
        assert len(requests(sim, V1_PATH, ref)) == 1 and find(runtime.engine, ref).state is OutboxState.UNKNOWN
        assert str(status) in get_payment(runtime.engine, ref).reason

    def test_a_timeout_is_unknown_then_settled_by_its_callback(self, runtime_for) -> None:
        # The callback comes 1.5 s after the request, once our client (0.5 s) has given up waiting for the answer.
        with start_in_thread(SimConfig(api_key=KEY, callback_delay_s=1.5, delivery_backoff_s=0.0)) as sim:
            runtime = runtime_for(sim, timeout=0.5)
            to = recipient(runtime)
            fault(sim, type="timeout", seconds=3, path=V1_PATH)
            ref = paid(runtime, to)
            assert left(runtime, ref, (OutboxState.QUEUED, OutboxState.SENDING)) is OutboxState.UNKNOWN
            assert "did not answer" in get_payment(runtime.engine, ref).reason
            payout = settled(runtime, ref)
            assert payout.state is OutboxState.SUCCEEDED and payout.transaction_reference
            assert len(requests(sim, V1_PATH, ref)) == 1

    def test_a_dropped_callback_is_settled_by_one_status_query(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim, check_after=0.5)
        to = recipient(runtime)
        fault(sim, type="drop")
        ref = paid(runtime, to)
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.SUCCEEDED and payout.transaction_reference
        row = find(runtime.engine, ref)
        log = httpx.get(f"{sim.base_url}/sim/requests", timeout=10).json()
        gets = [entry for entry in log if entry["method"] == "GET" and row.location.endswith(entry["path"])]
        assert len(gets) == 1 and row.checks == 1

    def test_a_duplicated_callback_is_one_payment(self, sim: RunningSim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        fault(sim, type="duplicate")
        ref = paid(runtime, to)
        assert settled(runtime, ref).state is OutboxState.SUCCEEDED
        deliveries = httpx.get(f"{sim.base_url}/sim/deliveries", params={"resource_id": find(engine, ref).location
                                                                           .rsplit("/", 1)[-1]}, timeout=10).json()
        assert len(deliveries) == 2  # K2 sent it twice
        assert rows(engine, "SELECT count(*) AS n FROM payments WHERE request_ref = :r", r=ref)[0].n == 1
        assert len(payment_history(engine)) == 1

    def test_an_expired_token_is_refreshed_once_and_the_payment_sent_once(self, start_sim, runtime_for) -> None:
        sim = start_sim(token_ttl_s=1)
        runtime = runtime_for(sim)
        to = recipient(runtime)
        assert settled(runtime, paid(runtime, to)).state is OutboxState.SUCCEEDED
        # The client still trusts its token (as after a clock jump, or K2 ending tokens early) after K2 expired it.
        tokens = runtime.client._tokens  # noqa: SLF001 - the client's own cache, the one thing a test must age
        tokens._current = (tokens._current[0], time.monotonic() + 3600)  # noqa: SLF001
        time.sleep(1.2)
        ref = paid(runtime, to, "200")
        assert settled(runtime, ref).state is OutboxState.SUCCEEDED
        statuses = [entry["status"] for entry in requests(sim, V1_PATH, ref)]
        assert statuses == [401, 201]  # refused once as expired, sent again with a fresh token, paid once
        grants = [entry for entry in httpx.get(f"{sim.base_url}/sim/requests", params={"path": "/oauth/token"},
                                               timeout=10).json()]
        assert len(grants) >= 2


class TestOneSubmission:
    def test_the_same_submission_again_and_at_once_is_one_payment(self, sim: RunningSim, runtime_for,
                                                                  database_url: str) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        ref = uuid.uuid4().hex
        errors: list[BaseException] = []

        def click(amount: str) -> None:
            try:
                paid(runtime, to, amount, ref=ref)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        threads = [threading.Thread(target=click, args=(str(1000 + n),)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        paid(runtime, to, "5", ref=ref)  # a rerun long after, whatever it carries
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.SUCCEEDED and payout.amount in {Decimal(1000 + n) for n in range(6)}
        assert len(requests(sim, V1_PATH)) == 1
        assert len(payment_history(runtime.engine)) == 1
        assert len(audited(runtime, AuditAction.MONEY_REQUESTED)) == 1


    def test_restarts_before_and_after_sending_leave_one_payment(self, sim: RunningSim, runtime_for) -> None:
        first = runtime_for(sim)
        to = recipient(first)
        first.outbox.stop()  # the server goes down right after the click was written, before it was sent
        ref = paid(first, to, "640")
        first.stop()
        assert not requests(sim, V1_PATH)
        second = runtime_for(sim)  # the next start sends it
        assert settled(second, ref).state is OutboxState.SUCCEEDED
        paid(second, to, "640", ref=ref)  # the same click arriving again after the restart
        second.stop()
        third = runtime_for(sim)
        time.sleep(0.5)
        assert get_payment(third.engine, ref).state is OutboxState.SUCCEEDED
        assert len(requests(sim, V1_PATH)) == 1 and len(payment_history(third.engine)) == 1

class TestApproval:
    def test_above_the_threshold_it_waits_the_maker_cannot_approve_a_second_person_can(
        self, sim: RunningSim, runtime_for
    ) -> None:
        runtime = runtime_for(sim)
        set_approval_threshold(runtime.engine, CONSOLE, "10,000")
        to = recipient(runtime)
        at_limit = paid(runtime, to, "10000")  # at the threshold: not above it
        big = paid(runtime, to, "15000")
        assert check_payment(runtime, NJERI, recipient_id=to.id, amount="15000", description="x").needs_approval
        assert settled(runtime, at_limit).state is OutboxState.SUCCEEDED
        time.sleep(0.5)
        assert get_payment(runtime.engine, big).state is OutboxState.AWAITING_APPROVAL
        assert [payout.request_ref for payout in awaiting_approval(runtime.engine)] == [big]
        assert not requests(sim, V1_PATH, big)  # nothing was sent
        with pytest.raises(OwnPayment, match="You entered this payment, so you cannot approve it"):
            approve_payment(runtime, NJERI, big)
        for refused in (user("achieng", Role.CASHIER), user("musa", Role.VIEWER)):
            with pytest.raises(NotAllowed):
                approve_payment(runtime, refused, big)
        approved = approve_payment(runtime, OTIENO, big, source="10.0.0.7")
        assert approved.approved_by == "otieno" and approved.approved_at is not None
        payout = settled(runtime, big)
        assert payout.state is OutboxState.SUCCEEDED and payout.transaction_reference
        assert len(requests(sim, V1_PATH, big)) == 1
        [entry] = audited(runtime, AuditAction.APPROVED)
        assert (entry["actor"], entry["target"], entry["source"]) == ("otieno", big, "10.0.0.7")
        assert json.loads(entry["detail"])["decision"] == "approved"
        with pytest.raises(InputError, match="already approved by otieno"):
            approve_payment(runtime, CONSOLE, big)
        assert awaiting_approval(runtime.engine) == []

    def test_declined_is_never_sent(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_approval_threshold(runtime.engine, CONSOLE, "0")
        ref = paid(runtime, recipient(runtime), "500")
        declined = decline_payment(runtime, OTIENO, ref, reason="Not this month")
        assert declined.state is OutboxState.DECLINED and declined.reason == "Declined by Otieno: Not this month"
        with pytest.raises(InputError, match="already declined by otieno"):
            approve_payment(runtime, CONSOLE, ref)
        time.sleep(0.5)
        assert get_payment(runtime.engine, ref).state is OutboxState.DECLINED and not requests(sim, V1_PATH)
        [entry] = audited(runtime, AuditAction.DECLINED)
        assert json.loads(entry["detail"])["reason"] == "Not this month"

    def test_the_maker_may_take_back_their_own(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_approval_threshold(runtime.engine, CONSOLE, "100")
        ref = paid(runtime, recipient(runtime), "500")
        assert decline_payment(runtime, NJERI, ref).reason == "Declined by Njeri."


class TestV2:
    def test_v2_sends_money_with_the_recipients_details_and_reads_the_same(self, sim: RunningSim,
                                                                           runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        to = recipient(runtime)
        assert to.api_version == "v2"
        ref = paid(runtime, to, "2500", reference="MAY")
        payout = settled(runtime, ref)
        assert payout.state is OutboxState.SUCCEEDED and payout.api == "v2" and payout.transaction_reference
        assert (payout.recipient_nickname, payout.amount, payout.description, payout.reference) == (
            "Jane Wanjiru", Decimal(2500), "Stock, invoice 114", "MAY")
        [sent] = requests(sim, V2_PATH, ref)
        [destination] = sent["body"]["destinations"]
        assert destination | {"amount": str(destination["amount"])} == {
            "type": "mobile_wallet", "phone_number": "+254712345678", "network": "Safaricom",
            "nickname": "Jane Wanjiru", "amount": "2500", "description": "Stock, invoice 114"}
        assert not requests(sim, V1_PATH)
        assert rows(engine, "SELECT count(*) AS n FROM send_money WHERE request_ref = :r", r=ref)[0].n == 1

    def test_v2_failure_reads_k2s_reason(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        payout = settled(runtime, paid(runtime, recipient(runtime, "till", suffix="005")))
        assert payout.state is OutboxState.FAILED and "could not receive" in payout.reason

    def test_a_v1_recipient_is_paid_through_v2_once_the_owner_switches(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime, "bank_account")
        set_payout_api(runtime.engine, CONSOLE, "v2")
        payout = settled(runtime, paid(runtime, to, "10.50"))
        assert payout.state is OutboxState.SUCCEEDED and payout.api == "v2"
        [sent] = requests(sim, V2_PATH)
        assert sent["body"]["destinations"][0]["bank_branch_ref"] == BRANCH


class TestRoles:
    @pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
    def test_cashier_and_viewer_cannot_pay_check_approve_or_export(self, sim: RunningSim, runtime_for,
                                                                   role: Role) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        someone = user("achieng", role)
        with pytest.raises(NotAllowed, match=f"Your role \\({role.value}\\) cannot do this"):
            paid(runtime, to, actor=someone)
        with pytest.raises(NotAllowed):
            check_payment(runtime, someone, recipient_id=to.id, amount="10", description="x")
        with pytest.raises(NotAllowed):
            export_payments(runtime.engine, someone)
        assert payment_history(runtime.engine).empty and not requests(sim, V1_PATH)
        assert not audited(runtime, AuditAction.EXPORTED)

    def test_owner_and_finance_may(self, sim: RunningSim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        for actor in (user("amina", Role.OWNER), NJERI):
            assert settled(runtime, paid(runtime, to, actor=actor)).state is OutboxState.SUCCEEDED


class TestHistory:
    def test_filters_by_recipient_status_and_date(self, sim: RunningSim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        jane, broke = recipient(runtime), recipient(runtime, "till", suffix="002")
        good = paid(runtime, jane, "100")
        bad = paid(runtime, broke, "200")
        settled(runtime, good), settled(runtime, bad)
        everything = payment_history(engine)
        assert list(everything.columns) and list(everything["request_ref"]) == [bad, good]  # newest first
        assert str(everything["created_at"].dt.tz) == "UTC"
        assert list(payment_history(engine, recipient_id=jane.id)["request_ref"]) == [good]
        assert list(payment_history(engine, states=[OutboxState.FAILED])["request_ref"]) == [bad]
        now = datetime.now(UTC)
        assert len(payment_history(engine, since=now - timedelta(hours=1), until=now + timedelta(minutes=1))) == 2
        assert payment_history(engine, since=now + timedelta(minutes=1)).empty

    def test_export_keeps_formulas_as_text_and_is_audited(self, sim: RunningSim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        to = recipient(runtime)
        ref = paid(runtime, to, "1250", description='=HYPERLINK("http://evil","click")', reference="+SUM(A1)")
        settled(runtime, ref)
        data = export_payments(engine, NJERI, source="10.0.0.9")
        assert data.startswith("\ufeff".encode())
        [header, row] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert tuple(header) == EXPORT_COLUMNS
        line = dict(zip(header, row, strict=True))
        assert line["description"] == '\'=HYPERLINK("http://evil","click")'
        assert line["reference"] == "'+SUM(A1)"
        assert (line["amount"], line["destination"], line["status"]) == ("1250.00", "+254712345678", "succeeded")
        assert line["entered_at"].endswith("+03:00")
        [entry] = audited(runtime, AuditAction.EXPORTED)
        assert (entry["actor"], entry["target"], entry["source"]) == ("njeri", "payments", "10.0.0.9")


def test_history_on_an_empty_database_has_its_columns(sim: RunningSim, runtime_for) -> None:
    from merchant.payouts.payments import HISTORY_COLUMNS

    assert tuple(payment_history(runtime_for(sim).engine).columns) == HISTORY_COLUMNS


"""Settlements over real HTTP (SQLite and PostgreSQL): accounts added at k2sim, transfers sent once by the outbox
worker, settled by the signed result callback (or a status query) through a real receiver, and matched with K2's
`settlement_transfer_completed` webhooks, which the receiver is subscribed to."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client
from k2sim import RunningSim
from merchant.access import CONSOLE, NotAllowed, Role, User
from merchant.config import Settings
from merchant.errors import InputError
from merchant.outbound import FINAL, OutboxState, find
from merchant.preferences import set_payout_api
from merchant.runtime import Runtime
from merchant.settlements import (
    AccountKind,
    accounts,
    add_bank_account,
    add_wallet,
    get_transfer,
    k2_settlements,
    match_unanswered,
    plan_transfer,
    received_since_last_settlement,
    refresh_account,
    request_transfer,
    transfers,
)

from .conftest import KEY, Receiver, count, eventually, rows

V1_PATH = "/api/v1/settlement_transfers"
V2_PATH = "/api/v2/send_money"
BRANCH = "633aa26c-7b7c-4091-ae28-96c0687cf886"


def person(role: Role, username: str = "njeri") -> User:
    return User(username, username.title(), None, role, False, datetime.now(UTC), None, None)


FINANCE = person(Role.FINANCE)


@pytest.fixture
def runtime_for(receiver: Receiver, database_url: str) -> Iterator[Callable[..., Runtime]]:
    """A started runtime whose worker sends to `sim`, whose results (and settlement webhooks, subscribed here)
    reach the running receiver on the same database."""
    started: list[Runtime] = []

    def start(sim: RunningSim, *, timeout: float = 5.0, check_after: float = 30.0) -> Runtime:
        base = receiver.url.removesuffix("/api/k2/webhooks")
        settings = Settings(
            k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret, k2_api_key=KEY,
            k2_till_number=sim.config.till_number, database_url=database_url, public_base_url=base,
        )
        client = K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=KEY, retry_backoff=0,
                          timeout=timeout)
        client.webhook_subscriptions.create(event_type="settlement_transfer_completed", url=receiver.url,
                                            scope="company")
        client.webhook_subscriptions.create(event_type="buygoods_transaction_received", url=receiver.url,
                                            scope="till", scope_reference=sim.config.till_number)
        runtime = Runtime(settings, client=client, check_after=timedelta(seconds=check_after)).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
        assert runtime._given_client is not None  # noqa: SLF001 - lent by this fixture
        runtime._given_client.close()  # noqa: SLF001


def sim_log(sim: RunningSim, path: str) -> list[dict]:
    return httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}, timeout=10).json()


def posts(sim: RunningSim, path: str, ref: str | None = None) -> int:
    return sum(1 for entry in sim_log(sim, path) if entry["method"] == "POST"
               and (ref is None or (entry["body"].get("metadata") or {}).get("request_ref") == ref))


def balance(sim: RunningSim) -> Decimal:
    return Decimal(str(httpx.get(f"{sim.base_url}/sim/state", timeout=10).json()["balance"]["value"]))


def fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json=spec, timeout=10).raise_for_status()


def force(sim: RunningSim, kind: str, outcome: str) -> None:
    httpx.post(f"{sim.base_url}/sim/outcomes", json={"kind": kind, "outcome": outcome}, timeout=10).raise_for_status()


def bank(runtime: Runtime, number: str = "0123456789", nickname: str = "Equity main") -> int:
    added = add_bank_account(runtime, FINANCE, account_name="Duka Letu Ltd", account_number=number,
                             bank_branch_ref=BRANCH, settlement_method="EFT", nickname=nickname)
    assert added.account.ready, added
    return added.account.id


def wallet(runtime: Runtime, phone: str = "0712 345 678") -> int:
    added = add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno", phone_number=phone)
    assert added.account.ready, added
    return added.account.id


def transfer(runtime: Runtime, account_id: int | None, amount: str | None = None) -> str:
    """Our id for a transfer of `amount` to the account, or of everything when `account_id` is None."""
    ref = uuid.uuid4().hex
    request_transfer(runtime, FINANCE, request_ref=ref, account_id=account_id, amount=amount,
                     everything=account_id is None)
    return ref


def settled(runtime: Runtime, ref: str, seconds: float = 20, *, match: bool = False) -> OutboxState:
    """The request's state once final (or after `seconds`); `match` runs the v1 matcher as the page does."""
    assert runtime.engine is not None
    for _ in range(int(seconds / 0.1)):
        if match:
            match_unanswered(runtime.engine)
        row = find(runtime.engine, ref)
        assert row is not None
        if row.state in FINAL:
            return row.state
        threading.Event().wait(0.1)
    return row.state


def left_queue(runtime: Runtime, ref: str) -> OutboxState:
    """The request's state once the worker has sent it (or tried to)."""
    assert runtime.engine is not None
    row = eventually(lambda: find(runtime.engine, ref),
                     lambda r: r.state not in (OutboxState.QUEUED, OutboxState.SENDING))
    return row.state


class TestAccounts:
    def test_add_a_bank_account_reads_back_k2s_reference_and_status(self, sim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        added = add_bank_account(runtime, FINANCE, account_name="Duka Letu Ltd", account_number="0123 456 789",
                                 bank_branch_ref=BRANCH, settlement_method="RTS", nickname="Equity main")
        account = added.account
        assert added.created and account.kind is AccountKind.BANK and account.nickname == "Equity main"
        assert account.k2_status == "Approved" and account.location and account.location.startswith(sim.base_url)
        assert account.reference == account.location.rsplit("/", 1)[-1]  # k2sim's account_reference is its id
        assert account.details == {"account_name": "Duka Letu Ltd", "account_number": "0123456789",
                                   "bank_branch_ref": BRANCH, "settlement_method": "RTS"}
        [audit] = rows(engine, "SELECT actor, action, target FROM audit_log WHERE action = 'settlement_account_added'")
        assert (audit.actor, audit.target) == ("njeri", "Equity main")
        assert posts(sim, "/api/v1/merchant_bank_accounts") == 1

    def test_add_a_wallet_with_a_default_nickname(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        added = add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno", phone_number="0712345678")
        assert added.account.kind is AccountKind.WALLET and added.account.ready
        assert added.account.details["phone_number"] == "+254712345678"
        assert added.account.nickname == "M-Pesa Achieng ·678"

    def test_a_double_click_and_a_second_tab_make_one_account(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        results: list[object] = []

        def click() -> None:
            results.append(add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno",
                                      phone_number="0712 345 678"))

        threads = [threading.Thread(target=click) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(results) == 4 and sum(1 for added in results if added.created) == 1  # type: ignore[attr-defined]
        assert len(accounts(runtime.engine)) == 1
        assert posts(sim, "/api/v1/merchant_wallets") == 1
        again = add_wallet(runtime, FINANCE, first_name="A", last_name="O", phone_number="+254712345678")
        assert not again.created and again.account.ready  # the same wallet written another way
        assert posts(sim, "/api/v1/merchant_wallets") == 1

    def test_v2_sends_the_nickname_to_k2s_v2_path(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        bank(runtime, nickname="KCB salaries")
        [post] = [entry for entry in sim_log(sim, "/api/v2/merchant_bank_accounts") if entry["method"] == "POST"]
        assert post["body"]["nickname"] == "KCB salaries"

    def test_bad_input_names_the_field_and_asks_nothing_of_k2(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        with pytest.raises(InputError) as phone:
            add_wallet(runtime, FINANCE, first_name="A", last_name="O", phone_number="0812 000")
        assert phone.value.field == "phone_number" and phone.value.message.startswith("Phone number: ")
        with pytest.raises(InputError) as number:
            add_bank_account(runtime, FINANCE, account_name="Duka", account_number=" ", bank_branch_ref=BRANCH)
        assert number.value.field == "account_number"
        assert accounts(runtime.engine) == [] and posts(sim, "/api/v1/merchant_wallets") == 0

    def test_a_k2_422_names_the_field_and_keeps_nothing(self, sim, runtime_for, database_url) -> None:
        def k2(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/oauth/token":
                return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
            return httpx.Response(422, json={"error_code": 422,
                                             "error_message": "account_number: is not an account at this branch"})

        settings = Settings(k2_base_url="https://k2.test", k2_client_id="id", k2_client_secret="secret",
                            database_url=database_url, public_base_url="http://127.0.0.1:9")
        client = K2Client("https://k2.test", "id", "secret", transport=httpx.MockTransport(k2), retry_backoff=0)
        runtime = Runtime(settings, client=client).start()
        try:
            with pytest.raises(InputError) as refused:
                bank(runtime)
            assert refused.value.field == "account_number"
            assert refused.value.message == "Account number: is not an account at this branch"
            assert accounts(runtime.engine) == []
        finally:
            runtime.stop()
            client.close()

    def test_no_answer_keeps_it_unconfirmed_and_a_later_add_tries_again(self, sim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        fault(sim, type="error", status=503, path="/api/v1/merchant_wallets", count=1)
        first = add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno", phone_number="0712345678")
        assert first.created and not first.account.ready and first.account.location is None
        soon = add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno", phone_number="0712345678")
        assert not soon.created and soon.account.id == first.account.id  # within the minute: still being added
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE settlement_accounts SET created_at = :at"),
                               {"at": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)})
        later = add_wallet(runtime, FINANCE, first_name="Achieng", last_name="Otieno", phone_number="0712345678")
        assert later.created and later.account.ready and later.account.id == first.account.id
        assert len(accounts(runtime.engine)) == 1

    def test_a_lost_read_back_is_asked_again(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        fault(sim, type="error", status=500, path="/api/v1/merchant_bank_accounts/", count=3)
        added = add_bank_account(runtime, FINANCE, account_name="Duka", account_number="0123456789",
                                 bank_branch_ref=BRANCH)
        assert added.account.location and not added.account.ready
        with pytest.raises(InputError):
            plan_transfer(runtime, FINANCE, account_id=added.account.id, amount="100")
        assert refresh_account(runtime, FINANCE, added.account.id).ready

    @pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
    def test_cashiers_and_viewers_are_refused(self, sim, runtime_for, role: Role) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        who = person(role, "kamau")
        with pytest.raises(NotAllowed):
            add_wallet(runtime, who, first_name="A", last_name="O", phone_number="0712345678")
        with pytest.raises(NotAllowed):
            plan_transfer(runtime, who, account_id=account, amount="100")
        with pytest.raises(NotAllowed):
            request_transfer(runtime, who, request_ref="r", account_id=account, amount="100")
        with pytest.raises(NotAllowed):
            refresh_account(runtime, who, account)
        assert posts(sim, V1_PATH) == 0 and transfers(runtime.engine) == []


class TestAmounts:
    def test_cents_go_to_a_bank_whole_shillings_to_a_wallet(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        to_bank, to_wallet = bank(runtime), wallet(runtime)
        assert plan_transfer(runtime, FINANCE, account_id=to_bank, amount="KES 12,500.50").amount == Decimal("12500.50")
        assert plan_transfer(runtime, FINANCE, account_id=to_bank, amount="12,500.00").params("r")["amount"] == "12500"
        with pytest.raises(InputError, match="M-Pesa moves whole shillings"):
            plan_transfer(runtime, FINANCE, account_id=to_wallet, amount="100.50")
        with pytest.raises(InputError, match="at most KES 250,000"):
            plan_transfer(runtime, FINANCE, account_id=to_wallet, amount="250001")
        with pytest.raises(InputError) as no_account:
            plan_transfer(runtime, FINANCE, amount="100")  # no account is never everything
        assert no_account.value.field == "account"
        for bad in ("", "abc", "0", "-5", "10.001"):
            with pytest.raises(InputError) as refused:
                plan_transfer(runtime, FINANCE, account_id=to_bank, amount=bad)
            assert refused.value.field == "amount"


class TestV1:
    def test_a_targeted_transfer_completes_matched_to_k2s_settlement_notice(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        before = balance(sim)
        ref = transfer(runtime, account, "12500.50")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        done = eventually(lambda: get_transfer(runtime.engine, ref), lambda t: t.notice_at is not None)
        assert done.completed and done.amount == done.moved == Decimal("12500.50") and done.api == "v1"
        assert done.account is not None and done.account.id == account and done.k2_status == "Processed"
        assert balance(sim) == before - Decimal("12500.50")
        [post] = [entry for entry in sim_log(sim, V1_PATH) if entry["method"] == "POST"]
        assert post["body"]["amount"] == {"currency": "KES", "value": "12500.50"}
        assert post["body"]["destination_type"] == "merchant_bank_account"
        [notice] = k2_settlements(runtime.engine)
        assert notice.request_ref == ref and notice.account is not None and notice.account.id == account
        assert notice.amount == Decimal("12500.50") and notice.destination_type == "Bank Account"

    def test_to_a_wallet_the_mpesa_reference_comes_back(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        ref = transfer(runtime, wallet(runtime), "3000")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        [reference] = get_transfer(runtime.engine, ref).references
        assert len(reference) == 10 and reference.isalnum()

    def test_a_blind_transfer_moves_everything_to_the_default_account(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        before = balance(sim)
        ref = transfer(runtime, None)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        done = eventually(lambda: get_transfer(runtime.engine, ref), lambda t: t.notice_at is not None)
        assert done.amount is None and done.account is None and done.moved == before
        [post] = [entry for entry in sim_log(sim, V1_PATH) if entry["method"] == "POST"]
        assert "destination_reference" not in post["body"] or post["body"]["destination_reference"] is None
        assert balance(sim) == 0

    def test_insufficient_funds_fails_with_k2s_reason(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        force(sim, "settlement_transfer", "INSUFFICIENT_FUNDS")
        ref = transfer(runtime, account, "500")
        assert settled(runtime, ref) is OutboxState.FAILED
        failed = get_transfer(runtime.engine, ref)
        assert failed.reason == "Insufficient funds in the merchant account." and not failed.completed
        more = transfer(runtime, account, str(balance(sim) + 1))  # k2sim's own balance: more than there is
        assert settled(runtime, more) is OutboxState.FAILED
        assert "Insufficient funds" in (get_transfer(runtime.engine, more).reason or "")

    def test_an_account_k2_does_not_know_is_refused_naming_the_field(self, sim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO settlement_accounts (kind, nickname, details_json, k2_reference, k2_status, created_by,"
                " created_at) VALUES ('merchant_bank_account', 'Old', '{}', :ref, 'Approved', 'njeri', :at)"),
                {"ref": str(uuid.uuid4()), "at": datetime.now(UTC).replace(tzinfo=None)})
        [old] = accounts(runtime.engine)
        ref = transfer(runtime, old.id, "100")
        assert left_queue(runtime, ref) is OutboxState.REJECTED
        assert find(runtime.engine, ref).reason.startswith("destination_reference: ")

    @pytest.mark.parametrize("status", [500, 503])
    def test_a_5xx_is_unknown_and_never_sent_again(self, sim, runtime_for, status: int) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        fault(sim, type="error", status=status, path=V1_PATH, count=1)
        ref = transfer(runtime, account, "100")
        assert left_queue(runtime, ref) is OutboxState.UNKNOWN
        threading.Event().wait(0.5)
        assert find(runtime.engine, ref).state is OutboxState.UNKNOWN and posts(sim, V1_PATH) == 1

    def test_a_timeout_is_unknown_then_settled_by_its_callback_matched_by_account_and_amount(
        self, start_sim, runtime_for
    ) -> None:
        sim = start_sim(callback_delay_s=1.5)
        runtime = runtime_for(sim, timeout=0.5)
        account = bank(runtime)
        fault(sim, type="timeout", seconds=2, path=V1_PATH, count=1)
        ref = transfer(runtime, account, "700")
        assert left_queue(runtime, ref) is OutboxState.UNKNOWN
        assert find(runtime.engine, ref).location is None  # no Location: K2's answer never came
        assert settled(runtime, ref, match=True) is OutboxState.SUCCEEDED
        assert posts(sim, V1_PATH) == 1

    def test_two_unanswered_transfers_alike_are_left_for_a_person(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim, timeout=0.5)
        account = bank(runtime)
        fault(sim, type="timeout", seconds=2, path=V1_PATH, count=2)
        refs = [transfer(runtime, account, "700") for _ in range(2)]
        for ref in refs:
            assert left_queue(runtime, ref) is OutboxState.UNKNOWN
        httpx.post(f"{sim.base_url}/sim/drain", timeout=30)
        threading.Event().wait(3)
        assert match_unanswered(runtime.engine) == 0  # either result could be either request
        assert {find(runtime.engine, ref).state for ref in refs} == {OutboxState.UNKNOWN}

    def test_a_dropped_callback_is_settled_by_one_status_query(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim, check_after=0.5)
        account = bank(runtime)
        fault(sim, type="drop")
        ref = transfer(runtime, account, "800")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        row = find(runtime.engine, ref)
        gets = [entry for entry in sim_log(sim, V1_PATH) if entry["method"] == "GET"]
        assert len(gets) == 1 and row.checks == 1

    def test_a_duplicated_callback_settles_once(self, sim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        fault(sim, type="duplicate")
        ref = transfer(runtime, account, "900")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        k2_id = find(runtime.engine, ref).location.rsplit("/", 1)[-1]
        eventually(lambda: count(engine, "settlements"), lambda n: n == 1)
        assert count(engine, "transfers", f"k2_id = '{k2_id}'") == 1

    def test_one_click_is_one_transfer(self, sim, runtime_for, engine) -> None:
        runtime = runtime_for(sim)
        account = bank(runtime)
        ref = uuid.uuid4().hex
        done: list[object] = []

        def click(amount: str) -> None:
            done.append(request_transfer(runtime, FINANCE, request_ref=ref, account_id=account, amount=amount))

        threads = [threading.Thread(target=click, args=(amount,)) for amount in ("100", "100", "999", "100")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # whichever click's run wrote first, all four are that one transfer
        assert len(done) == 4 and len({transfer.amount for transfer in done}) == 1  # type: ignore[attr-defined]
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        assert posts(sim, V1_PATH) == 1
        assert count(engine, "audit_log", "action = 'money_requested'") == 1


class TestV2:
    def test_a_targeted_send_money_to_a_merchant_account(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        account = wallet(runtime)
        ref = transfer(runtime, account, "4500")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        [post] = [entry for entry in sim_log(sim, V2_PATH) if entry["method"] == "POST"]
        reference = accounts(runtime.engine)[0].reference
        assert post["body"]["destinations"] == [{"type": "merchant_wallet", "reference": reference, "amount": "4500"}]
        done = eventually(lambda: get_transfer(runtime.engine, ref), lambda t: t.notice_at is not None)
        assert done.api == "v2" and done.moved == Decimal(4500) and len(done.references) == 1
        assert posts(sim, V1_PATH) == 0

    def test_the_sweep(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        before = balance(sim)
        ref = transfer(runtime, None)
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        [post] = [entry for entry in sim_log(sim, V2_PATH) if entry["method"] == "POST"]
        assert not post["body"].get("destinations")
        done = eventually(lambda: get_transfer(runtime.engine, ref), lambda t: t.notice_at is not None)
        assert done.amount is None and done.moved == before and balance(sim) == 0
        assert [t.request_ref for t in transfers(runtime.engine)] == [ref]

    def test_a_forced_failure_and_a_timeout_settled_by_its_callback(self, start_sim, runtime_for) -> None:
        sim = start_sim(callback_delay_s=1.5)  # the result comes after the worker has given up waiting
        runtime = runtime_for(sim, timeout=0.5)
        set_payout_api(runtime.engine, CONSOLE, "v2")
        account = bank(runtime)
        force(sim, "send_money", "INSUFFICIENT_FUNDS")
        failed = transfer(runtime, account, "100")
        assert settled(runtime, failed) is OutboxState.FAILED
        assert get_transfer(runtime.engine, failed).reason == "Insufficient funds in the merchant account."
        fault(sim, type="timeout", seconds=2, path=V2_PATH, count=1)
        late = transfer(runtime, account, "200")
        assert left_queue(runtime, late) is OutboxState.UNKNOWN
        assert settled(runtime, late) is OutboxState.SUCCEEDED  # v2 echoes our id: matched without help

    def test_payouts_through_send_money_are_not_settlements(self, sim, runtime_for) -> None:
        from merchant.outbound import enqueue, queued

        runtime = runtime_for(sim)
        with runtime.engine.begin() as connection:
            enqueue(connection, queued(
                request_ref="payout", kind="send_money", amount=Decimal(10), needs_approval=True,
                params={"destinations": [{"type": "till", "till_number": "123456", "amount": "10"}],
                        "metadata": {"request_ref": "payout"}},
            ))
        assert transfers(runtime.engine) == []


class TestReceivedSince:
    def test_money_in_since_the_last_settlement_is_our_own_count(self, sim, runtime_for) -> None:
        runtime = runtime_for(sim)
        assert received_since_last_settlement(runtime.engine).since is None
        for amount in ("1000", "250"):
            httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": amount},
                       timeout=10).raise_for_status()
        got = eventually(lambda: received_since_last_settlement(runtime.engine), lambda r: r.count == 2)
        assert got.total == Decimal(1250) and got.since is None
        ref = transfer(runtime, bank(runtime), "1000")
        assert settled(runtime, ref) is OutboxState.SUCCEEDED
        after = eventually(lambda: received_since_last_settlement(runtime.engine), lambda r: r.count == 0)
        assert after.since is not None and after.total == 0
        threading.Event().wait(1.1)  # K2 gives payment times to the second
        httpx.post(f"{sim.base_url}/sim/transactions", json={"type": "buygoods", "amount": "40"},
                   timeout=10).raise_for_status()
        later = eventually(lambda: received_since_last_settlement(runtime.engine), lambda r: r.count == 1)
        assert later.total == Decimal(40)


def test_audit_detail_names_the_account_and_amount(sim, runtime_for, engine) -> None:
    runtime = runtime_for(sim)
    ref = transfer(runtime, bank(runtime), "1500")
    [entry] = rows(engine, "SELECT actor, target, detail FROM audit_log WHERE action = 'money_requested'")
    assert (entry.actor, entry.target) == ("njeri", ref)
    assert json.loads(entry.detail) | {"account_reference": None} == {
        "kind": "settlement_transfer", "amount": "1500", "account": "Equity main", "account_reference": None}

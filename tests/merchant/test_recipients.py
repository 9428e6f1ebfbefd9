"""Payout recipients and named bank branches (merchant.payouts) on SQLite and PostgreSQL, against a live k2sim:
created at K2 once, duplicates flagged, bad input named before sending, K2's refusals in plain words, v2."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, User, audit_log
from merchant.config import Settings
from merchant.errors import InputError
from merchant.payouts import (
    DuplicateRecipient,
    RecipientNotAdded,
    RecipientState,
    RecipientType,
    add_branch,
    add_recipient,
    check_recipient,
    disable_recipient,
    get_recipient,
    list_branches,
    list_recipients,
    remove_branch,
    rename_recipient,
)
from merchant.preferences import set_payout_api
from merchant.runtime import Runtime

BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"
WALLET = {"first_name": "Jane", "last_name": "Wanjiru", "phone_number": "0712 345 678", "email": ""}
BANK = {"account_name": "Baraka Properties", "account_number": "0100 2000 300", "bank_branch_ref": BRANCH.upper(),
        "settlement_method": "eft"}
TILL = {"till_name": "Mboga Stall", "till_number": "551101"}
PAYBILL = {"paybill_name": "Kenya Power", "paybill_number": "888880", "paybill_account_number": "ACC-101"}
EXAMPLES: dict[RecipientType, dict[str, str]] = {
    RecipientType.MOBILE_WALLET: WALLET, RecipientType.BANK_ACCOUNT: BANK, RecipientType.TILL: TILL,
    RecipientType.PAYBILL: PAYBILL,
}


def person(role: Role, username: str | None = None) -> User:
    return User(username or role.value, (username or role.value).title(), None, role, False, datetime.now(UTC),
                None, None)


FINANCE = person(Role.FINANCE, "achieng")


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with start_in_thread(SimConfig(port=0, callback_delay_s=0.0)) as running:
        yield running


@pytest.fixture
def runtime_for(database_url: str) -> Iterator[Callable[..., Runtime]]:
    """A started runtime on the test database whose K2 client talks to `sim` (short timeout, no backoff)."""
    started: list[tuple[Runtime, K2Client]] = []

    def start(sim: RunningSim, *, timeout: float = 5.0) -> Runtime:
        settings = Settings(k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret,
                            k2_api_key=sim.api_key, k2_till_number=sim.config.till_number, database_url=database_url)
        client = K2Client(sim.base_url, sim.client_id, sim.client_secret, api_key=sim.api_key, retry_backoff=0,
                          timeout=timeout)
        runtime = Runtime(settings, client=client).start()
        started.append((runtime, client))
        return runtime

    yield start
    for runtime, client in started:
        runtime.stop()
        client.close()


@pytest.fixture
def runtime(runtime_for: Callable[..., Runtime], sim: RunningSim) -> Runtime:
    return runtime_for(sim)


def k2_log(sim: RunningSim, path: str = "/api/") -> list[dict[str, Any]]:
    return httpx.get(f"{sim.base_url}/sim/requests", params={"path": path}).json()


def posts(sim: RunningSim, path: str = "/api/v1/pay_recipients") -> list[dict[str, Any]]:
    """Recipient creations K2 received (any version unless `path` says)."""
    return [entry for entry in k2_log(sim, path) if entry["method"] == "POST"]


def fault(sim: RunningSim, **spec: object) -> None:
    httpx.post(f"{sim.base_url}/sim/faults", json=spec).raise_for_status()


def stored(runtime: Runtime) -> list[sa.Row]:
    assert runtime.engine is not None
    with runtime.engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT * FROM recipients ORDER BY id")))


def changes(runtime: Runtime) -> list[dict[str, Any]]:
    assert runtime.engine is not None
    entries = audit_log(runtime.engine, actions=[AuditAction.RECIPIENT_CHANGED]).to_dict("records")
    return [{**entry, "detail": json.loads(entry["detail"])} for entry in reversed(entries)]


class TestAddRecipient:
    @pytest.mark.parametrize("kind", list(RecipientType))
    def test_add_creates_it_at_k2_once_and_keeps_k2s_reference(
        self, runtime: Runtime, sim: RunningSim, kind: RecipientType
    ) -> None:
        view = add_recipient(runtime, FINANCE, type=kind, nickname="", details=EXAMPLES[kind], source="10.0.0.7")
        [sent] = posts(sim)
        assert sent["body"]["type"] == kind.value and sent["status"] == 201
        gets = [entry for entry in k2_log(sim, "/api/v1/pay_recipients/") if entry["method"] == "GET"]
        assert [entry["resource_id"] for entry in gets] == [sent["resource_id"]]
        assert view.state is RecipientState.CONFIRMED and view.confirmed
        assert view.k2_reference and view.k2_location and view.k2_location.endswith(sent["resource_id"])
        assert view.api_version == "v1" and view.created_by == "achieng" and not view.disabled
        assert get_recipient(runtime.engine, view.id) == view  # type: ignore[arg-type]
        assert view.details == sent["body"]["pay_recipient"]  # the K2 fields, as sent
        [change] = changes(runtime)
        assert (change["actor"], change["source"], change["target"]) == ("achieng", "10.0.0.7", f"recipient {view.id}")
        assert change["detail"]["change"] == "added" and change["detail"]["confirmed"] is True

    def test_fields_are_sent_in_k2s_form_and_the_destination_key_is_normalised(self, runtime: Runtime) -> None:
        wallet = add_recipient(runtime, FINANCE, type="mobile_wallet", nickname=None, details=WALLET)
        assert wallet.nickname == "Jane Wanjiru" and wallet.name == "Jane Wanjiru"
        assert wallet.details == {"first_name": "Jane", "last_name": "Wanjiru", "phone_number": "+254712345678",
                                  "network": "Safaricom"}  # a blank email is left out, the network defaulted
        assert wallet.destination_key == "mobile_wallet:+254712345678"
        bank = add_recipient(runtime, FINANCE, type="bank_account", nickname=" Landlord ", details=BANK)
        assert bank.nickname == "Landlord" and bank.details["bank_branch_ref"] == BRANCH
        assert bank.details["settlement_method"] == "EFT"
        assert bank.destination_key == f"bank_account:{BRANCH}:01002000300"
        till = add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        assert till.destination_key == "till:551101"
        paybill = add_recipient(runtime, FINANCE, type="paybill", nickname="", details=PAYBILL)
        assert paybill.destination_key == "paybill:888880:ACC101"

    def test_v2_creates_an_external_recipient_with_its_nickname(self, runtime: Runtime, sim: RunningSim) -> None:
        assert runtime.engine is not None
        set_payout_api(runtime.engine, CONSOLE, "v2")
        view = add_recipient(runtime, FINANCE, type="till", nickname="Mama Mboga", details=TILL)
        [sent] = posts(sim, "/api/v2/external_recipients")
        assert sent["body"] == {"type": "till", "external_recipient": {**TILL, "nickname": "Mama Mboga"}}
        assert not posts(sim, "/api/v1/")
        assert view.api_version == "v2" and view.confirmed and view.k2_location and "/api/v2/" in view.k2_location


class TestDuplicates:
    @pytest.mark.parametrize(("kind", "again", "field"), [
        (RecipientType.MOBILE_WALLET, {**WALLET, "first_name": "J.", "phone_number": "+254 712 345678"},
         "phone_number"),
        (RecipientType.BANK_ACCOUNT, {**BANK, "account_number": "01002000300", "bank_branch_ref": BRANCH},
         "account_number"),
        (RecipientType.TILL, {**TILL, "till_name": "Other name"}, "till_number"),
        (RecipientType.PAYBILL, {**PAYBILL, "paybill_account_number": "acc 101"}, "paybill_account_number"),
    ])
    def test_a_second_one_for_the_same_destination_is_flagged_before_it_is_created(
        self, runtime: Runtime, sim: RunningSim, kind: RecipientType, again: dict[str, str], field: str
    ) -> None:
        first = add_recipient(runtime, FINANCE, type=kind, nickname="First", details=EXAMPLES[kind])
        with pytest.raises(DuplicateRecipient) as caught:
            add_recipient(runtime, CONSOLE, type=kind, nickname="Second", details=again)
        assert caught.value.field == field and caught.value.existing == [first]
        assert "is already a recipient (First)" in caught.value.message
        assert len(posts(sim)) == 1 and len(stored(runtime)) == 1
        second = add_recipient(runtime, CONSOLE, type=kind, nickname="Second", details=again, confirm_duplicate=True)
        assert len(posts(sim)) == 2 and second.confirmed and second.k2_reference != first.k2_reference
        assert second.destination_key == first.destination_key

    def test_a_paybill_with_another_account_number_is_not_a_duplicate(self, runtime: Runtime) -> None:
        add_recipient(runtime, FINANCE, type="paybill", nickname="", details=PAYBILL)
        add_recipient(runtime, FINANCE, type="paybill", nickname="", details={**PAYBILL, "paybill_account_number": "2"})
        assert len(list_recipients(runtime.engine)) == 2  # type: ignore[arg-type]

    def test_a_disabled_one_still_flags_and_says_it_is_disabled(self, runtime: Runtime) -> None:
        first = add_recipient(runtime, FINANCE, type="till", nickname="Old till", details=TILL)
        disable_recipient(runtime.engine, FINANCE, first.id)  # type: ignore[arg-type]
        with pytest.raises(DuplicateRecipient, match=r"\(Old till \(disabled\)\)"):
            add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)

    def test_two_requests_at_once_create_it_at_k2_once(self, runtime: Runtime, sim: RunningSim) -> None:
        fault(sim, type="latency", ms=400, path="/api/v1/pay_recipients", count=None)
        start = threading.Barrier(2)
        outcomes: list[object] = []

        def click() -> None:
            start.wait()
            try:
                outcomes.append(add_recipient(runtime, FINANCE, type="mobile_wallet", nickname="", details=WALLET))
            except InputError as err:  # a DuplicateRecipient, or "being added right now"
                outcomes.append(err)

        threads = [threading.Thread(target=click) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert len(posts(sim)) == 1 and len(stored(runtime)) == 1
        assert sum(isinstance(outcome, InputError) for outcome in outcomes) == 1

    def test_a_reservation_left_by_a_dead_request_is_taken_over(self, runtime: Runtime, sim: RunningSim) -> None:
        assert runtime.engine is not None
        key = "till:551101"
        with runtime.engine.begin() as connection:  # a request that died between reserving and hearing from K2
            connection.execute(sa.text(
                "INSERT INTO recipients (type, nickname, details_json, destination_key, api_version, k2_reference, "
                "disabled, created_by, created_at) VALUES ('till', 'Lost', :details, :key, 'v1', :reserved, "
                "false, 'achieng', :at)"),
                {"details": json.dumps(TILL), "key": key, "reserved": f"adding:{key}#1",
                 "at": (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)})
        [lost] = list_recipients(runtime.engine)
        assert lost.state is RecipientState.UNCONFIRMED and lost.k2_reference is None
        view = add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL, confirm_duplicate=True)
        assert view.confirmed and len(posts(sim)) == 1


class TestRefusedBeforeSending:
    @pytest.mark.parametrize(("kind", "details", "field", "words"), [
        ("mobile_wallet", {**WALLET, "phone_number": "0812 345"}, "phone_number", "Phone number: '0812 345' is not"),
        ("mobile_wallet", {**WALLET, "first_name": "  "}, "first_name", "First name: enter it."),
        ("mobile_wallet", {**WALLET, "email": "jane@"}, "email", "Email: 'jane@' is not an email address."),
        ("bank_account", {**BANK, "bank_branch_ref": "Moi Avenue"}, "bank_branch_ref", "Bank branch reference: pick"),
        ("bank_account", {**BANK, "bank_branch_ref": ""}, "bank_branch_ref", "Bank branch reference: pick"),
        ("bank_account", {**BANK, "settlement_method": "cheque"}, "settlement_method", "Settlement method: choose"),
        ("bank_account", {**BANK, "account_number": ""}, "account_number", "Account number: enter it."),
        ("till", {**TILL, "till_number": "55-11"}, "till_number", "Till number: '55-11' is not a till number"),
        ("paybill", {**PAYBILL, "paybill_number": "KPLC"}, "paybill_number", "Paybill number: 'KPLC' is not"),
        ("paybill", {**PAYBILL, "paybill_account_number": ""}, "paybill_account_number", "Paybill account number"),
        ("till", {**TILL, "phone_number": "0712345678"}, "phone_number", "Phone number: is not a detail of a till"),
        ("cheque", TILL, "type", "Type: choose M-Pesa wallet"),
    ])
    def test_bad_input_names_the_field_and_nothing_is_sent(
        self, runtime: Runtime, sim: RunningSim, kind: str, details: dict[str, str], field: str, words: str
    ) -> None:
        with pytest.raises(InputError) as caught:
            add_recipient(runtime, FINANCE, type=kind, nickname="", details=details)
        assert caught.value.field == field and caught.value.message.startswith(words), caught.value.message
        assert not posts(sim) and not stored(runtime)

    def test_a_long_nickname_is_refused(self, runtime: Runtime, sim: RunningSim) -> None:
        with pytest.raises(InputError, match="Nickname: at most 60"):
            add_recipient(runtime, FINANCE, type="till", nickname="x" * 61, details=TILL)
        assert not posts(sim)


class TestK2Answers:
    def test_k2_refusing_a_field_is_named_in_plain_words_and_nothing_is_kept(
        self, runtime: Runtime, sim: RunningSim
    ) -> None:
        with pytest.raises(InputError) as caught:  # k2 takes 4 to 10 digits; K2 (k2sim) only 5 to 7
            add_recipient(runtime, FINANCE, type="till", nickname="", details={**TILL, "till_number": "12345678"})
        [sent] = posts(sim)
        assert sent["status"] == 422
        assert caught.value.field == "till_number"
        assert caught.value.message == "K2 refused the till number: must be a till number such as K000000."
        assert not stored(runtime) and not changes(runtime)

    def test_k2_failing_on_its_side_keeps_nothing_and_says_so(self, runtime: Runtime, sim: RunningSim) -> None:
        fault(sim, type="error", status=503, path="/api/v1/pay_recipients")
        with pytest.raises(RecipientNotAdded, match="a problem on K2's side\\): nothing was added"):
            add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        assert not stored(runtime)
        assert add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL).confirmed  # and again is fine

    def test_k2_unreachable_keeps_nothing(self, runtime_for: Callable[..., Runtime], sim: RunningSim) -> None:
        runtime = runtime_for(sim)
        sim.stop()
        with pytest.raises(RecipientNotAdded, match="Could not reach K2: nothing was added"):
            add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        assert not stored(runtime)

    def test_no_answer_keeps_it_not_confirmed_and_it_is_never_sent_twice(
        self, runtime_for: Callable[..., Runtime], sim: RunningSim
    ) -> None:
        runtime = runtime_for(sim, timeout=0.5)
        fault(sim, type="timeout", seconds=2, path="/api/v1/pay_recipients")
        view = add_recipient(runtime, FINANCE, type="mobile_wallet", nickname="", details=WALLET)
        assert view.state is RecipientState.UNCONFIRMED and view.k2_reference is None and view.k2_location is None
        assert len(posts(sim)) == 1 and changes(runtime)[0]["detail"]["confirmed"] is False
        with pytest.raises(DuplicateRecipient) as caught:
            add_recipient(runtime, FINANCE, type="mobile_wallet", nickname="", details=WALLET)
        assert caught.value.existing[0].state is RecipientState.UNCONFIRMED
        with pytest.raises(InputError, match="K2 never answered"):
            check_recipient(runtime, FINANCE, view.id)
        assert list_recipients(runtime.engine, confirmed_only=True) == []  # type: ignore[arg-type]

    def test_a_reference_k2_could_not_give_at_once_is_asked_for_again(
        self, runtime: Runtime, sim: RunningSim
    ) -> None:
        fault(sim, type="error", status=500, path="/api/v1/pay_recipients/", count=None)
        view = add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        assert view.state is RecipientState.UNCONFIRMED and view.k2_location and view.k2_reference is None
        with pytest.raises(RecipientNotAdded, match="still not confirmed"):
            check_recipient(runtime, FINANCE, view.id)
        httpx.delete(f"{sim.base_url}/sim/faults").raise_for_status()
        checked = check_recipient(runtime, FINANCE, view.id)
        assert checked.confirmed and checked.k2_reference and len(posts(sim)) == 1
        assert [change["detail"]["change"] for change in changes(runtime)] == ["added", "confirmed"]


class TestListAndChange:
    def test_search_matches_names_nicknames_and_numbers_as_people_type_them(self, runtime: Runtime) -> None:
        add_recipient(runtime, FINANCE, type="mobile_wallet", nickname="Cleaner", details=WALLET)
        add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        add_recipient(runtime, FINANCE, type="bank_account", nickname="Landlord", details=BANK)
        engine = runtime.engine
        assert engine is not None

        def found(search: str) -> list[str]:
            return [view.nickname for view in list_recipients(engine, search=search)]

        assert found("") == ["Cleaner", "Landlord", "Mboga Stall"]
        assert found("0712 345") == found("+254712345678") == found("712345678") == found("jane") == ["Cleaner"]
        assert found("wanjiru clean") == ["Cleaner"] and found("baraka") == ["Landlord"]
        assert found("0100 2000") == ["Landlord"] and found("551101") == ["Mboga Stall"] and found("nobody") == []

    def test_rename_and_disable_are_kept_and_audited(self, runtime: Runtime) -> None:
        engine = runtime.engine
        assert engine is not None
        view = add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        renamed = rename_recipient(engine, CONSOLE, view.id, "  Mama   Mboga ")
        assert renamed.nickname == "Mama Mboga" and renamed.k2_reference == view.k2_reference
        with pytest.raises(InputError, match="Nickname: enter one"):
            rename_recipient(engine, CONSOLE, view.id, " ")
        disabled = disable_recipient(engine, FINANCE, view.id, source="10.0.0.8")
        assert disabled.disabled and list_recipients(engine) == []
        assert [item.id for item in list_recipients(engine, include_disabled=True)] == [view.id]
        assert [(change["actor"], change["detail"]["change"]) for change in changes(runtime)] == [
            ("achieng", "added"), ("console", "renamed"), ("achieng", "disabled")]
        with pytest.raises(InputError, match="no recipient number 999"):
            disable_recipient(engine, FINANCE, 999)
        assert get_recipient(engine, 999) is None


class TestRoles:
    @pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
    def test_cashier_and_viewer_are_refused_and_nothing_is_sent(
        self, runtime: Runtime, sim: RunningSim, role: Role
    ) -> None:
        engine = runtime.engine
        assert engine is not None
        view = add_recipient(runtime, FINANCE, type="till", nickname="", details=TILL)
        who = person(role)
        with pytest.raises(NotAllowed, match="ask someone who is owner or finance"):
            add_recipient(runtime, who, type="paybill", nickname="", details=PAYBILL)
        for act in (lambda: rename_recipient(engine, who, view.id, "x"),
                    lambda: disable_recipient(engine, who, view.id), lambda: check_recipient(runtime, who, view.id)):
            with pytest.raises(NotAllowed):
                act()
        assert len(posts(sim)) == 1 and get_recipient(engine, view.id) == view

    def test_a_disabled_finance_account_is_refused(self, runtime: Runtime, sim: RunningSim) -> None:
        gone = User("achieng", "Achieng", None, Role.FINANCE, True, datetime.now(UTC), None, None)
        with pytest.raises(NotAllowed):
            add_recipient(runtime, gone, type="till", nickname="", details=TILL)
        assert not posts(sim)


class TestBankBranches:
    def test_the_owner_names_branches_and_they_are_listed_by_name(self, runtime: Runtime) -> None:
        engine = runtime.engine
        assert engine is not None
        second = "0b9e6f52-5c1a-4a7e-8d3b-2f4c6e8a0b1c"
        add_branch(engine, CONSOLE, name="  KCB,  Kenyatta Avenue ", reference=second, source="10.0.0.9")
        made = add_branch(engine, CONSOLE, name="Equity Bank, Moi Avenue", reference=BRANCH.upper().replace("-", ""))
        assert made.reference == BRANCH and made.created_by == "console"
        assert [(branch.name, branch.reference) for branch in list_branches(engine)] == [
            ("Equity Bank, Moi Avenue", BRANCH), ("KCB, Kenyatta Avenue", second)]
        with pytest.raises(InputError, match="Branch name: Equity Bank, Moi Avenue is listed already"):
            add_branch(engine, CONSOLE, name="Equity Bank, Moi Avenue", reference="1" * 32)
        with pytest.raises(InputError, match="Reference: that branch reference is listed already"):
            add_branch(engine, CONSOLE, name="Equity again", reference=BRANCH)
        with pytest.raises(InputError) as caught:
            add_branch(engine, CONSOLE, name="Moi Avenue", reference="Moi Avenue")
        assert caught.value.field == "reference" and caught.value.message.startswith("Reference: paste")
        with pytest.raises(InputError, match="Branch name: enter one"):
            add_branch(engine, CONSOLE, name=" ", reference=BRANCH)
        remove_branch(engine, CONSOLE, made.id)
        assert [branch.name for branch in list_branches(engine)] == ["KCB, Kenyatta Avenue"]
        with pytest.raises(InputError, match="not on the list"):
            remove_branch(engine, CONSOLE, made.id)
        entries = audit_log(engine, actions=[AuditAction.SETTINGS_CHANGED]).to_dict("records")
        assert [json.loads(entry["detail"]) for entry in reversed(entries)] == [
            {"added": "KCB, Kenyatta Avenue", "reference": second},
            {"added": "Equity Bank, Moi Avenue", "reference": BRANCH},
            {"removed": "Equity Bank, Moi Avenue", "reference": BRANCH}]

    @pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
    def test_only_the_owner_changes_the_list(self, runtime: Runtime, role: Role) -> None:
        engine = runtime.engine
        assert engine is not None
        made = add_branch(engine, CONSOLE, name="Equity", reference=BRANCH)
        with pytest.raises(NotAllowed):
            add_branch(engine, person(role), name="KCB", reference="1" * 32)
        with pytest.raises(NotAllowed):
            remove_branch(engine, person(role), made.id)
        assert [branch.name for branch in list_branches(engine)] == ["Equity"]

"""The "Pay someone" and "Payments" pages under AppTest, against a k2sim of this test's own and a real receiver
serving the webhook route on a temporary SQLite file (its runtime is the one the pages use: K2's callbacks settle
payments while the page watches)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.access import CONSOLE, AuditAction, Role, audit_log
from merchant.config import Settings
from merchant.outbound import OutboxState
from merchant.payouts.payments import payment_history
from merchant.payouts.recipients import RecipientView, add_recipient
from merchant.preferences import load_preferences, set_approval_threshold
from merchant.runtime import Runtime, current
from merchant.webhooks import create_app
from tests.servers import free_port
from ui.words import kes_in_words, payout_status

from .conftest import ROOT, a_user, add, app, sign_in

V1_PATH = "/api/v1/payments"


@dataclass(frozen=True)
class K2:
    sim: RunningSim
    runtime: Runtime
    database_url: str


@pytest.fixture
def k2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K2]:
    """k2sim, and the webhook route on a free port whose runtime (K2 client, outbox worker, ingestion) the pages use."""
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        settings = Settings(k2_base_url=sim.base_url, k2_client_id=sim.client_id, k2_client_secret=sim.client_secret,
                            k2_api_key=sim.api_key, k2_till_number=sim.config.till_number, database_url=url,
                            public_base_url=f"http://127.0.0.1:{port}")
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the receiver did not start"
            time.sleep(0.01)
        try:
            yield K2(sim, current(), url)
        finally:
            server.should_exit = True
            thread.join(10)


def recipient(k2: K2, phone: str = "0712345678", first: str = "Jane") -> RecipientView:
    return add_recipient(k2.runtime, CONSOLE, type="mobile_wallet", nickname=None, confirm_duplicate=True,
                         details={"first_name": first, "last_name": "Wanjiru", "phone_number": phone})


def posts(sim: RunningSim) -> list[dict[str, Any]]:
    return [entry for entry in httpx.get(f"{sim.base_url}/sim/requests", params={"path": V1_PATH}).json()
            if entry["method"] == "POST"]


def as_user(script: str, role: Role, username: str) -> AppTest:
    page = AppTest.from_file(str(ROOT / script), default_timeout=30)
    page.session_state["signin_user"] = a_user(role, username)
    page.run()
    assert not page.exception, page.exception
    return page


def review(page: AppTest, to: RecipientView, amount: str, description: str = "Stock, invoice 114",
           reference: str = "") -> AppTest:
    page.selectbox(key="pay_recipient").select(to.id)
    page.text_input(key="pay_amount").input(amount)
    page.text_input(key="pay_description").input(description)
    page.text_input(key="pay_reference").input(reference)
    page.button(key="pay_review").click()
    page.run()
    assert not page.exception, page.exception
    return page


def eventually(page: AppTest, done: Callable[[AppTest], bool], seconds: float = 15) -> AppTest:
    deadline = time.monotonic() + seconds
    while not done(page):
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.2)
        page.run()
    return page


def said(page: AppTest) -> str:
    return " ".join(element.value for kind in (page.success, page.info, page.warning, page.error) for element in kind)


def markdown(page: AppTest) -> str:
    return " ".join(element.value for element in page.markdown)


class TestPay:
    def test_check_in_words_and_figures_then_watch_it_processed_with_its_m_pesa_reference(self, k2: K2) -> None:
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "12,500", reference="INV-114")
        shown = markdown(page)
        assert "**To:** Jane Wanjiru" in shown
        assert "**Where:** M-Pesa 0712 345 678" in shown
        assert "**Amount:** KES 12,500 (twelve thousand five hundred shillings)" in shown
        assert "**For:** Stock, invoice 114 · **Your reference:** INV-114" in shown
        assert not posts(k2.sim)  # nothing is sent before the yes
        page.button(key="pay_send").click()
        page.run()
        eventually(page, lambda p: "Processed" in said(p))
        assert said(page).startswith("**Processed** · Jane Wanjiru · KES 12,500. Paid. M-Pesa ref ")
        assert page.text_input(key="pay_amount").value == "" and page.selectbox(key="pay_recipient").value is None
        assert "pay_send" not in [button.key for button in page.button]  # the confirmation is gone
        assert len(posts(k2.sim)) == 1

    def test_pressing_pay_again_and_rerunning_pays_once(self, k2: K2) -> None:
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "300")
        send = page.button(key="pay_send")
        send.click()
        page.run()
        page.run()
        page.button(key="pay_review").click()  # the (now empty) form sent again
        page.run()
        assert not page.error
        eventually(page, lambda p: "Processed" in said(p))
        assert len(posts(k2.sim)) == 1 and len(payment_history(k2.runtime.engine)) == 1

    def test_a_click_whose_run_was_cut_short_pays_once(self, k2: K2) -> None:
        """The same confirmation clicked again before its run cleared it carries the same token: the same payment."""
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "450")
        draft = page.session_state["pay_draft"]
        page.button(key="pay_send").click()
        page.run()
        page.session_state["pay_draft"] = draft  # as if the first run stopped before it cleared the draft
        page.run()
        page.button(key="pay_send").click()
        page.run()
        eventually(page, lambda p: "Processed" in said(p))
        assert len(posts(k2.sim)) == 1 and len(payment_history(k2.runtime.engine)) == 1

    @pytest.mark.parametrize(("amount", "says"), [("1.50", "whole shillings"), ("0", "at least KES 1"),
                                                  ("250001", "at most KES 250,000"), ("abc", "not a number")])
    def test_amounts_are_refused_with_a_reason_before_the_confirmation(self, k2: K2, amount: str, says: str) -> None:
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, amount)
        assert page.error[0].value.startswith("Amount:") and says in page.error[0].value
        assert "pay_draft" not in page.session_state and not posts(k2.sim)

    def test_without_recipients_it_says_where_to_add_them(self, k2: K2) -> None:
        page = as_user("pages/pay.py", Role.FINANCE, "njeri")
        assert "add a recipient on the Recipients page" in page.info[0].value

    def test_a_failure_reads_its_reason_in_plain_words(self, k2: K2) -> None:
        to = recipient(k2, "0712345002")
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "800")
        page.button(key="pay_send").click()
        page.run()
        eventually(page, lambda p: "Failed" in said(p))
        assert "Not enough money in your K2 account" in page.error[0].value


class TestApproval:
    def test_the_owner_sets_a_limit_above_which_a_second_person_approves(self, k2: K2) -> None:
        owner = as_user("pages/pay.py", Role.OWNER, "amina")
        owner.text_input(key="pay_threshold").input("10,000")
        owner.button(key="pay_settings_save").click()
        owner.run()
        assert "Saved" in owner.success[0].value
        assert load_preferences(k2.runtime.engine).approval_threshold == 10000
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "15000")
        assert "above the approval limit of KES 10,000" in page.info[0].value
        assert page.button(key="pay_send").label == "Send for approval"
        page.button(key="pay_send").click()
        page.run()
        eventually(page, lambda p: "Waiting for approval" in said(p))
        maker = as_user("pages/payments.py", Role.FINANCE, "njeri")
        assert maker.button(key=[b.key for b in maker.button if b.key.startswith("payments_approve_")][0]).disabled
        assert any("so another finance user or the owner must approve it" in c.value for c in maker.caption)
        checker = as_user("pages/payments.py", Role.FINANCE, "otieno")
        [approve] = [button for button in checker.button if button.key.startswith("payments_approve_")]
        assert "KES 15,000 (fifteen thousand shillings)" in markdown(checker)
        approve.click()
        checker.run()
        assert "Approved: Jane Wanjiru is being paid KES 15,000" in checker.success[0].value
        eventually(page, lambda p: "Processed" in said(p))
        assert len(posts(k2.sim)) == 1
        [entry] = audit_log(k2.runtime.engine, actions=[AuditAction.APPROVED]).to_dict("records")
        assert entry["actor"] == "otieno"

    def test_declined_is_never_sent(self, k2: K2) -> None:
        set_approval_threshold(k2.runtime.engine, CONSOLE, "100")
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "500")
        page.button(key="pay_send").click()
        page.run()
        checker = as_user("pages/payments.py", Role.OWNER, "amina")
        [reason] = [field for field in checker.text_input if field.key.startswith("payments_reason_")]
        reason.input("Not this month")
        [decline] = [button for button in checker.button if button.key.startswith("payments_decline_")]
        decline.click()
        checker.run()
        assert "Declined: Jane Wanjiru will not be paid" in checker.info[0].value
        eventually(page, lambda p: "Declined" in said(p))
        assert "Declined by Amina: Not this month. Nothing was sent." in said(page)
        assert not posts(k2.sim)

    def test_only_the_owner_sees_the_payout_settings(self, k2: K2) -> None:
        recipient(k2)
        assert not [field for field in as_user("pages/pay.py", Role.FINANCE, "njeri").text_input
                    if field.key == "pay_threshold"]
        assert as_user("pages/pay.py", Role.OWNER, "amina").text_input(key="pay_threshold").value == ""


class TestV2:
    def test_the_owner_switches_to_v2_and_the_page_reads_the_same(self, k2: K2) -> None:
        owner = as_user("pages/pay.py", Role.OWNER, "amina")
        owner.radio(key="pay_api").set_value("v2")
        owner.button(key="pay_settings_save").click()
        owner.run()
        assert load_preferences(k2.runtime.engine).payout_api == "v2"
        to = recipient(k2)
        page = review(as_user("pages/pay.py", Role.FINANCE, "njeri"), to, "2500")
        assert "**Amount:** KES 2,500 (two thousand five hundred shillings)" in markdown(page)
        page.button(key="pay_send").click()
        page.run()
        eventually(page, lambda p: "Processed" in said(p))
        assert said(page).startswith("**Processed** · Jane Wanjiru · KES 2,500. Paid. M-Pesa ref ")
        sent = [entry for entry in httpx.get(f"{k2.sim.base_url}/sim/requests",
                                             params={"path": "/api/v2/send_money"}).json() if entry["method"] == "POST"]
        assert len(sent) == 1 and not posts(k2.sim)


class TestPayments:
    def test_history_filters_by_status_and_exports_with_an_audit_entry(self, k2: K2) -> None:
        good, broke = recipient(k2), recipient(k2, "0712345005", first="Brian")
        page = as_user("pages/pay.py", Role.FINANCE, "njeri")
        for to, amount in ((good, "100"), (broke, "200")):
            review(page, to, amount, description="=cmd|' /C calc'!A0").button(key="pay_send").click()
            page.run()
        history = as_user("pages/payments.py", Role.FINANCE, "njeri")
        eventually(history, lambda p: bool(p.dataframe) and set(p.dataframe[0].value["status"]) == {"Processed",
                                                                                                   "Failed"})
        rows = history.dataframe[0].value.to_dict("records")
        failed = next(row for row in rows if row["status"] == "Failed")
        assert failed["recipient"] == "Brian Wanjiru" and failed["to"] == "M-Pesa 0712 345 005"
        assert "could not take the money" in failed["why"] and failed["reference"] == ""
        processed = next(row for row in rows if row["status"] == "Processed")
        assert len(processed["reference"]) == 10 and processed["amount"] == "KES 100"
        assert str(history.dataframe[0].value["entered"].dt.tz) == "Africa/Nairobi"
        history.multiselect(key="payments_status").select("Failed")
        history.run()
        assert list(history.dataframe[0].value["recipient"]) == ["Brian Wanjiru"]
        history.button(key="payments_export").click()
        history.run()
        assert history.get("download_button")
        [entry] = audit_log(k2.runtime.engine, actions=[AuditAction.EXPORTED]).to_dict("records")
        assert (entry["actor"], entry["target"]) == ("njeri", "payments")

    def test_an_empty_history_says_what_to_do(self, k2: K2) -> None:
        page = as_user("pages/payments.py", Role.FINANCE, "njeri")
        assert "No payments for these filters" in page.info[0].value


@pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
@pytest.mark.parametrize("script", ["pages/pay.py", "pages/payments.py"])
def test_other_roles_are_refused_by_the_page_itself(k2: K2, role: Role, script: str) -> None:
    page = as_user(script, role, "achieng")
    assert "cannot do this" in page.error[0].value and "finance" in page.error[0].value
    assert not page.text_input and not page.dataframe


@pytest.mark.parametrize(("role", "offered"), [(Role.OWNER, True), (Role.FINANCE, True), (Role.CASHIER, False),
                                               (Role.VIEWER, False)])
def test_the_navigation_offers_pay_and_payments_to_finance_and_owner_only(k2: K2, role: Role, offered: bool) -> None:
    add(k2.database_url, "someone", role)
    page = sign_in(app(), "someone")
    for script in ("pages/pay.py", "pages/payments.py"):
        if offered:
            page.switch_page(script)
            page.run()
            assert not page.exception, page.exception
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                page.switch_page(script)


def test_a_page_run_without_sign_in_shows_nothing(k2: K2) -> None:
    page = AppTest.from_file(str(ROOT / "pages" / "pay.py"), default_timeout=30)
    page.run()
    assert page.info[0].value == "Sign in to see this page." and not page.text_input



class TestWords:
    @pytest.mark.parametrize(("amount", "words"), [
        ("1", "KES 1 (one shilling)"),
        ("12500", "KES 12,500 (twelve thousand five hundred shillings)"),
        ("1050", "KES 1,050 (one thousand and fifty shillings)"),
        ("250000", "KES 250,000 (two hundred and fifty thousand shillings)"),
        ("1250.50", "KES 1,250.50 (one thousand two hundred and fifty shillings and fifty cents)"),
        ("2000000.01", "KES 2,000,000.01 (two million shillings and one cent)"),
    ])
    def test_amounts_in_figures_and_words(self, amount: str, words: str) -> None:
        assert kes_in_words(Decimal(amount)) == words

    @pytest.mark.parametrize(("state", "k2_status", "reason", "age", "label", "says"), [
        (OutboxState.ACCEPTED, "Scheduled", None, 5, "Scheduled", "K2 has the payment and is sending it."),
        (OutboxState.ACCEPTED, "Scheduled", None, 600, "Scheduled", "we are asking it"),
        (OutboxState.SUCCEEDED, "Processed", None, 5, "Processed", "Paid."),
        (OutboxState.FAILED, "Failed", "Insufficient funds in the merchant account.", 5, "Failed",
         "Not enough money in your K2 account"),
        (OutboxState.FAILED, "Failed", "Something new", 5, "Failed", "K2 says: Something new. Nothing was paid."),
        (OutboxState.UNKNOWN, None, "K2 answered with an error (500).", 5, "Outcome unknown", "Do not pay again"),
        (OutboxState.UNKNOWN, None, None, 200_000, "Outcome unknown", "Check your K2 dashboard, or ask the recipient"),
        (OutboxState.REJECTED, None, "destination_reference: no pay recipient with reference x", 5, "Refused by K2",
         "K2 does not know this recipient"),
        (OutboxState.REJECTED, None, "description: is required", 5, "Refused by K2",
         "K2 refused the description (description: is required); nothing was sent."),
        (OutboxState.NOT_SENT, None, None, 5, "Not sent", "nothing was sent. Pay again once K2 is back."),
    ])
    def test_payout_states_read_plainly_with_what_to_do(self, state: OutboxState, k2_status: str | None,
                                                        reason: str | None, age: int, label: str, says: str) -> None:
        status = payout_status(state, k2_status, reason, timedelta(seconds=age))
        assert status.label == label and says in status.detail

"""The "Ask a customer to pay" page under AppTest, against a live k2sim and a temporary SQLite file.

No receiver runs here (PUBLIC_BASE_URL points nowhere), so requests stay where K2's answer put them unless a
test settles them; the page's own runtime (no server lifespan under AppTest) runs the outbox worker."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import TextInput

from k2sim import RunningSim
from merchant.access import Role

from .conftest import page_as


@pytest.fixture
def k2_env(live_k2sim: RunningSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningSim:
    monkeypatch.setenv("K2_BASE_URL", live_k2sim.base_url)
    monkeypatch.setenv("K2_CLIENT_ID", live_k2sim.client_id)
    monkeypatch.setenv("K2_CLIENT_SECRET", live_k2sim.client_secret)
    monkeypatch.setenv("K2_API_KEY", live_k2sim.api_key)
    monkeypatch.setenv("K2_TILL_NUMBER", live_k2sim.config.till_number)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")  # no receiver here: results come by status query
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    return live_k2sim


def prompts_sent(sim: RunningSim, phone: str, *, expected: int = 0, seconds: float = 15) -> int:
    """STK pushes k2sim received for this phone (E.164); with `expected`, once that many have come or `seconds`
    passed (the outbox worker sends a moment after the page lists the request)."""
    deadline = time.monotonic() + seconds
    while True:
        log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": "/api/v1/incoming_payments"}).json()
        sent = sum(1 for entry in log
                   if entry["method"] == "POST" and entry["body"]["subscriber"]["phone_number"] == phone)
        if sent >= expected or time.monotonic() > deadline:
            return sent
        time.sleep(0.2)


def open_page(role: Role = Role.CASHIER) -> AppTest:
    page = page_as("pages/ask_to_pay.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def form_field(page: AppTest, label: str) -> TextInput:
    """One of the form's fields, by the label a person reads (its key changes with every form)."""
    [found] = [widget for widget in page.text_input if widget.label == label]
    return found


def fill(page: AppTest, phone: str, amount: str, name: str = "") -> None:
    form_field(page, "Customer's phone number").input(phone)
    form_field(page, "Amount (KES, whole shillings)").input(amount)
    form_field(page, "Customer's first name (optional)").input(name)
    form_field(page, "Note for yourself (optional)").input("school shoes")


def ask(page: AppTest, phone: str, amount: str, name: str = "") -> AppTest:
    fill(page, phone, amount, name)
    [send] = [button for button in page.button if button.label == "Send M-Pesa prompt"]
    send.click()
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


def status_line(page: AppTest) -> str:
    return " ".join(element.value for kind in (page.success, page.info, page.warning, page.error) for element in kind)


def test_owner_asks_and_watches_the_request_in_plain_words(k2_env: RunningSim) -> None:
    page = open_page()
    assert page.caption[0].value.startswith("No requests yet. Enter a customer's phone number")
    page = ask(page, "0712 345 678", "1250", name="Achieng")
    assert not page.error
    eventually(page, lambda p: "Waiting for customer" in status_line(p))
    assert "0712 345 678 · KES 1,250" in status_line(page)
    [shown] = page.dataframe[0].value.to_dict("records")
    assert (shown["first_name"], shown["phone_number"], shown["amount"]) == ("Achieng", "0712 345 678", "KES 1,250")
    assert shown["status"] == "Waiting for customer" and shown["note"] == "school shoes"
    assert shown["mpesa_reference"] == ""  # not "None"
    assert str(page.dataframe[0].value["requested_at"].dt.tz) == "Africa/Nairobi"
    assert [field.value for field in page.text_input] == ["", "", "", ""]  # the form is cleared after a send
    assert prompts_sent(k2_env, "+254712345678", expected=1) == 1


def test_bad_phone_number_is_named_and_nothing_is_asked(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0712", "100")
    assert page.error[0].value.startswith("Phone number:")
    assert page.caption[0].value.startswith("No requests yet.")
    assert form_field(page, "Customer's phone number").value == "0712"  # kept, to be corrected


@pytest.mark.parametrize(("amount", "says"), [("1.50", "whole shillings"), ("0", "at least KES 1"),
                                              ("250001", "at most KES 250,000"), ("abc", "not a number")])
def test_amounts_m_pesa_cannot_move_are_refused_with_a_reason(k2_env: RunningSim, amount: str, says: str) -> None:
    page = ask(open_page(), "0712 345 678", amount)
    assert page.error[0].value.startswith("Amount:") and says in page.error[0].value
    assert page.caption[0].value.startswith("No requests yet.")


def test_without_k2_credentials_the_page_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    page = open_page()
    assert "needs K2" in page.info[0].value and not page.text_input


def test_a_rerun_after_sending_does_not_ask_again(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0722 000 111", "500")
    page.run()
    page.run()
    assert not page.error and not page.warning
    eventually(page, lambda p: "Waiting for customer" in status_line(p))
    assert len(page.dataframe[0].value) == 1
    assert prompts_sent(k2_env, "+254722000111", expected=1) == 1


def test_a_second_prompt_to_a_phone_that_has_not_answered_needs_a_yes(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0733 111 222", "500")
    page = ask(page, "0733 111 222", "700")
    assert "0733 111 222 was asked for KES 500" in page.warning[0].value
    assert "paid twice" in page.warning[0].value
    assert len(page.dataframe[0].value) == 1
    page.button(key="ask_to_pay_repeat_send").click()
    page.run()
    eventually(page, lambda p: len(p.dataframe[0].value) == 2)
    assert prompts_sent(k2_env, "+254733111222", expected=2) == 2


def test_a_viewer_cannot_ask_and_nothing_is_sent(k2_env: RunningSim) -> None:
    page = ask(open_page(Role.VIEWER), "0744 555 123", "100")
    assert "cannot do this" in page.error[0].value and "cashier" in page.error[0].value
    assert prompts_sent(k2_env, "+254744555123") == 0


def test_a_page_run_without_sign_in_shows_nothing(k2_env: RunningSim) -> None:
    page = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "pages" / "ask_to_pay.py"), default_timeout=30)
    page.run()
    assert page.info[0].value == "Sign in to see this page." and not page.text_input


def test_the_same_request_typed_again_asks_first_and_waiting_empties_the_form(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0755 100 200", "300")
    page = ask(page, "0755 100 200", "300")
    assert "was asked for KES 300" in page.warning[0].value
    assert len(page.dataframe[0].value) == 1
    page.button(key="ask_to_pay_repeat_cancel").click()
    page.run()
    assert not page.warning and len(page.dataframe[0].value) == 1
    assert [field.value for field in page.text_input] == ["", "", "", ""]
    assert prompts_sent(k2_env, "+254755100200", expected=1) == 1

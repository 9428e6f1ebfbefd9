"""The "Ask a customer to pay" page under AppTest, against a live k2sim and a temporary SQLite file."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def k2_env(live_k2sim: RunningSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningSim:
    monkeypatch.setenv("K2_BASE_URL", live_k2sim.base_url)
    monkeypatch.setenv("K2_CLIENT_ID", live_k2sim.client_id)
    monkeypatch.setenv("K2_CLIENT_SECRET", live_k2sim.client_secret)
    monkeypatch.setenv("K2_API_KEY", live_k2sim.api_key)
    monkeypatch.setenv("K2_TILL_NUMBER", live_k2sim.config.till_number)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")  # no receiver here: the request stays Pending
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    return live_k2sim


def open_page() -> AppTest:
    page = AppTest.from_file(str(ROOT / "pages" / "ask_to_pay.py"), default_timeout=30)
    page.run()
    assert not page.exception, page.exception
    return page


def ask(page: AppTest, phone: str, amount: str, name: str = "") -> AppTest:
    page.text_input(key="ask_to_pay_phone").input(phone)
    page.text_input(key="ask_to_pay_amount").input(amount)
    page.text_input(key="ask_to_pay_name").input(name)
    page.text_input(key="ask_to_pay_note").input("school shoes")
    page.button(key="ask_to_pay_send").click()
    page.run()
    assert not page.exception, page.exception
    return page


def test_owner_asks_and_sees_the_request_in_the_table(k2_env: RunningSim) -> None:
    page = open_page()
    assert page.caption[0].value == "No requests yet."
    page = ask(page, "0712 345 678", "1250", name="Achieng")
    assert not page.error
    assert "M-Pesa prompt sent to +254712345678 for KES 1,250.00" in page.success[0].value
    [shown] = page.dataframe[0].value.to_dict("records")
    assert (shown["first_name"], shown["phone_number"], shown["amount"]) == ("Achieng", "+254712345678", "1,250.00")
    assert shown["shown_status"] == "Waiting for customer" and shown["note"] == "school shoes"
    assert str(page.dataframe[0].value["requested_at"].dt.tz) == "Africa/Nairobi"


def test_bad_phone_number_is_named_and_nothing_is_asked(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0712", "100")
    assert page.error[0].value.startswith("Phone number:")
    assert not page.success and page.caption[0].value == "No requests yet."


def test_without_k2_credentials_the_page_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    page = open_page()
    assert "needs K2" in page.info[0].value and not page.text_input


def test_a_second_click_on_send_does_not_ask_the_customer_twice(k2_env: RunningSim) -> None:
    page = ask(open_page(), "0712 345 678", "500")
    assert page.success and not page.error
    page.button(key="ask_to_pay_send").click()  # the form keeps its values: the same request again
    page.run()
    assert "wait for that request" in page.error[0].value and not page.success
    assert len(page.dataframe[0].value) == 1

"""The Recipients page (and Settings' bank branches) under AppTest, against a live k2sim and a temporary SQLite file."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim
from merchant.access import Role

from .conftest import a_user, add, app, page_as, sign_in

BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"


@pytest.fixture
def k2_env(live_k2sim: RunningSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningSim:
    monkeypatch.setenv("K2_BASE_URL", live_k2sim.base_url)
    monkeypatch.setenv("K2_CLIENT_ID", live_k2sim.client_id)
    monkeypatch.setenv("K2_CLIENT_SECRET", live_k2sim.client_secret)
    monkeypatch.setenv("K2_API_KEY", live_k2sim.api_key)
    monkeypatch.setenv("K2_TILL_NUMBER", live_k2sim.config.till_number)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'merchant.db'}")
    return live_k2sim


def posts(sim: RunningSim, marker: str) -> int:
    """Recipients k2sim was asked to create whose body mentions `marker`."""
    log = httpx.get(f"{sim.base_url}/sim/requests", params={"path": "/api/v1/pay_recipients"}).json()
    return sum(1 for entry in log if entry["method"] == "POST" and marker in str(entry["body"]))


def open_page(role: Role = Role.FINANCE) -> AppTest:
    page = page_as("pages/recipients.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def fill(page: AppTest, kind: str, nickname: str = "", **fields: str) -> AppTest:
    page.radio(key="recipients_type").set_value(kind).run()
    for name, value in fields.items():
        page.text_input(key=f"recipients_add_{kind}_{name}").input(value)
    page.text_input(key=f"recipients_add_{kind}_nickname").input(nickname)
    page.button(key="recipients_add").click()
    page.run()
    assert not page.exception, page.exception
    return page


def table(page: AppTest) -> list[dict[str, object]]:
    return page.dataframe[0].value.to_dict("records")


def test_finance_adds_one_of_each_type_and_sees_them_listed_in_plain_words(k2_env: RunningSim) -> None:
    page = open_page()
    assert "No recipients yet" in page.caption[-1].value
    fill(page, "mobile_wallet", first_name="Jane", last_name="Wanjiru", phone_number="0712 345 101")
    assert page.success[0].value == "Added Jane Wanjiru (M-Pesa wallet). It can be paid."
    fill(page, "till", "Mama Mboga", till_name="Mboga Stall", till_number="551101")
    fill(page, "paybill", "Power", paybill_name="Kenya Power", paybill_number="888880",
         paybill_account_number="ACC-101")
    fill(page, "bank_account", "Landlord", account_name="Baraka Properties", account_number="0100 2000 101",
         pasted=BRANCH)
    assert not page.error, [error.value for error in page.error]
    rows = {row["nickname"]: row for row in table(page)}
    assert rows["Jane Wanjiru"]["type"] == "M-Pesa wallet" and rows["Jane Wanjiru"]["pays_to"] == "0712 345 101"
    assert rows["Mama Mboga"]["pays_to"] == "Till 551101" and rows["Mama Mboga"]["name"] == "Mboga Stall"
    assert rows["Power"]["pays_to"] == "Paybill 888880, account ACC-101"
    assert rows["Landlord"]["pays_to"] == "01002000101 at a branch not on the list"  # as sent: no spaces
    assert {row["status"] for row in rows.values()} == {"Ready"} and {row["added_by"] for row in rows.values()} == {
        "wanjiku"}
    shown = " ".join(str(value) for row in rows.values() for value in row.values())
    assert "None" not in shown and "nan" not in shown and BRANCH not in shown
    for marker in ("+254712345101", "551101", "ACC-101", "01002000101"):
        assert posts(k2_env, marker) == 1


def test_bad_input_names_the_field_and_nothing_is_sent(k2_env: RunningSim) -> None:
    page = open_page()
    fill(page, "mobile_wallet", first_name="Jane", last_name="Wanjiru", phone_number="0812 34")
    assert "Phone number" in page.error[0].value and "is not a Kenyan mobile number" in page.error[0].value
    fill(page, "bank_account", account_name="Baraka", account_number="0100202")
    assert page.error[0].value.startswith("Bank branch reference: pick a branch")
    assert posts(k2_env, "0100202") == 0 and posts(k2_env, "+25481234") == 0


def test_k2_refusal_is_named_in_plain_words(k2_env: RunningSim) -> None:
    page = open_page()
    fill(page, "till", till_name="Big Till", till_number="12345678")  # k2 lets 8 digits through; K2 refuses them
    assert page.error[0].value.startswith("K2 refused the till number: ")
    assert posts(k2_env, "12345678") == 1 and page.caption[-1].value.startswith("No recipients yet")


def test_a_second_recipient_for_the_same_phone_is_flagged_and_added_only_when_confirmed(k2_env: RunningSim) -> None:
    page = open_page()
    fill(page, "mobile_wallet", first_name="Otieno", last_name="Odhiambo", phone_number="0722 000 202")
    page.session_state["signin_user"] = a_user(Role.FINANCE, "achieng")  # someone else, later
    fill(page, "mobile_wallet", "Otieno (shop)", first_name="Otieno", last_name="Odhiambo",
         phone_number="+254722000202")
    assert page.warning[0].value == (
        "This phone number is already a recipient: **Otieno Odhiambo** (added by wanjiku). "
        "Add another recipient for it anyway?")
    assert posts(k2_env, "+254722000202") == 1
    page.button(key="recipients_dup_add").click().run()
    assert not page.exception and page.success[0].value.startswith("Added Otieno (shop)")
    assert posts(k2_env, "+254722000202") == 2
    assert sorted(row["nickname"] for row in table(page)) == ["Otieno (shop)", "Otieno Odhiambo"]


def test_the_same_click_arriving_twice_adds_once(k2_env: RunningSim) -> None:
    page = open_page()
    fill(page, "till", "Kiosk", till_name="Kiosk", till_number="551303")
    page.radio(key="recipients_type").set_value("till").run()
    for name, value in (("till_name", "Kiosk"), ("till_number", "551303"), ("nickname", "Kiosk")):
        page.text_input(key=f"recipients_add_till_{name}").set_value(value)
    page.button(key="recipients_add").click().run()  # the form's values sent again (a double click)
    assert not page.warning and page.success[0].value.startswith("Added Kiosk")
    assert posts(k2_env, "551303") == 1


def test_search_rename_and_disable(k2_env: RunningSim) -> None:
    page = open_page()
    fill(page, "mobile_wallet", first_name="Amina", last_name="Hassan", phone_number="0733 111 404")
    fill(page, "till", "Water", till_name="Maji Safi", till_number="551404")
    page.text_input(key="recipients_search").input("0733 111").run()
    assert [row["nickname"] for row in table(page)] == ["Amina Hassan"]
    details = dict(zip(page.table[0].value.iloc[:, 0], page.table[0].value.iloc[:, 1], strict=True))
    assert details["Pays to"] == "0733 111 404" and len(details["K2 recipient reference"]) == 36
    view_id = page.selectbox(key="recipients_pick").value
    page.text_input(key=f"recipients_nickname_{view_id}").input("Amina (cleaner)")
    page.button(key="recipients_rename").click().run()
    assert page.success[0].value == "Renamed to Amina (cleaner)."
    page.button(key="recipients_disable").click().run()
    assert page.warning[0].value.startswith("Disable Amina (cleaner)? It will no longer be offered")
    page.button(key="recipients_disable_yes").click().run()
    assert page.success[0].value == "Amina (cleaner) is disabled."
    assert "No recipient matches" in page.caption[-1].value
    page.checkbox(key="recipients_disabled").check().run()
    assert [row["status"] for row in table(page)] == ["Disabled"]


@pytest.mark.parametrize("role", [Role.CASHIER, Role.VIEWER])
def test_cashier_and_viewer_cannot_use_the_page(k2_env: RunningSim, role: Role) -> None:
    page = open_page(role)
    assert "cannot do this" in page.error[0].value and not page.radio and not page.dataframe


@pytest.mark.parametrize("role", list(Role))
def test_the_navigation_offers_recipients_to_finance_and_owner_only(k2_env: RunningSim, role: Role) -> None:
    add(os.environ["DATABASE_URL"], "someone", role)
    page = sign_in(app(), "someone")
    assert not page.exception, page.exception
    if role in (Role.FINANCE, Role.OWNER):
        page.switch_page("pages/recipients.py").run()
        assert [header.value for header in page.header] == ["Recipients"] and not page.error
    else:  # AppTest refuses a path the app's st.navigation did not register for this session
        with pytest.raises(ValueError, match="navigation page"):
            page.switch_page("pages/recipients.py")


def test_owner_names_bank_branches_in_settings_and_finance_picks_one(k2_env: RunningSim) -> None:
    settings = page_as("pages/settings.py", Role.OWNER)
    settings.run()
    settings.text_input(key="settings_branch_name").input("Equity Bank, Moi Avenue")
    settings.text_input(key="settings_branch_ref").input(BRANCH.upper())
    settings.button(key="settings_branch_add").click().run()
    assert not settings.exception and settings.success[-1].value == "Added Equity Bank, Moi Avenue."
    assert settings.text_input(key="settings_branch_name").value == ""  # ready for the next one
    settings.text_input(key="settings_branch_name").input("Equity again")
    settings.text_input(key="settings_branch_ref").input(BRANCH)
    settings.button(key="settings_branch_add").click().run()
    assert "listed already" in settings.error[0].value
    page = open_page()
    page.radio(key="recipients_type").set_value("bank_account").run()
    assert page.selectbox(key="recipients_add_bank_account_branch").value == BRANCH
    fill(page, "bank_account", "Supplier", account_name="Unga Millers", account_number="0200300404")
    assert table(page)[0]["pays_to"] == "0200300404 at Equity Bank, Moi Avenue"
    assert posts(k2_env, "0200300404") == 1

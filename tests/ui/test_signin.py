"""Signing in, under AppTest: the first owner, wrong passwords and the lock-out, signing out, and what each role
may open (a page left out of the navigation cannot be reached by its path either)."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from merchant.access import Role, audit_log
from merchant.access.signin import new_setup_code
from merchant.db import open_database

from .conftest import PASSWORD, add, app, sign_in


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def actions(database_url: str) -> list[str]:
    engine = open_database(database_url)
    entries = audit_log(engine)
    engine.dispose()
    return list(entries["action"])[::-1]  # oldest first


def headers(page: AppTest) -> list[str]:
    return [header.value for header in page.header]


def create_owner(page: AppTest, code: str, password: str = PASSWORD) -> AppTest:
    page.text_input(key="owner_setup_code").input(code)
    page.text_input(key="owner_name").input("Wanjiku Kamau")
    page.text_input(key="owner_username").input("wanjiku")
    page.text_input(key="owner_password").input(password)
    page.text_input(key="owner_password_again").input(password)
    page.button(key="owner_create").click()
    page.run()
    return page


class TestFirstStart:
    def test_with_no_users_the_only_page_creates_the_owner(self, database_url: str) -> None:
        page = app()
        assert headers(page) == ["Create the owner account"]
        assert not page.metric and "Sign in" not in [button.label for button in page.button]

    def test_a_wrong_setup_code_claims_nothing(self, database_url: str) -> None:
        page = create_owner(app(), "0000-0000-0000")
        assert page.error[0].value.startswith("Setup code:")
        assert headers(app()) == ["Create the owner account"]

    def test_the_printed_code_creates_the_owner_once_who_then_signs_in(self, database_url: str) -> None:
        page = app()
        engine = open_database(database_url)
        code = new_setup_code(engine)  # what the server printed when it started
        engine.dispose()
        page = create_owner(page, code)
        assert "owner account is ready" in page.success[0].value
        assert "Create the owner account" not in headers(app())  # once there is an owner, the form is gone
        signed = sign_in(app(), "wanjiku")
        assert headers(signed) == ["Overview"]
        assert actions(database_url)[-2:] == ["owner_created", "signed_in"]

    def test_a_short_password_is_refused_with_a_reason(self, database_url: str) -> None:
        page = app()
        engine = open_database(database_url)
        code = new_setup_code(engine)
        engine.dispose()
        page = create_owner(page, code, password="short")
        assert page.error[0].value.startswith("Password: use at least 10 characters")


class TestSignIn:
    def test_a_wrong_password_is_refused_plainly_and_audited(self, database_url: str) -> None:
        add(database_url, "achieng", Role.CASHIER)
        page = sign_in(app(), "achieng", "not the password")
        assert page.error[0].value == "That username and password do not match an active account."
        assert not page.metric
        assert actions(database_url)[-1] == "sign_in_failed"

    def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(self, database_url: str) -> None:
        add(database_url, "achieng", Role.CASHIER)
        page = app()
        for _ in range(5):
            page = sign_in(page, "achieng", "not the password")
        page = sign_in(page, "achieng")  # right, but too late
        assert "Too many wrong passwords. Sign-in is paused until" in page.error[0].value
        assert not page.metric
        assert actions(database_url)[-6:] == ["sign_in_failed"] * 5 + ["sign_in_refused"]

    def test_a_disabled_user_cannot_sign_in(self, database_url: str) -> None:
        add(database_url, "wanjiku", Role.OWNER)
        add(database_url, "otieno", Role.VIEWER)
        from merchant.access import CONSOLE, set_disabled

        engine = open_database(database_url)
        set_disabled(engine, CONSOLE, "otieno", True)
        engine.dispose()
        page = sign_in(app(), "otieno")
        assert page.error and not page.metric

    def test_sign_out_ends_the_session_and_is_audited(self, database_url: str) -> None:
        add(database_url, "achieng", Role.CASHIER)
        page = sign_in(app(), "achieng")
        assert page.metric
        page.sidebar.button(key="signin_sign_out").click()
        page.run()
        assert not page.metric and "Sign in" in [button.label for button in page.button]
        assert actions(database_url)[-1] == "signed_out"

    def test_sign_out_everywhere_ends_this_session_too(self, database_url: str) -> None:
        add(database_url, "achieng", Role.CASHIER)
        page = sign_in(app(), "achieng")
        page.sidebar.button(key="signin_sign_out_everywhere").click()
        page.run()
        assert not page.metric
        assert actions(database_url)[-1] == "signed_out_everywhere"


# What each role may open: page path → its header.
PAGES = {"pages/overview.py": "Overview", "pages/home.py": "Today at a glance", "pages/transactions.py": "Transactions",
         "pages/ask_to_pay.py": "Ask a customer to pay"}
ALLOWED = {
    Role.OWNER: set(PAGES),
    Role.FINANCE: {"pages/overview.py", "pages/home.py", "pages/transactions.py"},
    Role.CASHIER: set(PAGES),
    Role.VIEWER: {"pages/overview.py", "pages/home.py", "pages/transactions.py"},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_offered_what_it_may_open_and_nothing_else(database_url: str, role: Role) -> None:
    """A page left out of the navigation is not registered at all: its path leads nowhere (the browser test
    opens such a URL for real)."""
    add(database_url, "someone", role)
    page = sign_in(app(), "someone")
    for script, header in PAGES.items():
        if script in ALLOWED[role]:
            page.switch_page(script)
            page.run()
            assert not page.exception, page.exception
            assert header in headers(page)
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                page.switch_page(script)


def test_nothing_but_the_sign_in_form_reaches_a_browser_that_has_not_signed_in(database_url: str) -> None:
    add(database_url, "wanjiku", Role.OWNER)
    page = app()
    page.run()  # and again: the frame runs every time, so the sign-in form is still all there is
    assert headers(page) == []
    assert [field.label for field in page.text_input] == ["Username", "Password"]
    assert not page.metric and not page.dataframe
    engine = open_database(database_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() == 0
    engine.dispose()

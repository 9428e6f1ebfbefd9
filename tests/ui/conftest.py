"""Signed-in pages under AppTest: a user in session state for a page run alone, or a real sign-in through the
frame's form for the whole app."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

from merchant.access import CONSOLE, Role, User, add_user
from merchant.db import open_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


class _NavigatedPages(PagesManager):
    """AppTest resets Streamlit's "pages/ is auto-discovered" flag before every run, so from the second run on it
    would run the current page alone, without the frame (and its sign-in). The server never does: app.py says
    up front that pages/ is navigated. This says the same to AppTest."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def navigated_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AppTest here runs the frame on every run, as the server does."""
    monkeypatch.setattr(app_test, "PagesManager", _NavigatedPages)


def a_user(role: Role = Role.OWNER, username: str = "wanjiku") -> User:
    """A user as the frame puts one in session state (nothing is stored)."""
    return User(username, username.title(), None, role, False, datetime.now(UTC), None, None)


def page_as(script: str, role: Role = Role.OWNER) -> AppTest:
    """One page file, run alone as if the frame had signed `role` in."""
    page = AppTest.from_file(str(ROOT / script), default_timeout=30)
    page.session_state["signin_user"] = a_user(role)
    return page


def add(database_url: str, username: str, role: Role, password: str = PASSWORD) -> None:
    """A user in the database, added from the console."""
    engine = open_database(database_url)
    add_user(engine, CONSOLE, username=username, name=username.title(), role=role, password=password)
    engine.dispose()


def sign_in(page: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    """Fill the frame's sign-in form and submit it."""
    fields = {field.label: field for field in page.text_input}
    fields["Username"].input(username)
    fields["Password"].input(password)
    next(button for button in page.button if button.label == "Sign in").click()
    page.run()
    return page


def app() -> AppTest:
    """The whole app (the frame), run once."""
    page = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    page.run()
    return page


def offered(database_url: str, role: Role, script: str, header: str, *, to: set[Role]) -> None:
    """Signed in through the frame as `role`, the navigation opens `script` (showing `header`) exactly when `role` is
    one of `to`; otherwise the page is not registered at all."""
    add(database_url, "someone", role)
    page = sign_in(app(), "someone")
    if role not in to:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            page.switch_page(script)
        return
    page.switch_page(script)
    page.run()
    assert not page.exception, page.exception
    assert header in [element.value for element in page.header]

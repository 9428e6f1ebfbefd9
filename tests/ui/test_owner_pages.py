"""The owner's pages (Users, Settings and health, Audit trail) under AppTest, on a temporary SQLite file: who may
open them (through the whole app, and by address), and what each does, run alone as a signed-in owner."""
from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from k2sim import RunningSim
from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, SignInRefused, audit_log, get_user
from merchant.access import sign_in as check_sign_in
from merchant.access.audit import AUDIT, export_audit
from ui.words import AUDIT_ACTIONS
from merchant.db import open_database
from merchant.db.tables import WebhookRejection
from merchant.inbox.store import record_deliveries
from merchant.runtime import release
from tests.merchant.conftest import buygoods, delivered

from .conftest import ROOT, a_user, add, app, page_as, sign_in

OWNER_PAGES = {"pages/users.py": "Users", "pages/settings.py": "Settings and health", "pages/audit.py": "Audit trail"}
NAIROBI = ZoneInfo("Africa/Nairobi")
NEW_PASSWORD = "a brand new password 7"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The test database, for arranging rows and reading what a page wrote."""
    made = open_database(database_url)
    yield made
    made.dispose()


def headers(page: AppTest) -> list[str]:
    return [header.value for header in page.header]


def keys(page: AppTest) -> set[str]:
    """Every widget key on the page."""
    widgets = [*page.button, *page.text_input, *page.selectbox, *page.multiselect, *page.date_input,
               *page.get("download_button")]
    return {widget.key for widget in widgets if widget.key}


def everything(page: AppTest) -> str:
    """All the page shows, as text: every element's message, and each table's cells."""
    def walk(node: object) -> Iterator[str]:
        if (proto := getattr(node, "proto", None)) is not None:
            yield str(proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    tables = [frame.value.to_string() for frame in [*page.dataframe, *page.table]]
    return "\n".join([*walk(page.main), *walk(page.sidebar), *tables])


def open_page(script: str, role: Role = Role.OWNER) -> AppTest:
    page = page_as(script, role)
    page.run()
    assert not page.exception, page.exception
    return page


def run(page_or_widget: AppTest | Any) -> AppTest:
    """Run the app (after an interaction with one of its widgets) and check it raised nothing."""
    page = page_or_widget.run()
    assert not page.exception, page.exception
    return page


def actions(engine: sa.Engine, action: AuditAction) -> list[dict[str, object]]:
    return audit_log(engine, actions=[action]).to_dict("records")


def facts(page: AppTest, index: int) -> dict[str, str]:
    """A what-and-value table of the settings page, as a dict."""
    table = page.table[index].value
    return dict(zip(table["What"], table["Value"], strict=True))


# Who may open them

@pytest.mark.parametrize("role", list(Role))
def test_the_navigation_offers_the_owner_pages_to_the_owner_only(database_url: str, role: Role) -> None:
    add(database_url, "someone", role)
    page = sign_in(app(), "someone")
    assert not page.exception, page.exception
    for script, header in OWNER_PAGES.items():
        if role is Role.OWNER:
            run(page.switch_page(script))
            assert header in headers(page) and not page.error
        else:  # AppTest refuses a path the app's st.navigation did not register for this session
            with pytest.raises(ValueError, match="navigation page"):
                page.switch_page(script)


def at_address(script: str) -> AppTest:
    """The whole app, asked for at a page's address (`/users`) before anything else, as a typed or bookmarked URL."""
    return run(AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30).switch_page(script))


@pytest.mark.parametrize("script", list(OWNER_PAGES))
@pytest.mark.parametrize("role", list(Role))
def test_an_owner_page_asked_for_by_its_address_opens_for_the_owner_only(
    database_url: str, engine: sa.Engine, script: str, role: Role
) -> None:
    add(database_url, "someone", role)
    page = at_address(script)
    assert headers(page) == [] and [field.label for field in page.text_input] == ["Username", "Password"]
    page = run(sign_in(page, "someone"))  # signed in while the browser still asks for that address
    if role is Role.OWNER:
        assert OWNER_PAGES[script] in headers(page)
        return
    assert headers(page) == ["Overview"]  # the navigation's default page instead
    assert not {key for key in keys(page) if key.startswith(("users_", "settings_", "audit_"))}
    assert not actions(engine, AuditAction.CONNECTION_TESTED) and not actions(engine, AuditAction.EXPORTED)


@pytest.mark.parametrize("script", list(OWNER_PAGES))
@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_an_owner_page_run_alone_shows_other_roles_only_a_refusal(database_url: str, script: str, role: Role) -> None:
    page = open_page(script, role)
    assert [error.value for error in page.error] == [
        f"Your role ({role.value}) cannot do this; ask someone who is owner."]
    assert headers(page) == [] and not keys(page) and not page.dataframe and not page.table


# Users

def test_owner_adds_a_user_who_can_then_sign_in(engine: sa.Engine) -> None:
    page = open_page("pages/users.py")
    page.text_input(key="users_add_name").input("Achieng Otieno")
    page.text_input(key="users_add_username").input("achieng")
    page.selectbox(key="users_add_role").select(Role.FINANCE)
    page.text_input(key="users_add_password").input(NEW_PASSWORD)
    page.text_input(key="users_add_again").input(NEW_PASSWORD)
    run(page.button(key="users_add_submit").click())
    assert page.success[0].value.startswith("Added Achieng Otieno as finance")
    [shown] = page.dataframe[0].value.to_dict("records")
    assert (shown["name"], shown["username"], shown["role"], shown["status"], shown["email"]) == (
        "Achieng Otieno", "achieng", "Finance", "Active", "")
    assert "None" not in everything(page)
    assert [page.text_input(key=key).value for key in ("users_add_name", "users_add_username")] == ["", ""]
    assert check_sign_in(engine, "achieng", NEW_PASSWORD).role is Role.FINANCE
    [added] = actions(engine, AuditAction.USER_ADDED)
    assert (added["actor"], added["target"]) == ("wanjiku", "achieng")


def test_adding_with_mistakes_says_what_to_fix_and_keeps_what_was_typed(database_url: str, engine: sa.Engine) -> None:
    add(database_url, "achieng", Role.CASHIER)
    page = open_page("pages/users.py")
    page.text_input(key="users_add_name").input("Another Achieng")
    page.text_input(key="users_add_username").input("achieng")
    page.text_input(key="users_add_password").input(NEW_PASSWORD)
    page.text_input(key="users_add_again").input(NEW_PASSWORD + "x")
    run(page.button(key="users_add_submit").click())
    assert page.error[0].value == "Password: the two entries differ."
    page.text_input(key="users_add_again").input(NEW_PASSWORD)
    run(page.button(key="users_add_submit").click())
    assert page.error[0].value == "Username: achieng is taken; choose another."
    assert page.text_input(key="users_add_name").value == "Another Achieng"
    assert len(page.dataframe[0].value) == 1 and not actions(engine, AuditAction.USER_ADDED)[1:]


def pick(page: AppTest, username: str) -> AppTest:
    return run(page.selectbox(key="users_pick").select(username))


def test_owner_changes_a_role(database_url: str, engine: sa.Engine) -> None:
    add(database_url, "achieng", Role.CASHIER)
    page = pick(open_page("pages/users.py"), "achieng")
    run(page.selectbox(key="users_role_achieng").select(Role.FINANCE))
    run(page.button(key="users_change_role").click())
    assert page.success[0].value == "Achieng's role is now finance."
    assert page.dataframe[0].value["role"].tolist() == ["Finance"]
    assert get_user(engine, "achieng").role is Role.FINANCE  # type: ignore[union-attr]
    [changed] = actions(engine, AuditAction.ROLE_CHANGED)
    assert (changed["actor"], changed["target"]) == ("wanjiku", "achieng") and "finance" in str(changed["detail"])


def test_owner_disables_and_enables_a_user(database_url: str, engine: sa.Engine) -> None:
    add(database_url, "achieng", Role.CASHIER)
    page = pick(open_page("pages/users.py"), "achieng")
    run(page.button(key="users_disable").click())
    assert page.success[0].value == "Achieng is disabled and signed out everywhere."
    assert page.dataframe[0].value["status"].tolist() == ["Disabled"]
    assert get_user(engine, "achieng").disabled  # type: ignore[union-attr]
    run(page.button(key="users_enable").click())
    assert page.success[0].value == "Achieng can sign in again."
    assert not get_user(engine, "achieng").disabled  # type: ignore[union-attr]
    assert [len(actions(engine, action)) for action in (AuditAction.USER_DISABLED, AuditAction.USER_ENABLED)] == [1, 1]


def test_owner_resets_a_password(database_url: str, engine: sa.Engine) -> None:
    add(database_url, "achieng", Role.CASHIER)
    page = pick(open_page("pages/users.py"), "achieng")
    page.text_input(key="users_reset_password").input("short")
    run(page.button(key="users_reset").click())
    assert page.error[0].value == "Password: use at least 10 characters."
    page.text_input(key="users_reset_password").input(NEW_PASSWORD)
    run(page.button(key="users_reset").click())
    assert page.success[0].value == "Achieng's password is reset; their sessions have ended."
    assert check_sign_in(engine, "achieng", NEW_PASSWORD).username == "achieng"
    assert len(actions(engine, AuditAction.PASSWORD_RESET)) == 1
    assert NEW_PASSWORD not in everything(page)


def test_the_last_owner_can_be_neither_demoted_nor_disabled(database_url: str, engine: sa.Engine) -> None:
    add(database_url, "boss", Role.OWNER)
    page = pick(open_page("pages/users.py"), "boss")
    run(page.selectbox(key="users_role_boss").select(Role.VIEWER))
    run(page.button(key="users_change_role").click())
    assert page.error[0].value == "boss is the last owner: add another owner first."
    run(page.button(key="users_disable").click())
    assert page.error[0].value == "boss is the last owner: add another owner first."
    boss = get_user(engine, "boss")
    assert boss is not None and boss.role is Role.OWNER and not boss.disabled
    assert not page.success and not actions(engine, AuditAction.ROLE_CHANGED)


# Audit trail

ATTACK = "=cmd|' /c calc'!a0"  # a "username" typed into the sign-in form, to run in the accountant's spreadsheet


@pytest.fixture
def trail(database_url: str, engine: sa.Engine) -> sa.Engine:
    """A user added from the console, a sign-in with a formula for a username, and one entry ten days old."""
    add(database_url, "achieng", Role.CASHIER)
    with pytest.raises(SignInRefused):
        check_sign_in(engine, ATTACK, "wrong password", source="=2+3")
    with engine.begin() as connection:
        connection.execute(AUDIT.insert().values(at=datetime.now(UTC) - timedelta(days=10), actor="achieng",
                                                 action=AuditAction.SIGNED_IN, target="achieng", source="10.0.0.9"))
    return engine


def test_audit_trail_reads_in_words_and_nairobi_time(trail: sa.Engine) -> None:
    page = open_page("pages/audit.py")
    shown = page.dataframe[0].value
    assert shown["what"].tolist() == ["Wrong password", "Added a user"]  # newest first; last week only
    assert shown["who"].tolist() == ["(not signed in)", "console"]
    assert shown["detail"].tolist() == ["", "role: cashier"]
    assert str(shown["at"].dt.tz) == "Africa/Nairobi"
    assert not {"sign_in_failed", "user_added", "None"} & set(everything(page).split())


def test_audit_filters_by_days_person_and_action(trail: sa.Engine) -> None:
    page = open_page("pages/audit.py")
    today = datetime.now(NAIROBI).date()
    run(page.date_input(key="audit_dates").set_value((today - timedelta(days=14), today)))
    assert page.dataframe[0].value["what"].tolist() == ["Wrong password", "Added a user", "Signed in"]
    run(page.selectbox(key="audit_who").select("achieng"))
    assert page.dataframe[0].value["what"].tolist() == ["Signed in"]
    run(page.selectbox(key="audit_who").select(None))
    run(page.multiselect(key="audit_what").select(AuditAction.SIGN_IN_FAILED))
    assert page.dataframe[0].value["target"].tolist() == [ATTACK]
    run(page.date_input(key="audit_dates").set_value((today - timedelta(days=14), today - timedelta(days=12))))
    assert not page.dataframe and page.info[0].value.startswith("Nothing recorded for these filters.")


def test_audit_export_guards_formulas_and_is_itself_recorded(trail: sa.Engine) -> None:
    page = open_page("pages/audit.py")
    assert not page.get("download_button")
    run(page.button(key="audit_export").click())
    _, data = page.session_state["audit_file"]
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [row["action"] for row in rows] == ["user_added", "sign_in_failed"]  # oldest first
    attempt = rows[1]
    assert attempt["target"] == f"'{ATTACK}" and attempt["source"] == "'=2+3" and attempt["actor"] == ""
    assert datetime.fromisoformat(rows[0]["at"]).utcoffset() == timedelta(hours=3)  # Nairobi, with its offset
    [exported] = actions(trail, AuditAction.EXPORTED)
    assert (exported["actor"], exported["target"]) == ("wanjiku", "audit trail") and '"rows": 2' in exported["detail"]
    assert [button.label for button in page.get("download_button")] == ["Download the CSV"]
    run(page.multiselect(key="audit_what").select(AuditAction.USER_ADDED))  # other filters: export again
    assert not page.get("download_button")


def test_audit_export_refuses_who_may_not_see_the_trail(trail: sa.Engine) -> None:
    with pytest.raises(NotAllowed):
        export_audit(trail, a_user(Role.FINANCE))
    assert not actions(trail, AuditAction.EXPORTED)
    assert export_audit(trail, CONSOLE).count(b"\r\n") == 4  # the header and three entries


# Settings and health

@pytest.fixture
def k2_env(live_k2sim: RunningSim, database_url: str, monkeypatch: pytest.MonkeyPatch) -> RunningSim:
    monkeypatch.setenv("K2_BASE_URL", live_k2sim.base_url)
    monkeypatch.setenv("K2_CLIENT_ID", live_k2sim.client_id)
    monkeypatch.setenv("K2_CLIENT_SECRET", live_k2sim.client_secret)
    monkeypatch.setenv("K2_API_KEY", live_k2sim.api_key)
    monkeypatch.setenv("K2_TILL_NUMBER", "K514459")
    return live_k2sim


def test_settings_in_demo_mode_say_so_and_what_is_missing(database_url: str) -> None:
    page = open_page("pages/settings.py")
    assert page.info[0].value == "**Demo**: the built-in K2 emulator. No real money moves."
    k2 = facts(page, 0)
    assert k2["Client secret (K2_CLIENT_SECRET)"] == "not set" and k2["Till number (K2_TILL_NUMBER)"] == "not set"
    assert page.info[1].value.startswith("No delivery from K2 yet.")
    assert "No deliveries refused in the last 7 days." in [caption.value for caption in page.caption]
    assert facts(page, 1)["Kind"] == "SQLite (a file on this server)"


def test_settings_never_show_a_secret(k2_env: RunningSim) -> None:
    page = open_page("pages/settings.py")
    assert page.info[0].value.startswith("**Sandbox**")
    shown = everything(page)
    assert k2_env.base_url in shown and "K514459" in shown  # the search sees the page's text
    for secret in (k2_env.client_secret, k2_env.api_key, k2_env.client_id):
        assert secret not in shown
    k2 = facts(page, 0)
    assert k2["Client secret (K2_CLIENT_SECRET)"] == "set" and k2["Webhook signing key (K2_API_KEY)"] == "set"


def test_settings_in_production_warn_that_real_money_moves(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_BASE_URL", "https://api.kopokopo.com")
    monkeypatch.setenv("K2_CLIENT_ID", "live-id")
    monkeypatch.setenv("K2_CLIENT_SECRET", "live-secret-value")
    page = open_page("pages/settings.py")
    assert page.warning[0].value == "**Production**: live K2. Real money moves."
    assert "live-secret-value" not in everything(page)


def test_testing_the_connection_against_k2sim_says_ok(k2_env: RunningSim, engine: sa.Engine) -> None:
    page = run(open_page("pages/settings.py").button(key="settings_test").click())
    assert page.success[0].value.startswith("K2 answered and accepted the client ID and secret.")
    assert k2_env.base_url in page.success[0].value
    [tested] = actions(engine, AuditAction.CONNECTION_TESTED)
    assert tested["actor"] == "wanjiku" and '"outcome": "ok"' in str(tested["detail"])


def test_testing_the_connection_with_wrong_credentials_says_they_were_refused(
    k2_env: RunningSim, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K2_CLIENT_SECRET", "not-the-secret-at-all")
    page = run(open_page("pages/settings.py").button(key="settings_test").click())
    assert page.error[0].value.startswith("K2 refused the client ID and secret.")
    assert "not-the-secret-at-all" not in everything(page)
    assert '"outcome": "refused"' in str(actions(engine, AuditAction.CONNECTION_TESTED)[0]["detail"])


def test_settings_show_the_last_delivery_and_refusals_by_reason(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        record_deliveries(connection, [delivered(buygoods(1))])  # received 2026-11-20 08:00 UTC
        connection.execute(WebhookRejection.__table__.insert(), [  # type: ignore[attr-defined]
            {"minute": (now - timedelta(hours=1)).replace(second=0, microsecond=0), "source": "10.0.0.1",
             "reason": "signature mismatch", "count": 12, "last_at": now - timedelta(hours=1)},
            {"minute": (now - timedelta(days=2)).replace(second=0, microsecond=0), "source": "10.0.0.1",
             "reason": "signature mismatch", "count": 30, "last_at": now - timedelta(days=2)},
        ])
    page = open_page("pages/settings.py")
    assert "Last delivery received: **Fri 20 Nov, 11:00** (Nairobi time)." in [text.value for text in page.markdown]
    refused = page.table[1].value
    assert refused.to_dict("records") == [{"Why": "Signature mismatch", "Last 24 hours": "12", "Last 7 days": "42",
                                          "Last one": f"{(now - timedelta(hours=1)).astimezone(NAIROBI):%H:%M}"}]


@pytest.fixture
def postgres_with_password(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL on the CI PostgreSQL (a schema of its own) with a password in it, which trust auth ignores."""
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.fail("TEST_POSTGRES_URL is not set: run `source .ci/postgres.sh` first (it starts PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(server).set(password="db-pass-value")
    monkeypatch.setenv("DATABASE_URL", f"{url.render_as_string(hide_password=False)}?options=-csearch_path%3D{schema}")
    yield "db-pass-value"
    release()  # the page's runtime holds connections into the schema
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_settings_on_postgresql_show_its_size_and_never_its_password(postgres_with_password: str) -> None:
    page = open_page("pages/settings.py")
    database = facts(page, 1)
    assert database["Kind"] == "PostgreSQL" and database["Password (in DATABASE_URL)"] == "set"
    assert database["Size"].endswith(" MB")
    assert postgres_with_password not in everything(page)



def test_every_audit_action_has_words() -> None:
    """A new action must be said in words on the audit page, and offered in its filter."""
    assert set(AUDIT_ACTIONS) == set(AuditAction)

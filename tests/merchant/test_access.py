"""Roles, users and the audit trail without a browser (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from merchant.access import (
    CONSOLE,
    AuditAction,
    ROLE_PERMISSIONS,
    NotAllowed,
    Permission,
    Role,
    SignInRefused,
    add_user,
    audit_log,
    can,
    exported,
    get_user,
    mask_phone,
    reset_password,
    session_valid,
    set_disabled,
    set_role,
    sign_in,
)
from merchant.access.signin import LOCK_FOR, SOURCE_LIMIT, USER_LIMIT, cookie_key, create_owner, new_setup_code
from merchant.db import open_database
from merchant.errors import InputError

PASSWORD = "correct horse battery"


@pytest.fixture
def db(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def person(db, username: str, role: Role):  # type: ignore[no-untyped-def]
    return add_user(db, CONSOLE, username=username, name=username.title(), role=role, password=PASSWORD)


class TestPermissions:
    def test_the_table(self) -> None:
        assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)
        assert can(Role.CASHIER, Permission.ASK_TO_PAY) and not can(Role.VIEWER, Permission.ASK_TO_PAY)
        assert not can(Role.VIEWER, Permission.SEE_PHONES) and not can(Role.VIEWER, Permission.EXPORT)
        assert can(Role.FINANCE, Permission.EXPORT) and not can(Role.FINANCE, Permission.MANAGE_USERS)

    def test_masked_phone(self) -> None:
        assert mask_phone("+254712345678") == "+254712***678"


class TestUsers:
    def test_only_an_owner_adds_users(self, db) -> None:  # type: ignore[no-untyped-def]
        cashier = person(db, "achieng", Role.CASHIER)
        with pytest.raises(NotAllowed, match="owner"):
            add_user(db, cashier, username="mallory", name="M", role=Role.OWNER, password=PASSWORD)
        assert get_user(db, "mallory") is None

    def test_bad_input_is_named(self, db) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(InputError, match="Password"):
            add_user(db, CONSOLE, username="otieno", name="Otieno", role=Role.VIEWER, password="short")
        person(db, "otieno", Role.VIEWER)
        with pytest.raises(InputError, match="taken"):
            person(db, "Otieno", Role.VIEWER)
        with pytest.raises(InputError, match="Username"):
            person(db, "bad name!", Role.VIEWER)

    def test_the_last_owner_is_neither_demoted_nor_disabled(self, db) -> None:  # type: ignore[no-untyped-def]
        person(db, "wanjiku", Role.OWNER)
        with pytest.raises(InputError, match="last owner"):
            set_role(db, CONSOLE, "wanjiku", Role.VIEWER)
        with pytest.raises(InputError, match="last owner"):
            set_disabled(db, CONSOLE, "wanjiku", True)
        person(db, "kamau", Role.OWNER)
        assert set_role(db, CONSOLE, "wanjiku", Role.FINANCE).role is Role.FINANCE

    def test_a_password_reset_ends_sessions(self, db) -> None:  # type: ignore[no-untyped-def]
        person(db, "achieng", Role.CASHIER)
        sign_in(db, "achieng", PASSWORD)
        session_began = datetime.now(UTC)
        assert session_valid(get_user(db, "achieng"), session_began)
        reset_password(db, CONSOLE, "achieng", "a brand new secret")
        after = get_user(db, "achieng")
        assert not session_valid(after, session_began)
        assert sign_in(db, "achieng", "a brand new secret").username == "achieng"
        assert session_valid(after, datetime.now(UTC))


class TestSignIn:
    def test_five_wrong_passwords_lock_the_user_for_fifteen_minutes(self, db) -> None:  # type: ignore[no-untyped-def]
        person(db, "achieng", Role.CASHIER)
        for _ in range(USER_LIMIT):
            with pytest.raises(SignInRefused) as refused:
                sign_in(db, "achieng", "wrong", source="10.0.0.1")
            assert refused.value.until is None
        with pytest.raises(SignInRefused) as locked:
            sign_in(db, "achieng", PASSWORD, source="10.0.0.2")
        failures = audit_log(db, actions=[AuditAction.SIGN_IN_FAILED])
        assert locked.value.until == failures["at"].iloc[0].to_pydatetime() + LOCK_FOR  # the last failure's + 15 min

    def test_twenty_wrong_passwords_from_one_address_lock_that_address(self, db) -> None:  # type: ignore[no-untyped-def]
        person(db, "achieng", Role.CASHIER)
        for n in range(SOURCE_LIMIT):
            with pytest.raises(SignInRefused):
                sign_in(db, f"guess{n}", "wrong", source="203.0.113.9")
        with pytest.raises(SignInRefused) as locked:
            sign_in(db, "achieng", PASSWORD, source="203.0.113.9")
        assert locked.value.until is not None
        assert sign_in(db, "achieng", PASSWORD, source="198.51.100.1").username == "achieng"

    def test_every_attempt_is_audited(self, db) -> None:  # type: ignore[no-untyped-def]
        person(db, "achieng", Role.CASHIER)
        with pytest.raises(SignInRefused):
            sign_in(db, "achieng", "wrong", source="10.0.0.1")
        sign_in(db, "achieng", PASSWORD, source="10.0.0.1")
        entries = audit_log(db)
        assert list(entries["action"])[:2] == ["signed_in", "sign_in_failed"]
        assert set(entries["source"].dropna()) == {"10.0.0.1"}

    def test_the_setup_code_claims_an_empty_server_once(self, db) -> None:  # type: ignore[no-untyped-def]
        code = new_setup_code(db)
        assert code is not None
        with pytest.raises(InputError, match="Setup code"):
            create_owner(db, setup_code="0000-0000-0000", username="x", name="X", password=PASSWORD, source="10.9.9.9")
        assert (audit_log(db).iloc[0]["action"], audit_log(db).iloc[0]["source"]) == ("sign_in_failed", "10.9.9.9")
        assert new_setup_code(db) == code  # every worker process prints the same code until it is used
        owner = create_owner(db, setup_code=code, username="wanjiku", name="Wanjiku", password=PASSWORD)
        assert owner.role is Role.OWNER
        assert new_setup_code(db) is None
        with pytest.raises(InputError, match="exists already"):
            create_owner(db, setup_code=code, username="mallory", name="M", password=PASSWORD)

    def test_the_cookie_key_is_made_once(self, db) -> None:  # type: ignore[no-untyped-def]
        assert cookie_key(db) == cookie_key(db) and len(cookie_key(db)) > 40


def test_exports_need_the_right_and_are_audited(db) -> None:  # type: ignore[no-untyped-def]
    viewer, finance = person(db, "otieno", Role.VIEWER), person(db, "njeri", Role.FINANCE)
    with pytest.raises(NotAllowed):
        exported(db, viewer, what="money in")
    exported(db, finance, what="money in", detail={"from": "2026-11-01"})
    latest = audit_log(db).iloc[0]
    assert (latest["action"], latest["actor"], latest["target"]) == ("exported", "njeri", "money in")

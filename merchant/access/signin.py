"""Signing in: the first owner (claimed with a one-time setup code), password checks with lock-out, and the
secrets the server makes for itself (the sign-in cookie key)."""
from __future__ import annotations

import functools
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ..db import writing
from ..db.tables import AppSecret
from ..errors import InputError
from .audit import AUDIT, AuditAction, record
from .roles import Role
from .users import USERS, User, check_password, hash_password, insert_user

__all__ = [
    "LOCK_FOR",
    "SOURCE_LIMIT",
    "USER_LIMIT",
    "SignInRefused",
    "cookie_key",
    "create_owner",
    "has_users",
    "new_setup_code",
    "session_valid",
    "sign_in",
    "signed_out",
]

_SECRETS: Table = AppSecret.__table__  # type: ignore[attr-defined]
USER_LIMIT = 5  # wrong passwords for one user
SOURCE_LIMIT = 20  # wrong passwords from one address
LOCK_FOR = timedelta(minutes=15)
_SETUP_CODE = "setup_code"
_COOKIE_KEY = "cookie_key"


@functools.cache
def _dummy_hash() -> str:
    """A bcrypt hash of nothing anyone can type: an unknown username costs as much time as a known one. Made on
    first use, not at import (every process that imports this would pay a bcrypt round at start)."""
    return hash_password(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """Sign-in refused: `until` is set when it is a lock-out (wrong passwords), else the password was wrong."""

    def __init__(self, until: datetime | None = None) -> None:
        super().__init__("locked out" if until else "wrong username or password")
        self.until = until


def _now() -> datetime:
    return datetime.now(UTC)


def _insert_for(connection: Connection):  # type: ignore[no-untyped-def]
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def has_users(engine: Engine) -> bool:
    """Whether anyone can sign in yet (if not, the only page is "create the owner account")."""
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(USERS)).scalar_one() > 0


def new_setup_code(engine: Engine) -> str | None:
    """At server start with no users: the one-time code (printed to the console and log) without which nobody
    can claim the server; made once and kept until the owner exists, so every worker process prints the same one.
    None once an owner exists."""
    if has_users(engine):
        return None
    code = "-".join(f"{secrets.randbelow(10_000):04d}" for _ in range(3))
    with engine.begin() as connection:
        connection.execute(
            _insert_for(connection)(_SECRETS)
            .values(name=_SETUP_CODE, value=code, created_at=_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return connection.execute(select(_SECRETS.c.value).where(_SECRETS.c.name == _SETUP_CODE)).scalar_one()


def cookie_key(engine: Engine) -> str:
    """The key that signs sign-in cookies: made once, on first use, kept in the database (never in git)."""
    with engine.begin() as connection:
        connection.execute(
            _insert_for(connection)(_SECRETS)
            .values(name=_COOKIE_KEY, value=secrets.token_urlsafe(48), created_at=_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return connection.execute(select(_SECRETS.c.value).where(_SECRETS.c.name == _COOKIE_KEY)).scalar_one()


def create_owner(
    engine: Engine, *, setup_code: str, username: str, name: str, password: str, email: str | None = None,
    source: str | None = None,
) -> User:
    """The first owner, for whoever holds the server's setup code; refused once any user exists. A wrong code is
    audited (and counts towards the address's lock-out) though nothing else is written."""
    try:
        with writing(engine) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("LOCK TABLE users IN EXCLUSIVE MODE"))
            if connection.execute(select(func.count()).select_from(USERS)).scalar_one():
                raise InputError("setup_code", "The owner account exists already: sign in instead.")
            stored = connection.execute(select(_SECRETS.c.value).where(_SECRETS.c.name == _SETUP_CODE)).scalar()
            if not stored or not hmac.compare_digest("".join(setup_code.split()).encode(), stored.encode()):
                raise _WrongSetupCode
            user = insert_user(connection, username=username, name=name, role=Role.OWNER, password=password,
                               email=email)
            connection.execute(delete(_SECRETS).where(_SECRETS.c.name == _SETUP_CODE))
            record(connection, AuditAction.OWNER_CREATED, actor=user.username, target=user.username, source=source)
    except _WrongSetupCode:
        with engine.begin() as connection:
            record(connection, AuditAction.SIGN_IN_FAILED, actor=None, target="setup code", source=source)
        raise InputError("setup_code", "Setup code: that is not the code the server printed when it started.") from None
    return user


class _WrongSetupCode(Exception):
    """Raised inside `create_owner`'s transaction so it rolls back before the attempt is audited on its own."""


def _locked_until(connection: Connection, *, username: str, source: str | None, now: datetime) -> datetime | None:
    """When a lock-out ends, if one is on: 5 wrong passwords for the user, or 20 from the address, within
    `LOCK_FOR` (and, for the user, since their last sign-in)."""
    window = now - LOCK_FOR
    last_in = connection.execute(
        select(func.max(AUDIT.c.at)).where(AUDIT.c.action == AuditAction.SIGNED_IN, AUDIT.c.target == username)
    ).scalar()
    rules = [(AUDIT.c.target == username, max(window, last_in) if last_in else window, USER_LIMIT)]
    if source:
        rules.append((AUDIT.c.source == source, window, SOURCE_LIMIT))
    for who, since, limit in rules:
        failures = connection.execute(
            select(AUDIT.c.at).where(who, AUDIT.c.action == AuditAction.SIGN_IN_FAILED, AUDIT.c.at >= since)
            .order_by(AUDIT.c.at.desc()).limit(limit)
        ).scalars().all()
        if len(failures) >= limit:
            return failures[0] + LOCK_FOR
    return None


def sign_in(engine: Engine, username: str, password: str, *, source: str | None = None) -> User:
    """The user, if the password is right and no lock-out is on; `SignInRefused` otherwise. Every attempt is
    audited; attempts during a lock-out are refused unchecked and do not extend it."""
    username = username.strip().lower()
    now = _now()
    with writing(engine) as connection:
        until = _locked_until(connection, username=username, source=source, now=now)
        if until is not None:
            record(connection, AuditAction.SIGN_IN_REFUSED, actor=None, target=username,
                   detail={"locked_until": until.isoformat()}, source=source)
            refused = SignInRefused(until)
        else:
            row = connection.execute(select(USERS).where(USERS.c.username == username)).first()
            matches = check_password(password, row.password_hash if row is not None else _dummy_hash())
            if row is not None and matches and not row.disabled:
                connection.execute(update(USERS).where(USERS.c.id == row.id).values(last_login_at=now))
                record(connection, AuditAction.SIGNED_IN, actor=username, target=username, source=source)
                return User.of(row)
            action = AuditAction.SIGN_IN_REFUSED if row is not None and matches else AuditAction.SIGN_IN_FAILED
            record(connection, action, actor=None, target=username, source=source)
            refused = SignInRefused()
    raise refused


def session_valid(user: User | None, signed_in_at: datetime) -> bool:
    """Whether a session begun at `signed_in_at` still stands: the user exists, is active, and has not been
    signed out everywhere (or had the password reset) since."""
    if user is None or user.disabled:
        return False
    return user.sessions_valid_after is None or signed_in_at >= user.sessions_valid_after


def signed_out(engine: Engine, user: User, *, action: AuditAction, source: str | None = None) -> None:
    """Audit the end of a session (signed out, or expired when idle)."""
    with engine.begin() as connection:
        record(connection, action, actor=user.username, target=user.username, source=source)

"""Users: adding them, their roles, disabling, passwords; every change checked against the actor and audited.

Passwords are kept as bcrypt hashes only (the format streamlit-authenticator checks); there is no default one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import bcrypt
from sqlalchemy import Connection, Engine, Row, Table, func, insert, select, update

from ..db import writing
from ..db.tables import UserAccount
from ..errors import InputError
from .audit import AuditAction, record
from .roles import NotAllowed, Permission, Role, can

__all__ = [
    "CONSOLE",
    "MIN_PASSWORD",
    "USERS",
    "User",
    "add_user",
    "check_password",
    "get_user",
    "hash_password",
    "insert_user",
    "list_users",
    "require",
    "reset_password",
    "set_disabled",
    "set_role",
    "sign_out_everywhere",
]

USERS: Table = UserAccount.__table__  # type: ignore[attr-defined]
MIN_PASSWORD = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in (or the server console, for `python -m merchant.users`)."""

    username: str
    name: str
    email: str | None
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    sessions_valid_after: datetime | None

    @classmethod
    def of(cls, row: Row) -> User:
        return cls(row.username, row.name, row.email, Role(row.role), bool(row.disabled), row.created_at,
                   row.last_login_at, row.sessions_valid_after)


# Whoever runs `python -m merchant.users` on the server already holds the machine: they act as an owner.
CONSOLE = User("console", "Server console", None, Role.OWNER, False, datetime(2026, 1, 1, tzinfo=UTC), None, None)


def require(actor: User, permission: Permission) -> None:
    """`NotAllowed` unless the actor's role has `permission` (and the account is active)."""
    if actor.disabled or not can(actor.role, permission):
        raise NotAllowed(actor.role, permission)


def hash_password(password: str) -> str:
    """A bcrypt hash, as streamlit-authenticator's `Hasher.hash` makes."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches the stored hash (constant time, by bcrypt)."""
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def _checked_password(password: str) -> str:
    """The password as it will be checked at sign-in (the sign-in form trims spaces at either end)."""
    password = password.strip()
    if len(password) < MIN_PASSWORD:
        raise InputError("password", f"Password: use at least {MIN_PASSWORD} characters.")
    if len(set(password)) < 4:
        raise InputError("password", "Password: too easy to guess; mix letters, digits and signs.")
    return password


def _checked_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InputError("username", "Username: 2 to 32 letters, digits, dots, dashes or underscores, e.g. wanjiku.")
    return name


def get_user(engine: Engine, username: str) -> User | None:
    """The user called `username`, if any."""
    with engine.connect() as connection:
        row = connection.execute(select(USERS).where(USERS.c.username == username.strip().lower())).first()
    return None if row is None else User.of(row)


def list_users(engine: Engine) -> list[User]:
    """Every user, by username."""
    with engine.connect() as connection:
        return [User.of(row) for row in connection.execute(select(USERS).order_by(USERS.c.username))]


def insert_user(
    connection: Connection, *, username: str, name: str, role: Role, password: str, email: str | None
) -> User:
    """Write a new user after checking the input; `InputError` names what is wrong (a taken username too)."""
    username = _checked_username(username)
    if not name.strip():
        raise InputError("name", "Name: enter the person's name.")
    taken = connection.execute(select(USERS.c.id).where(USERS.c.username == username)).first()
    if taken is not None:
        raise InputError("username", f"Username: {username} is taken; choose another.")
    now = datetime.now(UTC)
    row = connection.execute(
        insert(USERS).values(
            username=username, name=name.strip(), email=(email or "").strip() or None, role=role,
            password_hash=hash_password(_checked_password(password)), disabled=False, created_at=now,
        ).returning(*USERS.c)
    ).one()
    return User.of(row)


def add_user(
    engine: Engine, actor: User, *, username: str, name: str, role: Role, password: str,
    email: str | None = None, source: str | None = None,
) -> User:
    """An owner adds a user."""
    require(actor, Permission.MANAGE_USERS)
    with writing(engine) as connection:
        user = insert_user(connection, username=username, name=name, role=role, password=password, email=email)
        record(connection, AuditAction.USER_ADDED, actor=actor.username, target=user.username,
               detail={"role": role.value}, source=source)
    return user


def _active_owners(connection: Connection) -> int:
    return connection.execute(
        select(func.count()).select_from(USERS).where(USERS.c.role == Role.OWNER, USERS.c.disabled.is_(False))
    ).scalar_one()


def _change(
    engine: Engine, actor: User, username: str, action: AuditAction, values: dict[str, object], *,
    leaves_owners: bool, detail: dict[str, str] | None = None, source: str | None = None,
) -> User:
    """One checked change to one user, refused if it would leave no active owner."""
    require(actor, Permission.MANAGE_USERS)
    with writing(engine) as connection:
        row = connection.execute(select(USERS).where(USERS.c.username == username).with_for_update()).first()
        if row is None:
            raise InputError("username", f"Username: there is no user called {username}.")
        if not leaves_owners and row.role == Role.OWNER and not row.disabled and _active_owners(connection) <= 1:
            raise InputError("role", f"{username} is the last owner: add another owner first.")
        changed = connection.execute(
            update(USERS).where(USERS.c.username == username).values(**values).returning(*USERS.c)
        ).one()
        record(connection, action, actor=actor.username, target=username, detail=detail, source=source)
    return User.of(changed)


def set_role(engine: Engine, actor: User, username: str, role: Role, *, source: str | None = None) -> User:
    """Change a user's role; the last active owner keeps theirs."""
    return _change(engine, actor, username, AuditAction.ROLE_CHANGED, {"role": role},
                   leaves_owners=role is Role.OWNER, detail={"role": role.value}, source=source)


def set_disabled(engine: Engine, actor: User, username: str, disabled: bool, *, source: str | None = None) -> User:
    """Disable (ends their sessions) or enable a user; the last active owner cannot be disabled."""
    values: dict[str, object] = {"disabled": disabled}
    if disabled:
        values["sessions_valid_after"] = datetime.now(UTC)
    action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
    return _change(engine, actor, username, action, values, leaves_owners=not disabled, source=source)


def reset_password(engine: Engine, actor: User, username: str, password: str, *, source: str | None = None) -> User:
    """Set a new password and end the user's sessions."""
    values = {"password_hash": hash_password(_checked_password(password)), "sessions_valid_after": datetime.now(UTC)}
    return _change(engine, actor, username, AuditAction.PASSWORD_RESET, values, leaves_owners=True, source=source)


def sign_out_everywhere(engine: Engine, user: User, *, source: str | None = None) -> None:
    """End every session of `user`, on every device (their own choice, e.g. after losing a phone)."""
    with engine.begin() as connection:
        connection.execute(
            update(USERS).where(USERS.c.username == user.username).values(sessions_valid_after=datetime.now(UTC))
        )
        record(connection, AuditAction.SIGNED_OUT_EVERYWHERE, actor=user.username, target=user.username,
               source=source)

"""Sign-in, roles and the audit trail: who may do what, checked in one place, recorded in one table."""
from __future__ import annotations

from .audit import AUDIT_COLUMNS, AuditAction, audit_log, record
from .exports import exported
from .roles import ROLE_PERMISSIONS, NotAllowed, Permission, Role, can, mask_phone, written_phone
from .signin import SignInRefused, cookie_key, create_owner, has_users, new_setup_code, session_valid, sign_in, signed_out
from .users import (
    CONSOLE,
    User,
    add_user,
    get_user,
    list_users,
    require,
    reset_password,
    set_disabled,
    set_role,
    sign_out_everywhere,
)

__all__ = [
    "AUDIT_COLUMNS",
    "CONSOLE",
    "ROLE_PERMISSIONS",
    "AuditAction",
    "NotAllowed",
    "Permission",
    "Role",
    "SignInRefused",
    "User",
    "add_user",
    "audit_log",
    "can",
    "cookie_key",
    "exported",
    "create_owner",
    "get_user",
    "has_users",
    "list_users",
    "mask_phone",
    "written_phone",
    "new_setup_code",
    "record",
    "require",
    "reset_password",
    "session_valid",
    "set_disabled",
    "set_role",
    "sign_in",
    "sign_out_everywhere",
    "signed_out",
]

"""The owner's settings: defaults, changes audited, bad input named (SQLite and PostgreSQL)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from merchant.access import CONSOLE, NotAllowed, Role, add_user, audit_log
from merchant.db import open_database
from merchant.errors import InputError
from merchant.preferences import Preferences, load_preferences, set_approval_threshold, set_payout_api


def test_defaults_changes_and_refusals(database_url: str) -> None:
    engine = open_database(database_url)
    assert load_preferences(engine) == Preferences(None, "v1")
    set_approval_threshold(engine, CONSOLE, "50,000")
    set_payout_api(engine, CONSOLE, "v2")
    assert load_preferences(engine) == Preferences(Decimal(50000), "v2")
    set_approval_threshold(engine, CONSOLE, "")
    assert load_preferences(engine).approval_threshold is None
    with pytest.raises(InputError, match="Approval threshold"):
        set_approval_threshold(engine, CONSOLE, "12.50")
    finance = add_user(engine, CONSOLE, username="njeri", name="Njeri", role=Role.FINANCE,
                       password="correct horse battery")
    with pytest.raises(NotAllowed):
        set_payout_api(engine, finance, "v1")
    assert list(audit_log(engine)["action"][1:4]) == ["settings_changed"] * 3  # newest first, after the user
    engine.dispose()

"""Shared fixtures: no test ever sees real K2 credentials or a real database setting."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "k2" / "fixtures"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear K2_* settings, PUBLIC_BASE_URL and DATABASE_URL so a developer's real ones never reach a test."""
    for name in list(os.environ):
        if name.startswith("K2_") or name in {"DATABASE_URL", "PUBLIC_BASE_URL"}:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """Kopo Kopo's own fixture folder, read in place (never copied into the repository)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"{SHARED_FIXTURES} is missing: the conformance tests need ../shared/k2/fixtures")
    return SHARED_FIXTURES

"""Shared fixtures: no test ever sees real K2 credentials or a real database setting."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.runtime import release

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "k2" / "fixtures"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear K2_* settings, PUBLIC_BASE_URL and DATABASE_URL so a developer's real ones never reach a test, and
    stop the runtime a test's pages started on their own (no server lifespan under AppTest)."""
    for name in list(os.environ):
        if name.startswith("K2_") or name in {"DATABASE_URL", "PUBLIC_BASE_URL"}:
            monkeypatch.delenv(name, raising=False)
    yield
    release()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """Kopo Kopo's own fixture folder, read in place (never copied into the repository)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"{SHARED_FIXTURES} is missing: the conformance tests need ../shared/k2/fixtures")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def live_k2sim() -> Iterator[RunningSim]:
    """One real k2sim on a free loopback port for the whole session, callbacks sent with no delay."""
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        yield sim

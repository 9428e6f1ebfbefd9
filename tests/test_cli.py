"""The command line: `python -m merchant.webhooks` runs as a script without Python warning that the module was
imported twice (once by its own package, once as `__main__`), which would mean two copies of its state."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` from the project root, RuntimeWarnings made errors, on the given database."""
    env = os.environ.copy() | {"DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'merchant.db'}"


def test_webhooks_help_runs_without_a_double_import_warning(database_url: str) -> None:
    done = run_module("merchant.webhooks", "--help", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr
    assert "--reprocess" in done.stdout


def test_webhooks_reprocess_runs_without_a_double_import_warning(database_url: str) -> None:
    done = run_module("merchant.webhooks", "--reprocess", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr
    assert "0 stored deliveries that had failed to map are now mapped" in done.stdout
    engine = sa.create_engine(database_url)  # it opened (and so migrated) the database it was given
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_importing_the_package_does_not_import_the_receiver() -> None:
    # The cause of the warning in release d74f602: `merchant/__init__.py` imported a module that imported
    # `merchant.webhooks`, so `-m merchant.webhooks` found it already loaded before running it as a script.
    done = subprocess.run(
        [sys.executable, "-c", "import sys, merchant; print('merchant.webhooks' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

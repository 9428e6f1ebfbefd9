"""`python -m merchant.payouts`, run as a finance team would from the server's console: validate names every bad
cell and exits 1; submit, approve (by someone else), run against k2sim, status and export go through the same
functions as the page."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k2sim import RunningSim
from merchant.access import Role
from merchant.access.users import insert_user
from merchant.db import open_database
from tests.servers import ROOT

from .conftest import KEY
from .test_batches import HEADER


def payouts(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "merchant.payouts", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def console(tmp_path: Path, sim: RunningSim) -> dict[str, str]:
    """The environment of a server console: its database (with two finance users) and its K2 account."""
    database_url = f"sqlite:///{tmp_path / 'merchant.db'}"
    engine = open_database(database_url)
    with engine.begin() as connection:
        for username in ("njeri", "otieno"):
            insert_user(connection, username=username, name=username.title(), role=Role.FINANCE,
                        password="a long enough password", email=None)
    engine.dispose()
    return {key: value for key, value in os.environ.items() if not key.startswith("K2_")} | {
        "DATABASE_URL": database_url, "K2_BASE_URL": sim.base_url, "K2_CLIENT_ID": sim.client_id,
        "K2_CLIENT_SECRET": sim.client_secret, "K2_API_KEY": KEY, "PUBLIC_BASE_URL": "http://127.0.0.1:9",
    }


def test_validate_names_every_bad_cell_and_exits_1(tmp_path: Path, console: dict[str, str]) -> None:
    file = tmp_path / "payroll.csv"
    file.write_text("\r\n".join((HEADER, "M-Pesa,Jane Wanjiru,0712 345 678,,,,,1500,Salary,",
                                 "M-Pesa,Brian Otieno,0712 34,,,,,1500,Salary,",
                                 "Till,Kamau Hardware,,,,555123,,12.50,Cement,")) + "\r\n")
    done = payouts("validate", str(file), env=console)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("row 3, column Phone: ")
    assert lines[1].startswith("row 4, column Amount: ") and "whole shillings" in lines[1]
    assert "1 rows fine, 2 problems" in done.stderr


def test_submit_approve_run_status_and_export(tmp_path: Path, console: dict[str, str]) -> None:
    file = tmp_path / "payroll.csv"
    file.write_text("\r\n".join((HEADER, "M-Pesa,Jane Wanjiru,0712 345 678,,,,,1500,Salary,NOV-1",
                                 "Till,Kamau Hardware,,,,555123,,3000,Cement,INV-114")) + "\r\n")
    assert payouts("validate", str(file), env=console).returncode == 0

    submitted = payouts("submit", str(file), "--by", "njeri", env=console)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith("batch 1 (payroll.csv): 2 rows, KES 4,500, waiting for approval")
    again = payouts("submit", str(file), "--by", "njeri", env=console)
    assert again.returncode == 2 and "already submitted as batch 1" in again.stderr

    own = payouts("approve", "1", "--by", "njeri", env=console)
    assert own.returncode == 2 and "you cannot approve it" in own.stderr
    early = payouts("run", "1", env=console)
    assert early.returncode == 2 and "approve it first" in early.stderr
    assert payouts("approve", "1", "--by", "otieno", env=console).returncode == 0

    ran = payouts("run", "1", env=console)  # no callback can reach it here: status queries settle the rows
    assert ran.returncode == 0, ran.stderr
    status = payouts("status", "1", env=console)
    assert "done: 2 paid; KES 4,500 paid" in status.stdout, status.stdout + ran.stdout

    exported = payouts("export", "1", "--by", "otieno", env=console)
    table = list(csv.reader(io.StringIO(exported.stdout.lstrip("\ufeff"))))
    assert [line[0] for line in table[1:]] == ["2", "3"] and {line[7] for line in table[1:]} == {"Paid"}

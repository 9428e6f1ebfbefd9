"""Bulk payouts: reading and checking a 10,000-row payout CSV, and sending it, each beside a baseline in the same run.

    python3 bench/bulk.py [--rows 10000] [--bad-every 50] [--rounds 5] [--send-rows 10000] [--sdk-rows 200]
                          [--latency-ms 50] [--concurrency 32] [--parse-only]

The file mixes all four types (about half M-Pesa, then bank, till and paybill; about one destination in five paid
twice, one row in a hundred repeated whole) and breaks one cell in about every `--bad-every`th row (a bad phone, a
blank description, cents to M-Pesa, an unknown branch, a till with letters, an unknown type). Each round makes a
new file (other phones and accounts) and times, best of `--rounds`:
  ours      `read_sheet` + `check_sheet` (merchant.payouts.sheet): bytes in, rows, problems and warnings out
  baseline  pandas.read_csv (every column as text), then each row checked as one payment and one recipient are:
            the k2 request model built from the row (pydantic, phonenumbers; nothing remembered between rows), the
            amount and the description
  again     `check_sheet` on the same file after one cell was fixed, as the page does after each edit
Both must agree on how many rows are payable; the target is ours ≤ 1 s.

Sending (`bench_send`): k2sim in a process of its own answers every call after `--latency-ms`; a real server
(`python -m merchant.webhooks`: its batch runner and outbox worker, `--concurrency` requests in flight) sends a
payroll of `--send-rows` M-Pesa salaries to different people, approved by a second person, timed to every row
accepted by K2 (the SDK's loop stops there too) and on to every row paid (K2's results back and settled):
first to people K2 has not seen (a PAY recipient made for each, then the payment), then the same payroll again
(recipients reused, as next month's). The baseline is the official SDK (k2-connect 1.2.7, bench/sdk_payouts.py)
paying one row at a time, as a loop over the file would: `--sdk-rows` rows timed both ways and scaled to
`--send-rows` (at 50 ms a call, 10,000 rows would take it 10-20 minutes). k2sim's own log must show exactly
`--send-rows` payments per batch, none twice. Target: ours ≥ 15x the SDK's rate.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pandas as pd  # noqa: E402

from merchant.config import Settings  # noqa: E402
from merchant.errors import InputError  # noqa: E402
from merchant.payouts.payments import checked_amount, checked_description  # noqa: E402
from merchant.payouts.recipients import checked_details  # noqa: E402
from merchant.access import Role, User  # noqa: E402
from merchant.payouts.batches import RowStatus, approve_batch, get_batch, submit_batch  # noqa: E402
from merchant.payouts.sheet import TEMPLATE_COLUMNS, check_sheet, read_sheet  # noqa: E402
from merchant.runtime import Runtime  # noqa: E402

__all__ = ["bench_parse", "bench_send", "main", "payout_csv", "payroll_csv"]

TARGET_SECONDS = 1.0
BRANCHES = {"Equity Moi Avenue": "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c",
            "KCB Kenyatta Avenue": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
_BREAKS = (("Phone", "0712 34"), ("Description", ""), ("Amount", "1500.50"), ("Bank branch", "Nowhere Branch"),
           ("Till number", "55A555"), ("Type", "cheque"))
_APPLIES = {("Phone", "M-Pesa"), ("Amount", "M-Pesa"), ("Bank branch", "Bank"), ("Till number", "Till")}


def payout_csv(rows: int, *, bad_every: int, seed: int = 7) -> tuple[bytes, int]:
    """A payout CSV in the template's layout, and how many of its rows are bad. Each seed pays other phones and
    accounts, so no round finds another round's recipients already checked."""
    rng = random.Random(seed)
    out = io.StringIO()
    out.write(",".join(TEMPLATE_COLUMNS) + "\r\n")
    bad = 0
    lines: list[str] = []
    for index in range(rows):
        if index % 100 == 99:  # the same payment twice (a warning, not a problem)
            lines.append(lines[rng.randrange(len(lines))])
            continue
        kind = rng.choices(("M-Pesa", "Bank", "Till", "Paybill"), weights=(5, 2, 2, 1))[0]
        who = rng.randrange(rows // 2)  # about one destination in five is paid twice
        number = (who * 7919 + seed * 104729) % 10**8
        row = dict.fromkeys(TEMPLATE_COLUMNS, "")
        row.update(Type=kind, Description=f"Payout {index}", Reference=f"R{index}")
        if kind == "M-Pesa":
            row.update(Name=f"Worker {who} Otieno", Phone=f"07{number:08d}", Amount=f"{rng.randrange(100, 90000):,}")
        elif kind == "Bank":
            row.update(Name=f"Supplier {who} Ltd", Amount=f"{rng.randrange(100, 10**7) / 100:.2f}")
            row["Bank branch"] = rng.choice(list(BRANCHES))
            row["Account number"] = f"01{number:08d}"
        elif kind == "Till":
            row.update(Name=f"Shop {who}", Amount=str(rng.randrange(50, 20000)))
            row["Till number"] = str(10**7 + number)
        else:
            row.update(Name=f"Utility {who}", Amount=str(rng.randrange(50, 20000)))
            row["Paybill number"] = str(800000 + who % 50)
            row["Account number"] = f"ACC{number}"
        if index % bad_every == bad_every - 1:
            column, value = rng.choice([b for b in _BREAKS if b[0] in ("Description", "Type")
                                        or (b[0], kind) in _APPLIES])
            row[column] = value
            bad += 1
        lines.append(",".join(f'"{row[column]}"' if "," in row[column] else row[column]
                              for column in TEMPLATE_COLUMNS))
    out.write("\r\n".join(lines) + "\r\n")
    return out.getvalue().encode(), bad


def ours(data: bytes) -> int:
    return check_sheet(read_sheet(data, "payouts.csv"), BRANCHES).count


def naive(data: bytes) -> int:
    """pandas.read_csv, then each row checked the way one payment and one recipient are, nothing shared."""
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    kinds = {"M-Pesa": "mobile_wallet", "Bank": "bank_account", "Till": "till", "Paybill": "paybill"}
    good = 0
    for row in frame.to_dict("records"):
        kind = kinds.get(row["Type"])
        try:
            if kind is None:
                raise InputError("type", "unknown type")
            checked_amount(row["Amount"], kind)
            checked_description(row["Description"])
            first, _, last = row["Name"].partition(" ")
            checked_details(kind, {
                "mobile_wallet": {"first_name": first, "last_name": last, "phone_number": row["Phone"]},
                "bank_account": {"account_name": row["Name"], "account_number": row["Account number"],
                                 "bank_branch_ref": BRANCHES.get(row["Bank branch"], row["Bank branch"]),
                                 "settlement_method": "EFT"},
                "till": {"till_name": row["Name"], "till_number": row["Till number"]},
                "paybill": {"paybill_name": row["Name"], "paybill_number": row["Paybill number"],
                            "paybill_account_number": row["Account number"]},
            }[kind])
        except InputError:
            continue
        good += 1
    return good


def _timed(run: Callable[[], int]) -> tuple[tuple[float, float], int]:
    """(wall, CPU) seconds and the result: on a shared box the CPU time is the steadier of the two."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def bench_parse(rows: int = 10_000, *, bad_every: int = 50, rounds: int = 5) -> dict[str, Any]:
    """Best-of-`rounds` seconds, each round on a new file (new recipients, so nothing is checked already):
    ours, the baseline, and ours checking the file again after one cell was fixed (as the page does)."""
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "naive": [], "recheck": []}
    payable: dict[str, int] = {}
    for round_ in range(rounds):
        data, bad = payout_csv(rows, bad_every=bad_every, seed=round_)
        seconds, payable["ours"] = _timed(lambda: ours(data))
        times["ours"].append(seconds)
        seconds, payable["naive"] = _timed(lambda: naive(data))
        times["naive"].append(seconds)
        sheet = read_sheet(data, "payouts.csv")
        records = [dict(record) for record in sheet.records]
        records[0]["Description"] = "Fixed on the page"
        edited = sheet.with_edits(records, sheet.numbers)
        seconds, payable["recheck"] = _timed(lambda: check_sheet(edited, BRANCHES).count)
        times["recheck"].append(seconds)
    return {"rows": rows, "bad": bad, "bytes": len(data), "payable": payable,
            **{name: min(wall for wall, _ in values) for name, values in times.items()},
            **{f"{name}_cpu": min(cpu for _, cpu in values) for name, values in times.items()}}


# ---------------------------------------------------------------------------------------------- sending


SDK_PYTHON = ROOT / ".sdk" / "py-v1" / "bin" / "python"
SEND_TARGET = 15.0  # ours at least this many times the SDK's one-at-a-time rate
_KEY = "bench-signing-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], expected: int | None = None) -> None:
    """Until `url` answers a POST (with `expected`, if given): the process behind it is ready."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args} ended before it answered")
        try:
            status = httpx.post(url, content=b"{}", timeout=1).status_code
            if expected is None or status == expected:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} never answered")


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def payroll_csv(rows: int) -> bytes:
    """`rows` M-Pesa salaries to different people, KES 1,000 each."""
    lines = [",".join(TEMPLATE_COLUMNS)]
    for n in range(rows):
        lines.append(f"M-Pesa,Worker {n} Wanjiru,071{n:05d}23,,,,,1000,Salary,"
                     f"NOV-{n}")
    return ("\r\n".join(lines) + "\r\n").encode()


def _payments_at_sim(base_url: str, batch_id: int) -> Counter[str]:
    log = httpx.get(f"{base_url}/sim/requests", params={"path": "/api/v1/payments"}, timeout=120).json()
    return Counter(entry["body"]["metadata"]["request_ref"] for entry in log
                   if entry["method"] == "POST" and entry["body"]["metadata"].get("batch") == str(batch_id))


_NOT_YET_WITH_K2 = (RowStatus.PREPARING, RowStatus.QUEUED, RowStatus.SENDING)


def _send_batch(runtime: Runtime, data: bytes, token: str) -> tuple[int, float, float]:
    """Submit and approve a payroll; seconds from the approval to every row accepted by K2 (what the SDK's loop
    does: each POST answered), and to every row paid (K2's result for each back and settled)."""
    def clerk(name: str) -> User:
        return User(name, name.title(), None, Role.FINANCE, False, datetime.now(UTC), None, None)

    checked = check_sheet(read_sheet(data, "payroll.csv"))
    assert not checked.problems, checked.problems[:3]
    batch = submit_batch(runtime, clerk("njeri"), checked, token=token, file_name="payroll.csv", confirmed=True)
    started = time.perf_counter()
    approve_batch(runtime, clerk("otieno"), batch.id)
    assert runtime.engine is not None
    sent = None
    while True:
        view = get_batch(runtime.engine, batch.id)
        assert view is not None
        if sent is None and not any(view.counts.get(status) for status in _NOT_YET_WITH_K2):
            sent = time.perf_counter() - started
        if view.done:
            assert view.counts == {RowStatus.PAID: view.row_count}, view.counts
            return batch.id, sent or 0.0, time.perf_counter() - started
        time.sleep(0.25)


def bench_send(rows: int, *, latency_ms: int, sdk_rows: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Ours: a real server (`python -m merchant.webhooks`, its batch runner and outbox worker) sends a payroll of
    `rows` twice against k2sim (a process of its own) with `latency_ms` on every answer: first to new people (a
    recipient made at K2 for each), then again (recipients reused). The SDK: `sdk_rows` rows one at a time, both
    ways, in its own virtualenv; its rate is what a loop over the file would do."""
    sim_port, port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim_args = [sys.executable, "-m", "k2sim", "--port", str(sim_port), "--latency-ms", str(latency_ms),
                "--client-id", "bench", "--client-secret", "bench-secret", "--api-key", _KEY,
                "--balance", "1000000000000"]
    database_url = f"sqlite:///{workdir / 'merchant.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")} | {
        "K2_BASE_URL": sim_url, "K2_CLIENT_ID": "bench", "K2_CLIENT_SECRET": "bench-secret", "K2_API_KEY": _KEY,
        "DATABASE_URL": database_url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "OUTBOX_CONCURRENCY": str(concurrency), "OUTBOX_PER_SECOND": "100000",
    }
    with _process(sim_args, env, workdir / "k2sim.log") as sim:
        _wait_for(f"{sim_url}/oauth/token", sim)
        with _process([sys.executable, "-m", "merchant.webhooks", "--port", str(port)], env,
                      workdir / "server.log") as server:
            _wait_for(f"http://127.0.0.1:{port}/api/k2/webhooks", server, 401)
            runtime = Runtime(Settings(database_url=database_url, public_base_url=f"http://127.0.0.1:{port}")).open()
            data = payroll_csv(rows)
            first_batch, first, first_paid = _send_batch(runtime, data, "bench-first")
            known_batch, known, known_paid = _send_batch(runtime, data, "bench-again")
            runtime.stop()
        sent = {name: _payments_at_sim(sim_url, batch) for name, batch in (("first", first_batch),
                                                                           ("known", known_batch))}
        sdk = json.loads(subprocess.run(
            [str(SDK_PYTHON), str(ROOT / "bench" / "sdk_payouts.py")], check=True, capture_output=True, timeout=3600,
            input=json.dumps({"base_url": sim_url, "client_id": "bench", "client_secret": "bench-secret",
                              "api_key": _KEY, "callback_url": f"http://127.0.0.1:{port}/api/k2/webhooks",
                              "phones": [f"+2547{90 + n // 1000 % 10}{n % 1000:03d}123" for n in range(sdk_rows)]}),
            text=True,
        ).stdout)
    return {"rows": rows, "latency_ms": latency_ms, "concurrency": concurrency, "sdk_rows": sdk_rows,
            "ours": {"first": first, "known": known}, "paid": {"first": first_paid, "known": known_paid},
            "sdk": {"first": sdk["first"] / sdk["rows"] * rows, "known": sdk["known"] / sdk["rows"] * rows},
            "payments_at_sim": {name: (sum(counts.values()), max(counts.values())) for name, counts in sent.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad-every", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--send-rows", type=int, default=10_000)
    parser.add_argument("--sdk-rows", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args(argv)
    result = bench_parse(args.rows, bad_every=args.bad_every, rounds=args.rounds)
    print(f"bulk payout file bench: python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"best of {args.rounds} rounds, a new file each round")
    print(f"{result['rows']:,} rows ({result['bytes'] / 1024:,.0f} KiB CSV, {result['bad']} bad rows, all 4 types)")
    print(f"{'path':<34}{'seconds':>9}{'CPU s':>8}{'rows/s':>10}{'payable':>9}")
    for name, label in (("ours", "ours: read_sheet + check_sheet"), ("naive", "baseline: pandas + per-row models"),
                        ("recheck", "ours: check again after an edit")):
        print(f"{label:<34}{result[name]:>9.3f}{result[name + '_cpu']:>8.3f}{result['rows'] / result[name]:>10,.0f}"
              f"{result['payable'][name]:>9,}")
    verdict = "met" if result["ours"] <= TARGET_SECONDS else "NOT met"
    print(f"ours {result['naive'] / result['ours']:.2f}x the baseline, "
          f"check again {result['naive'] / result['recheck']:.1f}x;"
          f" target read + check <= {TARGET_SECONDS:.1f} s: {verdict}")
    if args.parse_only:
        return 0
    if not SDK_PYTHON.exists():
        sys.exit(f"{SDK_PYTHON} is missing: run `bash tests/sdk/setup_sdks.sh` first")
    with tempfile.TemporaryDirectory() as workdir:
        sent = bench_send(args.send_rows, latency_ms=args.latency_ms, sdk_rows=args.sdk_rows,
                          concurrency=args.concurrency, workdir=Path(workdir))
    print(f"\nsending {sent['rows']:,} M-Pesa payments, k2sim answering after {sent['latency_ms']} ms; ours with "
          f"{sent['concurrency']} in flight, the SDK one at a time ({sent['sdk_rows']} rows timed, scaled)")
    print("ours s: every row accepted by K2 (as the SDK's loop, each POST answered); all paid: K2's results back too")
    print(f"{'payroll':<28}{'ours s':>9}{'SDK s':>9}{'ours/s':>9}{'SDK/s':>8}{'ratio':>8}{'all paid s':>12}"
          f"{'at k2sim (max)':>17}")
    for name, label in (("first", "to new people (+recipients)"), ("known", "again (recipients reused)")):
        ours_s, sdk_s = sent["ours"][name], sent["sdk"][name]
        count, most = sent["payments_at_sim"][name]
        print(f"{label:<28}{ours_s:>9.1f}{sdk_s:>9.1f}{sent['rows'] / ours_s:>9.0f}{sent['rows'] / sdk_s:>8.1f}"
              f"{sdk_s / ours_s:>7.1f}x{sent['paid'][name]:>12.1f}{count:>11,} ({most})")
    worst = min(sent["sdk"][name] / sent["ours"][name] for name in ("first", "known"))
    exact = all(count == sent["rows"] and most == 1 for count, most in sent["payments_at_sim"].values())
    print(f"target >= {SEND_TARGET:.0f}x the SDK with exactly {sent['rows']:,} payments at k2sim per payroll: "
          f"{'met' if worst >= SEND_TARGET and exact else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

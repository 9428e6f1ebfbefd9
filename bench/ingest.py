"""Webhook ingestion throughput with a 1,000,000-row `transactions` table, beside its baselines.

    python3 bench/ingest.py [--rows 1000000] [--duration 8] [--connections 64]

Load comes from Debian's `wrk` (C, with a Lua script cycling through pre-signed distinct bodies), since a
Python client measures itself. One run prints, for SQLite:
  noop        the standalone receiver's own no-op POST route (same server, same body sizes): the ceiling
  standalone  `python -m merchant.webhooks` (uvicorn, uvloop, httptools): verify, map, group commit, 200
  naive       the same server, a route that commits each request on its own (no group commit)
  app         the route inside the app's own server (`streamlit run app.py`)
then events/s, p50/p99 latency, and lost/duplicated counts checked against the database afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from k2.webhooks import SIGNATURE_HEADER, sign, verify_signature  # noqa: E402
from merchant.config import load_settings  # noqa: E402
from merchant.db import open_database  # noqa: E402
from merchant.inbox.mapping import event_key, map_event  # noqa: E402
from merchant.inbox.store import Delivered, record_deliveries  # noqa: E402
from merchant.inbox import WEBHOOK_PATH  # noqa: E402
from merchant.webhooks import create_app  # noqa: E402

__all__ = ["main", "server_app"]

API_KEY = "bench-api-key-0123456789abcdef"
NOOP_PATH = "/bench/noop"
NAIVE_PATH = "/bench/naive"

LUA = r"""
bodies, sigs, i, wrapped, ok, bad = {}, {}, 0, 0, 0, 0
threads = {}
local path = os.getenv("BENCH_PATH")

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if n % tonumber(os.getenv("BENCH_THREADS")) == index then
      local space = line:find(" ")
      table.insert(sigs, line:sub(1, space - 1))
      table.insert(bodies, line:sub(space + 1))
    end
    n = n + 1
  end
end

function request()
  i = i + 1
  if i > #bodies then i = 1; wrapped = wrapped + 1 end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                   ["X-KopoKopo-Signature"] = sigs[i]}, bodies[i])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local issued, acked, refused, wraps = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    issued = issued + thread:get("i") + thread:get("wrapped") * 1000000000
    acked = acked + thread:get("ok")
    refused = refused + thread:get("bad")
    wraps = wraps + thread:get("wrapped")
  end
  io.write(string.format('BENCH {"requests":%d,"seconds":%f,"acked":%d,"refused":%d,"wrapped":%d,' ..
    '"socket_errors":%d,"p50_ms":%f,"p99_ms":%f}\n',
    summary.requests, summary.duration / 1e6, acked, refused, wraps,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def server_app() -> Starlette:
    """The standalone receiver plus the two baselines on the same server: a no-op POST and commit-per-request."""
    app = create_app()
    settings = load_settings()
    state: dict[str, object] = {}

    async def noop(request: Request) -> Response:
        await request.body()
        return Response(b'{"status":"stored"}', media_type="application/json")

    async def naive(request: Request) -> Response:
        body = await request.body()
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), settings.k2_api_key):
            return Response(status_code=401)
        document = json.loads(body)
        key = event_key(document, body)
        now = datetime.now(timezone.utc)
        engine = state.get("engine") or state.setdefault("engine", open_database(settings.database_url))
        mapped = map_event(document, event_id=key.id, received_at=now)
        with engine.begin() as connection:  # type: ignore[union-attr]
            record_deliveries(connection, [Delivered(key.id, key.kind, now, body.decode(), mapped)])
        return Response(b'{"status":"stored"}', media_type="application/json")

    app.router.routes.extend([Route(NOOP_PATH, noop, methods=["POST"]), Route(NAIVE_PATH, naive, methods=["POST"])])
    return app


def _bodies(count: int) -> Iterator[bytes]:
    """Distinct buygoods deliveries (own event id, M-Pesa reference and sender), compact JSON like K2's."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for n in range(count):
        when = (start + timedelta(seconds=n)).isoformat()
        body = {
            "topic": "buygoods_transaction_received",
            "id": str(uuid.UUID(int=n + 1)),
            "created_at": when,
            "event": {
                "type": "Buygoods Transaction",
                "resource": {
                    "id": f"res-{n}",
                    "amount": f"{100 + n % 5000}.50",
                    "status": "Received",
                    "system": "Lipa Na M-PESA",
                    "currency": "KES",
                    "reference": f"BN{n:08d}",
                    "till_number": "514459",
                    "sender_phone_number": f"+2547{n % 100_000_000:08d}",
                    "origination_time": when,
                    "sender_first_name": "Wanjiru",
                    "sender_middle_name": None,
                    "sender_last_name": "Kamau",
                },
            },
            "_links": {"self": f"https://k2.test/webhook_events/{n}"},
        }
        yield json.dumps(body, separators=(",", ":")).encode()


def _prefill(path: Path, rows: int) -> None:
    """A database whose `transactions` already holds `rows` payments (written with raw sqlite3, for speed)."""
    open_database(f"sqlite:///{path}").dispose()
    connection = sqlite3.connect(path)
    start = datetime(2024, 1, 1)
    with connection:
        connection.executemany(
            "INSERT INTO transactions (reference, kind, till_number, amount_cents, currency, status, occurred_at,"
            " sender_phone, event_id, recorded_at) VALUES (?, 'buygoods', '514459', ?, 'KES', 'received', ?, ?, ?, ?)",
            (
                (f"PF{n:08d}", 10_000 + n % 900_000, str(start + timedelta(seconds=n * 30)), f"+2541{n % 10**8:08d}",
                 f"prefill-{n}", str(start + timedelta(seconds=n * 30)))
                for n in range(rows)
            ),
        )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


@dataclass
class Result:
    """One load run and what the database holds after it."""

    name: str
    requests: int
    seconds: float
    acked: int
    refused: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    stored: int | None = None
    duplicated: int | None = None

    @property
    def rate(self) -> float:
        return self.acked / self.seconds

    @property
    def lost(self) -> int | None:
        return None if self.stored is None else max(0, self.acked - self.stored)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError as err:
            if getattr(err, "code", None):  # an HTTP error means the server answers
                return
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wrk(name: str, url: str, path: str, bodies: Path, *, threads: int, connections: int, duration: int,
         work: Path) -> Result:
    script = work / "post.lua"
    script.write_text(LUA)
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_THREADS": str(threads), "BENCH_PATH": path}
    run = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-s", str(script), url],
        env=env, capture_output=True, text=True,
    )
    if run.returncode:
        raise RuntimeError(f"wrk failed: {run.stderr or run.stdout}")
    out = run.stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    if figures.pop("wrapped") and name != "noop":  # the no-op route stores nothing, repeats cost it nothing
        raise RuntimeError("wrk ran out of distinct bodies; generate more (--bodies)")
    return Result(name=name, **figures)


def _audit(result: Result, database: Path, prefilled: int) -> None:
    """Count what the run stored: events, and payments beyond the prefill, each once."""
    connection = sqlite3.connect(database)
    events = connection.execute("SELECT count(*), count(DISTINCT id) FROM webhook_events").fetchone()
    payments = connection.execute("SELECT count(*), count(DISTINCT reference) FROM transactions").fetchone()
    connection.close()
    result.stored = min(events[1], payments[1] - prefilled)
    mismatch = abs(events[1] - (payments[1] - prefilled))  # an event without its payment, or the reverse
    result.duplicated = (events[0] - events[1]) + (payments[0] - payments[1]) + mismatch


def _server(command: list[str], database: Path, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("K2_") and key != "DATABASE_URL"
    } | {"DATABASE_URL": f"sqlite:///{database}", "K2_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)} | extra_env
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> None:
    """Run the four scenarios and print one line each, then the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions already stored")
    parser.add_argument("--duration", type=int, default=8, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--bodies", type=int, default=120_000, help="distinct pre-signed deliveries")
    options = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        base = work / "base.db"
        _prefill(base, options.rows)
        bodies = work / "bodies.txt"
        with bodies.open("wb") as handle:
            for body in _bodies(options.bodies):
                handle.write(sign(body, API_KEY).encode() + b" " + body + b"\n")
        print(f"prepared {options.rows:,} stored transactions and {options.bodies:,} signed bodies "
              f"in {time.perf_counter() - started:.1f}s; wrk -t{options.threads} -c{options.connections} "
              f"-d{options.duration}s, {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}")

        def load(name: str, port: int, path: str) -> Result:
            return _wrk(name, f"http://127.0.0.1:{port}{path}", path, bodies, threads=options.threads,
                        connections=options.connections, duration=options.duration, work=work)

        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "bench.ingest:server_app", "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning"]
        results: list[Result] = []
        for name, path in (("standalone", WEBHOOK_PATH), ("naive", NAIVE_PATH)):
            database = work / f"{name}.db"
            shutil.copy(base, database)
            port = _free_port()
            server = _server([*uvicorn, "--port", str(port)], database, port, {})
            try:
                _wait_healthy(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", server)
                if name == "standalone":
                    results.append(load("noop", port, NOOP_PATH))
                results.append(load(name, port, path))
            finally:
                _stop(server)
            _audit(results[-1], database, options.rows)

        database = work / "app.db"
        shutil.copy(base, database)
        port = _free_port()
        app_env = {"K2_CLIENT_ID": "bench", "K2_CLIENT_SECRET": "bench", "K2_BASE_URL": "http://127.0.0.1:9"}
        server = _server([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                          "--server.headless", "true", "--logger.level", "warning"], database, port, app_env)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
            results.append(load("app", port, WEBHOOK_PATH))
        finally:
            _stop(server)
        _audit(results[-1], database, options.rows)

        print(f"{'scenario':<11} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'acked':>7} {'non-200':>7} "
              f"{'stored':>7} {'lost':>5} {'dup':>4}")
        for r in results:
            stored = "-" if r.stored is None else f"{r.stored}"
            lost = "-" if r.lost is None else f"{r.lost}"
            dup = "-" if r.duplicated is None else f"{r.duplicated}"
            print(f"{r.name:<11} {r.rate:>9,.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.acked:>7} "
                  f"{r.refused + r.socket_errors:>7} {stored:>7} {lost:>5} {dup:>4}")
        by = {r.name: r for r in results}
        share = by["standalone"].rate / by["noop"].rate
        print(f"standalone = {share:.0%} of its no-op route; {by['standalone'].rate / by['naive'].rate:.2f}x "
              f"commit-per-request")
        checks = {
            "standalone >= 5,000 events/s": by["standalone"].rate >= 5_000,
            "standalone >= 65% of no-op": share >= 0.65,
            "standalone p99 <= 50 ms": by["standalone"].p99_ms <= 50,
            "app route >= 2,000 events/s": by["app"].rate >= 2_000,
            "0 lost, 0 duplicated": all(r.lost == 0 and r.duplicated == 0 for r in results if r.stored is not None),
        }
        for label, passed in checks.items():
            print(f"  [{'x' if passed else ' '}] {label}")


if __name__ == "__main__":
    main()

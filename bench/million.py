"""A million money-in payments over two years, written straight into `transactions`, for SQLite and PostgreSQL.

    python3 bench/million.py [--rows 1000000] [--database sqlite|postgresql|both] [--fresh]

The shape is a chain of Nairobi shops: six tills, business hours (lunch and after-work peaks, quiet nights),
busier Fridays and Saturdays, paydays and December, two years of growth. Mostly till payments (buygoods), some
business-to-business (b2b, from another till) and merchant-to-merchant (m2m, another K2 merchant, no M-Pesa
reference); about 50,000 people pay, a few regulars very often and a long tail once or twice, the crowd drifting
over time so that new payers keep coming. About 0.5% are reversed. `customers` and `transaction_reversals` are
filled as ingestion fills them; `webhook_events` only for the newest payments (the detail view's raw webhook).

SQLite: one file under /tmp/k2-million, kept between runs and keyed by `VERSION`, the row count, the day the data
ends and the migrations' text (a changed rollup migration means a new file); the rows go in before the rollup
migration, which then counts them (see `BEFORE_ROLLUPS`). PostgreSQL: a fresh database `k2_million` on the server
of TEST_POSTGRES_URL (bench/analytics.py makes its own and drops it after), migrated, filled with COPY through its triggers, then VACUUM ANALYZE (what autovacuum does
after a bulk load).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from merchant.db import make_engine, migrate, open_database  # noqa: E402
from merchant.inbox.mapping import OUTCOME_MAPPED  # noqa: E402

__all__ = [
    "CACHE",
    "VERSION",
    "Generated",
    "Shape",
    "drop_postgresql_database",
    "postgresql_database",
    "sqlite_database",
    "write_sqlite",
]

VERSION = "1"  # bump when the generated data changes shape; cached files of other versions are not reused
CACHE = Path("/tmp/k2-million")
STALE_AFTER_S = 3600
SPAN_DAYS = 730
CHUNK = 50_000
NAIROBI_HOURS = 3  # Nairobi keeps UTC+3 all year (no daylight saving), so local hours shift by a constant
TILLS = {"514459": 0.34, "514460": 0.22, "514461": 0.16, "577210": 0.13, "577211": 0.09, "602318": 0.06}
KIND_SHARES = {"buygoods": 0.93, "b2b": 0.045, "m2m": 0.025}
# whole shillings, log-normal: (median KES, spread)
AMOUNTS = {"buygoods": (320, 1.0), "b2b": (5_500, 0.9), "m2m": (2_600, 1.1)}
REVERSED_SHARE = 0.005
PAYERS = 50_000
REGULARS, REGULAR_SHARE = 3_000, 0.3  # a few thousand people pay often (Zipf), the rest drift in and out
CROWD_WINDOW = 16_000  # how many of the others are around at any one time
# SQLite rolls money in up by a trigger per row (~6x the cost of the insert itself), so the rows go in at the last
# revision before the rollups and the rollup migration's own fill counts them, as it does when a database is upgraded.
# PostgreSQL's triggers run once per statement: its COPY goes through them, as a bulk import would.
BEFORE_ROLLUPS = "0005"
RAW_WEBHOOKS = 2_000  # newest payments that keep their raw webhook body
# share of a day's payments per Nairobi hour, 00..23
HOURS = (0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.6, 3.8, 5.8, 6.8, 7.0, 7.4, 8.8, 8.6, 6.9, 6.4, 6.9, 8.2, 8.8, 6.9,
         4.4, 2.5, 1.2, 0.5)
WEEKDAYS = (0.92, 0.9, 0.95, 1.0, 1.15, 1.25, 0.8)  # Monday..Sunday
FIRST_NAMES = ("Wanjiru", "Kamau", "Achieng", "Otieno", "Njeri", "Mwangi", "Akinyi", "Kiprono", "Chebet", "Mutua",
               "Wambui", "Ochieng", "Nyambura", "Kipchoge", "Atieno", "Njoroge", "Jepchirchir", "Omondi", "Wairimu",
               "Kibet", "Auma", "Muthoni", "Barasa", "Nekesa", "Kilonzo", "Zawadi", "Hassan", "Amina", "Baraka",
               "Faith", "Brian", "Mercy", "Kevin", "Grace", "Dennis", "Cynthia", "Collins", "Purity", "Victor", "Ivy")
LAST_NAMES = ("Kamau", "Odhiambo", "Wanjiku", "Otieno", "Kiptoo", "Mwangi", "Ouma", "Njoroge", "Mutua", "Chege",
              "Wafula", "Owino", "Kariuki", "Rotich", "Achieng", "Kimani", "Muriuki", "Onyango", "Macharia", "Juma",
              "Korir", "Ndungu", "Okoth", "Gitau", "Wekesa", "Maina", "Omondi", "Cheruiyot", "Kiprotich", "Mohamed")
BUSINESSES = ("Naivas", "Quickmart", "Jamii Hardware", "Mama Mboga Traders", "Tuskys Wholesale", "Kilimall",
              "Bidco Distributors", "Ndovu Supplies", "Rafiki Pharmacy", "Mugo Electricals", "Twiga Foods",
              "Sokoni Fresh", "Baraka Bakers", "Kenchic Outlet", "Uchumi Express", "Zucchini Grocers")

_COLUMNS = ("reference", "kind", "till_number", "amount_cents", "currency", "status", "occurred_at", "sender_phone",
            "sender_first_name", "sender_middle_name", "sender_last_name", "sender_till", "sender_merchant",
            "resource_id", "reversed_at", "event_id", "recorded_at")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Shape:
    """What to generate: `rows` payments in the `SPAN_DAYS` before `until` (aware), reproducible from `seed`."""

    rows: int = 1_000_000
    until: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    seed: int = 11

    @property
    def since(self) -> datetime:
        return self.until - timedelta(days=SPAN_DAYS)


@dataclass(frozen=True)
class Generated:
    """A filled database: its URL, the shape it holds, and what it took (None: reused from the cache)."""

    url: str
    shape: Shape
    seconds: float | None


def sqlite_database(shape: Shape, *, fresh: bool = False) -> Generated:
    """The cached SQLite file for `shape` (made if missing or `fresh`); stale files of other keys are removed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"million-{_cache_key(shape)}.db"
    if path.exists() and not fresh:
        meta = json.loads(path.with_suffix(".json").read_text())
        return Generated(f"sqlite:///{path}", Shape(shape.rows, datetime.fromisoformat(meta["until"]), shape.seed),
                         None)
    # Files of other keys go once nobody has written them for an hour: another run (the checkout is shared, and
    # migrations change under it) may still be reading one, or building its own.
    for stale in CACHE.glob("million-*"):
        with contextlib.suppress(FileNotFoundError):  # another run removed it first
            if time.time() - stale.stat().st_mtime > STALE_AFTER_S:
                stale.unlink()
    building = path.with_suffix(f".{os.getpid()}.building")
    seconds = write_sqlite(building, shape)
    path.with_suffix(".json").write_text(json.dumps({"until": shape.until.isoformat(), "seconds": seconds}))
    building.rename(path)
    return Generated(f"sqlite:///{path}", shape, seconds)


def write_sqlite(path: Path, shape: Shape) -> float:
    """A new SQLite database at `path` holding `shape`; returns the seconds it took (migrations included)."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, BEFORE_ROLLUPS)
    connection = sqlite3.connect(path, isolation_level=None)
    # a benchmark file, rebuilt at will: no fsync per chunk; the app's own engine runs synchronous=FULL
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    for table, columns, rows in _tables(shape, timestamp=_sqlite_time):
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        for chunk in rows:
            connection.execute("BEGIN")
            connection.executemany(insert, chunk)
            connection.execute("COMMIT")
    connection.close()
    migrate(engine)
    engine.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return time.perf_counter() - started


def postgresql_database(server_url: str, shape: Shape, *, name: str = "k2_million") -> Generated:
    """A fresh database `name` on the server of `server_url`, migrated and filled with `shape` by COPY."""
    import psycopg

    url = make_url(server_url)
    _administer(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    target = url.set(database=name, query={})
    started = time.perf_counter()
    open_database(target.render_as_string(hide_password=False)).dispose()
    libpq = target.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as connection:
        for table, columns, rows in _tables(shape, timestamp=_postgresql_time):
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for chunk in rows:
                    for row in chunk:
                        copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
    return Generated(target.render_as_string(hide_password=False), shape, time.perf_counter() - started)


def drop_postgresql_database(url: str) -> None:
    """Drop the database `postgresql_database` made at `url`."""
    _administer(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _administer(server_url: str, *statements: str) -> None:
    """Run `statements` outside a transaction, connected to the server's own `postgres` database."""
    admin = sa.create_engine(make_url(server_url).set(database="postgres", query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    admin.dispose()


def _cache_key(shape: Shape) -> str:
    migrations = sorted((ROOT / "merchant" / "db" / "migrations" / "versions").glob("*.py"))
    digest = hashlib.sha256(VERSION.encode())
    for path in migrations:
        digest.update(path.read_bytes())
    day = (shape.until + timedelta(hours=NAIROBI_HOURS)).date()
    return f"v{VERSION}-{shape.rows}-{day:%Y%m%d}-{digest.hexdigest()[:10]}"


def _sqlite_time(seconds: np.ndarray) -> list[str]:
    """UTC text as the app's engine stores it in SQLite (`YYYY-MM-DD HH:MM:SS.ffffff`)."""
    return [f"{text}.000000" for text in _iso(seconds)]


def _postgresql_time(seconds: np.ndarray) -> list[str]:
    return [f"{text}+00" for text in _iso(seconds)]


def _iso(seconds: np.ndarray) -> list[str]:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [value.replace("T", " ") for value in text.tolist()]


def _tables(shape: Shape, *, timestamp: Any) -> Iterator[tuple[str, Sequence[str], Iterator[list[tuple[Any, ...]]]]]:
    """(table, columns, chunks of rows) for transactions, then transaction_reversals, customers, webhook_events."""
    plan = _Plan.make(shape)
    yield "transactions", _COLUMNS, plan.transactions(timestamp)
    yield "transaction_reversals", ("reference", "status", "reversed_at", "event_id"), iter([plan.reversals(timestamp)])
    yield ("customers", ("phone_number", "first_name", "middle_name", "last_name", "first_seen_at", "event_id"),
           iter([plan.customers(timestamp)]))
    yield ("webhook_events", ("id", "kind", "received_at", "payload", "outcome", "error"),
           iter([plan.webhook_events(timestamp)]))


@dataclass
class _Plan:
    """Every payment as numpy columns (cheap), turned into rows of text a chunk at a time."""

    shape: Shape
    seconds: np.ndarray  # UTC epoch seconds, ascending
    kind: np.ndarray  # index into KIND_SHARES
    till: np.ndarray
    payer: np.ndarray  # buygoods: a person; b2b: a paying till; m2m: a paying merchant
    cents: np.ndarray
    reversed_after: np.ndarray  # seconds after the payment it was reversed; -1: kept

    @classmethod
    def make(cls, shape: Shape) -> _Plan:
        rng = np.random.default_rng(shape.seed)
        seconds = _moments(shape, rng)
        rows = shape.rows
        kind = rng.choice(len(KIND_SHARES), size=rows, p=list(KIND_SHARES.values()))
        till = rng.choice(len(TILLS), size=rows, p=list(TILLS.values()))
        cents = np.empty(rows, dtype=np.int64)
        for index, (median, spread) in enumerate(AMOUNTS.values()):
            mask = kind == index
            shillings = np.rint(rng.lognormal(np.log(median), spread, int(mask.sum())))
            cents[mask] = np.clip(shillings, 10, 250_000).astype(np.int64) * 100
        reversed_after = np.where(rng.random(rows) < REVERSED_SHARE,
                                  rng.integers(120, 3 * 86_400, size=rows), -1)
        return cls(shape, seconds, kind, till, _payers(rows, kind, rng), cents, reversed_after)

    def transactions(self, timestamp: Any) -> Iterator[list[tuple[Any, ...]]]:
        kinds = list(KIND_SHARES)
        tills = list(TILLS)
        phones = _phones()
        for start in range(0, self.shape.rows, CHUNK):
            stop = min(start + CHUNK, self.shape.rows)
            part = slice(start, stop)
            occurred = timestamp(self.seconds[part])
            recorded = timestamp(self.seconds[part] + 1 + (np.arange(start, stop) % 19))
            undone = self.reversed_after[part]
            reversed_text = timestamp(self.seconds[part] + np.maximum(undone, 0))
            rows = []
            for offset, n in enumerate(range(start, stop)):
                kind = kinds[self.kind[n]]
                payer = int(self.payer[n])
                person = kind == "buygoods"
                first, middle, last = _name(payer) if person else (None, None, None)
                rows.append((
                    self._reference(n),
                    kind, tills[self.till[n]], int(self.cents[n]), "KES",
                    "reversed" if undone[offset] >= 0 else "received", occurred[offset],
                    phones[payer] if person else None, first, middle, last,
                    f"{700_000 + payer * 37 % 300_000}" if kind == "b2b" else None,
                    _business(payer) if kind == "m2m" else None,
                    _uuid(n, 1), reversed_text[offset] if undone[offset] >= 0 else None, _uuid(n, 2),
                    recorded[offset],
                ))
            yield rows

    def reversals(self, timestamp: Any) -> list[tuple[Any, ...]]:
        undone = np.flatnonzero(self.reversed_after >= 0)
        when = timestamp(self.seconds[undone] + self.reversed_after[undone])
        return [(self._reference(int(n)), "reversed", when[i], _uuid(int(n), 3)) for i, n in enumerate(undone)]

    def customers(self, timestamp: Any) -> list[tuple[Any, ...]]:
        people = np.flatnonzero(self.kind == 0)
        payers, first = np.unique(self.payer[people], return_index=True)
        firsts = people[first]
        seen = timestamp(self.seconds[firsts] + 1 + firsts % 19)
        phones = _phones()
        return [(phones[int(payer)], *_name(int(payer)), seen[i], _uuid(int(firsts[i]), 2))
                for i, payer in enumerate(payers)]

    def webhook_events(self, timestamp: Any) -> list[tuple[Any, ...]]:
        """The raw body K2 posts for each of the newest payments, as the receiver keeps it (buygoods only)."""
        newest = [n for n in range(max(0, self.shape.rows - RAW_WEBHOOKS), self.shape.rows) if self.kind[n] == 0]
        received = timestamp(self.seconds[newest] + 1 + np.array(newest) % 19)
        local = _iso(self.seconds[newest] + NAIROBI_HOURS * 3600)
        phones = _phones()
        rows = []
        for i, n in enumerate(newest):
            first, middle, last = _name(int(self.payer[n]))
            body = {
                "topic": "buygoods_transaction_received",
                "id": _uuid(n, 2),
                "created_at": f"{local[i].replace(' ', 'T')}+03:00",
                "event": {
                    "type": "Buygoods Transaction",
                    "resource": {
                        "id": _uuid(n, 1), "amount": f"{self.cents[n] / 100:.1f}", "status": "Received",
                        "system": "Lipa Na M-PESA", "currency": "KES", "reference": self._reference(n),
                        "till_number": list(TILLS)[self.till[n]], "sender_phone_number": phones[int(self.payer[n])],
                        "origination_time": f"{local[i].replace(' ', 'T')}+03:00", "sender_first_name": first,
                        "sender_middle_name": middle, "sender_last_name": last,
                    },
                },
                "_links": {"self": f"https://k2.test/webhook_events/{_uuid(n, 2)}"},
            }
            rows.append((_uuid(n, 2), "buygoods_transaction_received", received[i],
                         json.dumps(body, separators=(",", ":")), OUTCOME_MAPPED, None))
        return rows

    def _reference(self, n: int) -> str:
        return _uuid(n, 1) if self.kind[n] == 2 else _reference(n, int(self.seconds[n]))


def _moments(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """UTC epoch seconds of every payment, ascending: hourly buckets weighted by Nairobi's hour of day, weekday,
    paydays (28th to 3rd), December and January, and growth from 0.75 to 1.25 over the two years."""
    until = int(shape.until.timestamp())
    since = until - SPAN_DAYS * 86_400
    hours = np.arange(since // 3600, (until - 1) // 3600 + 1)
    local_days = ((hours + NAIROBI_HOURS) // 24).astype("datetime64[D]")
    months = local_days.astype("datetime64[M]")
    day_of_month = (local_days - months).astype(np.int64) + 1
    month = months.astype(np.int64) % 12 + 1
    weekday = (local_days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    start = np.maximum(hours * 3600, since)
    end = np.minimum((hours + 1) * 3600, until)
    weight = (
        np.asarray(HOURS)[(hours + NAIROBI_HOURS) % 24]
        * np.asarray(WEEKDAYS)[weekday]
        * (0.75 + 0.5 * (hours - hours[0]) / len(hours))
        * np.where((day_of_month >= 28) | (day_of_month <= 3), 1.2, 1.0)
        * np.select([month == 12, month == 1], [1.25, 0.85], 1.0)
        * (end - start) / 3600  # the hours cut at either end of the span hold their share only
    )
    counts = rng.multinomial(shape.rows, weight / weight.sum())
    offsets = rng.random(shape.rows) * np.repeat(end - start, counts)
    return np.sort(np.repeat(start, counts) + offsets.astype(np.int64))


def _payers(rows: int, kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Who paid each payment (rows are in time order): regulars by a Zipf law, the crowd from a window of
    `CROWD_WINDOW` people that drifts across the rest over the two years (new payers keep coming, old ones
    stop); businesses from a few hundred, some much more often than others."""
    position = np.arange(rows) / rows
    payer = np.empty(rows, dtype=np.int64)
    regular = rng.random(rows) < REGULAR_SHARE
    often = 1 / np.arange(1, REGULARS + 1) ** 0.7
    payer[regular] = rng.choice(REGULARS, size=int(regular.sum()), p=often / often.sum())
    crowd = ~regular
    drift = position[crowd] * (PAYERS - REGULARS - CROWD_WINDOW)
    payer[crowd] = REGULARS + (drift + CROWD_WINDOW * rng.random(int(crowd.sum())) ** 1.6).astype(np.int64)
    businesses = kind != 0
    often = 1 / np.arange(1, 301)
    payer[businesses] = rng.choice(300, size=int(businesses.sum()), p=often / often.sum())
    return payer


@cache
def _phones() -> tuple[str, ...]:
    """A distinct E.164 mobile number per payer: mostly 07xx, every seventh a newer 011x."""
    return tuple(
        f"+254110{payer:06d}" if payer % 7 == 0 else f"+2547{payer * 7_919 % 10**8:08d}" for payer in range(PAYERS)
    )


def _name(payer: int) -> tuple[str, str | None, str]:
    middle = FIRST_NAMES[payer // 1_200 % len(FIRST_NAMES)] if payer % 3 == 0 else None
    return FIRST_NAMES[payer % len(FIRST_NAMES)], middle, LAST_NAMES[payer // len(FIRST_NAMES) % len(LAST_NAMES)]


def _business(payer: int) -> str:
    branch = payer // len(BUSINESSES)
    name = BUSINESSES[payer % len(BUSINESSES)]
    return f"{name} {branch + 1}" if branch else name


def _reference(n: int, seconds: int) -> str:
    """An M-Pesa-like receipt: year and month letters, the day, then seven characters distinct per payment."""
    local = datetime.fromtimestamp(seconds + NAIROBI_HOURS * 3600, UTC)
    serial = (n + 1) * 2_654_435_761 % 36**7  # a prime multiplier: distinct for every n below 36**7 - 1
    tail = "".join(_BASE36[serial // 36**place % 36] for place in range(7))
    return f"{chr(65 + (local.year - 2006) % 26)}{chr(64 + local.month)}{_BASE36[local.day]}{tail}"


def _uuid(n: int, part: int) -> str:
    """A random-looking UUID, distinct per (payment, part), without the cost of `uuid.UUID`."""
    text = f"{(n << 2 | part) * 0x9E3779B97F4A7C15F39CC0605CEDC835 % (1 << 128):032x}"
    variant = "89ab"[int(text[16], 16) & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached SQLite file")
    args = parser.parse_args()
    shape = Shape(args.rows)
    if args.database in ("sqlite", "both"):
        _report("SQLite", sqlite_database(shape, fresh=args.fresh))
    if args.database in ("postgresql", "both"):
        server = os.environ.get("TEST_POSTGRES_URL")
        if not server:
            raise SystemExit("TEST_POSTGRES_URL is not set: run `source .ci/postgres.sh` first")
        _report("PostgreSQL", postgresql_database(server, shape))


def _report(name: str, made: Generated) -> None:
    took = "reused from the cache" if made.seconds is None else f"generated in {made.seconds:.1f}s"
    print(f"{name}: {made.shape.rows:,} payments {made.shape.since:%Y-%m-%d} .. {made.shape.until:%Y-%m-%d %H:%M} UTC,"
          f" {took}: {made.url}")


if __name__ == "__main__":
    main()

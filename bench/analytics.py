"""Money in at a million payments, on SQLite and PostgreSQL, each figure beside the naive way in the same run.

    python3 bench/analytics.py [--rows 1000000] [--database sqlite|postgresql|both] [--no-server]

The data comes from `bench/million.py` (SQLite cached under /tmp, PostgreSQL a fresh database on the server of
TEST_POSTGRES_URL). The naive way is what the issue measured against: every row the answer needs read into pandas
and grouped there (`pd.read_sql`, then `groupby`), on each request.

- Overview: everything the Overview page draws for a 90-day window and for the whole two years. Warm is the
  median of five calls in this process after one call to warm up. Cold is one call in a new process with a new
  engine after the database's files were dropped from the OS page cache (`posix_fadvise(DONTNEED)` per file:
  SQLite's file; PostgreSQL's files of that database, after a CHECKPOINT). PostgreSQL's own shared_buffers
  (128 MB, a server other people's tests use) cannot be emptied without a restart, so its cold figure is an
  emptied OS cache only.
- Transactions: one page (50 rows, newest first, with the filter's totals) with each filter or search alone,
  over the last 90 days and over the two years. Naive: the range read into pandas, then filtered, sorted, sliced.
- Export: all two years as CSV, streamed and consumed chunk by chunk, in a new process; memory growth is the
  process's peak RSS (VmHWM, reset through /proc/self/clear_refs) above its RSS before the export. Naive:
  `pd.read_sql` of everything, then `DataFrame.to_csv`.
- Server: the app (`streamlit run app.py`, as tests/servers.py starts it) on a copy of the SQLite database, and
  a Chromium session that signs in and opens every page the owner has, with several ranges on the Overview and
  Transactions; the server process's RSS after that against its RSS once the Overview first showed. Naive:
  the RSS growth of reading every row into pandas.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect  # noqa: E402

from bench.million import (  # noqa: E402
    Generated,
    Shape,
    drop_postgresql_database,
    postgresql_database,
    sqlite_database,
)
from k2sim import SimConfig, start_in_thread  # noqa: E402
from merchant.access import CONSOLE, Role, User, add_user  # noqa: E402
from merchant.db import make_engine, open_database  # noqa: E402
from merchant.db.tables import Transaction  # noqa: E402
from merchant.money_in.filters import BUSINESS_TIMEZONE, MoneyInFilter, conditions  # noqa: E402
from merchant.money_in.overview import kpis, latest_change, overview, paid_tills  # noqa: E402
from merchant.money_in.transactions import PAGE_SIZE, export, transactions  # noqa: E402
from tests.servers import chromium, free_port, k2sim_env, open_from_menu, running_app  # noqa: E402
from tests.ui.test_money_in_scale_browser import OVERVIEW_CHARTS, sign_in_to_overview, until_drawn  # noqa: E402

__all__ = ["main"]

MB = 1024 * 1024
WARM_RUNS = 5
OWNER, PASSWORD = "amina", "Duka la Amina 2026"
_T = Transaction.__table__  # type: ignore[attr-defined]
_EXPORTER = User(OWNER, "Amina", None, Role.OWNER, False, datetime.now(UTC), None, None)


@dataclass(frozen=True)
class Figure:
    """One line of the table: our figure beside the naive one, against the issue's target."""

    measure: str
    database: str
    target: float
    ours: float
    naive: float | None
    unit: str  # "s" (shown in ms) or "MB"

    @property
    def passed(self) -> bool:
        return self.ours <= self.target

    def cells(self) -> tuple[str, ...]:
        return (self.measure, self.database, f"<= {self._shown(self.target)}", self._shown(self.ours),
                "-" if self.naive is None else self._shown(self.naive), "yes" if self.passed else "NO")

    def _shown(self, value: float) -> str:
        return f"{value * 1000:,.0f} ms" if self.unit == "s" else f"{value:,.0f} MB"


def ours_overview(engine: sa.Engine, filter: MoneyInFilter, now: datetime) -> object:  # noqa: A002
    """What the Overview page reads to draw itself: the change counter, the tills, the tiles and the range."""
    return latest_change(engine), paid_tills(engine), kpis(engine, now), overview(engine, filter)


# --- the naive way: every row the answer needs, read into pandas and grouped there -----------------------------

_SUMMED = ("occurred_at", "kind", "status", "amount_cents", "till_number", "sender_phone", "sender_merchant",
           "sender_till")
_LISTED = ("id", "reference", "sender_first_name", "sender_middle_name", "sender_last_name", *_SUMMED)


def naive_frame(engine: sa.Engine, start: datetime | None, end: datetime, columns: tuple[str, ...] = _LISTED
                ) -> pd.DataFrame:
    """Every payment before `end` (from `start`, if given) with `columns`, Nairobi time and the payer added."""
    query = sa.select(*(_T.c[name] for name in columns)).where(
        _T.c.occurred_at < end, *([_T.c.occurred_at >= start] if start else []))
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["local"] = frame["occurred_at"].dt.tz_convert(BUSINESS_TIMEZONE)
    frame["payer"] = frame["sender_phone"].fillna(frame["sender_merchant"]).fillna(frame["sender_till"])
    return frame


def naive_overview(engine: sa.Engine, filter: MoneyInFilter, now: datetime) -> dict[str, Any]:  # noqa: A002
    """The Overview's figures the naive way: all history up to the range's end (new payers need it), grouped."""
    frame = naive_frame(engine, None, max(filter.end, now), _SUMMED)
    kept = frame[frame["status"] == "received"]
    tiles = {}
    today = now.astimezone(BUSINESS_TIMEZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    for name, start, before in (("today", today, today - timedelta(days=1)), ("week", week, week - timedelta(days=7)),
                                ("month", month, (month - timedelta(days=1)).replace(day=1))):
        for period, (first, last) in (("now", (start, now)), ("before", (before, before + (now - start)))):
            rows = frame[(frame["occurred_at"] >= first) & (frame["occurred_at"] < last)]
            stayed = rows[rows["status"] == "received"]
            taken_back = rows.loc[rows["status"] != "received", "amount_cents"].sum()
            tiles[name, period] = (stayed["amount_cents"].sum(), len(stayed), stayed["amount_cents"].mean(),
                                   stayed["payer"].nunique(), taken_back)
    chosen = kept[(kept["occurred_at"] >= filter.start) & (kept["occurred_at"] < filter.end)]
    first_paid = kept.groupby("payer")["occurred_at"].min()
    payers = chosen.groupby("payer")["amount_cents"].agg(["sum", "count"])
    return {
        "tiles": tiles,
        "daily": chosen.groupby(chosen["local"].dt.date)["amount_cents"].sum(),
        "heatmap": chosen.groupby([chosen["local"].dt.weekday, chosen["local"].dt.hour])["amount_cents"].sum(),
        "tills": chosen.groupby("till_number")["amount_cents"].sum(),
        "kinds": chosen.groupby("kind")["amount_cents"].sum(),
        "top": payers.nlargest(10, "sum"),
        "new": int((first_paid.loc[payers.index] >= filter.start).sum()),
    }


def naive_page(frame: pd.DataFrame, filter: MoneyInFilter) -> pd.DataFrame:  # noqa: A002
    """One page of an already read range, filtered, sorted and sliced in pandas."""
    mask = pd.Series(True, index=frame.index)
    for column, wanted in (("kind", filter.kinds), ("status", filter.statuses), ("till_number", filter.tills)):
        if wanted:
            mask &= frame[column].isin(wanted)
    for word in filter.search.split():
        found = pd.Series(False, index=frame.index)
        for column in ("reference", "sender_first_name", "sender_middle_name", "sender_last_name",
                       "sender_merchant", "sender_till", "sender_phone"):
            found |= frame[column].str.contains(word, case=False, regex=False, na=False)
        if word.isdigit() and word.startswith("0"):  # 0712… is +254712…, as the shared filter reads it
            found |= frame["sender_phone"].str.startswith(f"+254{word[1:]}", na=False)
        mask &= found
    chosen = frame[mask]
    page = chosen.sort_values(["occurred_at", "id"], ascending=False).head(PAGE_SIZE)
    page.attrs["totals"] = (len(chosen), chosen.loc[chosen["status"] == "received", "amount_cents"].sum())
    return page


# --- timing --------------------------------------------------------------------------------------------------

def seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def warm(call: Callable[[], object], runs: int = WARM_RUNS) -> float:
    """The median of `runs` calls after one that warms caches up."""
    call()
    return statistics.median(seconds(call) for _ in range(runs))


def drop_os_cache(url: str) -> None:
    """Evict the database's files from the OS page cache (each file flushed first, so its pages are clean)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        files = [Path(f"{parsed.database}{suffix}") for suffix in ("", "-wal")]
    else:
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text("CHECKPOINT"))
            directory = connection.execute(sa.text("SHOW data_directory")).scalar_one()
            oid = connection.execute(sa.text("SELECT oid FROM pg_database WHERE datname = :name"),
                                     {"name": parsed.database}).scalar_one()
        admin.dispose()
        files = list((Path(directory) / "base" / str(oid)).iterdir())
    for path in files:
        if path.is_file():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def _rss_kb(field: str = "VmRSS", pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


# --- measurements that need a process of their own --------------------------------------------------------------

def _child(task: str, url: str, start: str, end: str, now: str) -> dict[str, float]:
    """Run in a new process: a cold Overview (ours or naive), or an export (ours or naive) with its peak memory."""
    filter = MoneyInFilter(datetime.fromisoformat(start), datetime.fromisoformat(end))  # noqa: A001
    moment = datetime.fromisoformat(now)
    if task.startswith("cold"):
        drop_os_cache(url)
        started = time.perf_counter()
        engine = make_engine(url)
        if task == "cold":
            ours_overview(engine, filter, moment)
        else:
            naive_overview(engine, filter, moment)
        return {"seconds": time.perf_counter() - started}
    engine = make_engine(url)
    with engine.connect() as connection:  # the connection itself is not the export's memory
        connection.execute(sa.select(1))
    before = _rss_kb()
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    started = time.perf_counter()
    if task == "export":
        size = sum(len(chunk) for chunk in export(engine, _EXPORTER, filter, format="csv"))
    else:
        with tempfile.TemporaryFile("w") as sink:
            naive_frame(engine, filter.start, filter.end).to_csv(sink)
            size = sink.tell()
    return {"seconds": time.perf_counter() - started, "growth_mb": (_rss_kb("VmHWM") - before) / 1024,
            "bytes": size}


def in_child(task: str, made: Generated, filter: MoneyInFilter, now: datetime) -> dict[str, float]:  # noqa: A002
    run = subprocess.run(
        [sys.executable, __file__, "--child", task, made.url, filter.start.isoformat(), filter.end.isoformat(),
         now.isoformat()],
        capture_output=True, text=True, cwd=ROOT,
    )
    if run.returncode:
        raise RuntimeError(f"{task} failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# --- the measurements ----------------------------------------------------------------------------------------------

def windows(made: Generated) -> tuple[datetime, MoneyInFilter, MoneyInFilter]:
    """The data's "now", the last 90 Nairobi days up to it, and the whole two years."""
    now = made.shape.until
    last = now.astimezone(BUSINESS_TIMEZONE).date()
    return now, MoneyInFilter.days(last - timedelta(days=89), last), MoneyInFilter(made.shape.since, now)


def overview_figures(made: Generated, name: str) -> Iterator[Figure]:
    now, ninety, everything = windows(made)
    engine = make_engine(made.url)
    yield Figure("Overview data, 90 days, warm", name, 0.3, warm(lambda: ours_overview(engine, ninety, now)),
                 warm(lambda: naive_overview(engine, ninety, now), runs=1), "s")
    yield Figure("Overview data, 90 days, cold", name, 1.5, in_child("cold", made, ninety, now)["seconds"],
                 in_child("cold-naive", made, ninety, now)["seconds"], "s")
    yield Figure("Overview data, two years, warm", name, 1.0, warm(lambda: ours_overview(engine, everything, now)),
                 seconds(lambda: naive_overview(engine, everything, now)), "s")
    engine.dispose()


def page_filters(engine: sa.Engine, window: MoneyInFilter) -> dict[str, dict[str, Any]]:
    """Each filter and search alone, with values taken from the data (a payment from the window's middle), and the
    name most payments in the window carry (a search's worst case: its totals read every payment found)."""
    middle = window.start + (window.end - window.start) / 2
    with engine.connect() as connection:
        sample = connection.execute(
            sa.select(_T.c.reference, _T.c.sender_phone, _T.c.sender_last_name)
            .where(_T.c.occurred_at >= middle, _T.c.kind == "buygoods").order_by(_T.c.occurred_at).limit(1)
        ).one()
        commonest_name = connection.execute(
            sa.select(_T.c.sender_last_name).where(*conditions(window), _T.c.sender_last_name.is_not(None))
            .group_by(_T.c.sender_last_name).order_by(sa.func.count().desc()).limit(1)
        ).scalar_one()
        smallest_till = connection.execute(
            sa.select(_T.c.till_number).group_by(_T.c.till_number).order_by(sa.func.count()).limit(1)
        ).scalar_one()
    local_phone = f"0{sample.sender_phone[4:7]} {sample.sender_phone[7:10]} {sample.sender_phone[10:]}"
    return {
        "no filter": {},
        "kind b2b": {"kinds": ("b2b",)},
        "status reversed": {"statuses": ("reversed",)},
        f"till {smallest_till} (smallest)": {"tills": (smallest_till,)},
        "search reference": {"search": sample.reference},
        f"search phone {local_phone}": {"search": local_phone},
        f"search name {sample.sender_last_name}": {"search": sample.sender_last_name},
        f"search commonest name {commonest_name}": {"search": commonest_name},
        "search finding nothing": {"search": "Zzyzx"},
    }


def page_figures(made: Generated, name: str) -> Iterator[Figure]:
    _now, ninety, everything = windows(made)
    engine = make_engine(made.url)
    for label, window in (("90 days", ninety), ("two years", everything)):
        load = warm(lambda: naive_frame(engine, window.start, window.end), runs=1)
        frame = naive_frame(engine, window.start, window.end)
        for filter_name, choice in page_filters(engine, window).items():
            chosen = MoneyInFilter(window.start, window.end, **choice)
            yield Figure(f"Transactions page, {label}, {filter_name}", name, 0.2,
                         warm(lambda: transactions(engine, chosen)),
                         load + warm(lambda: naive_page(frame, chosen), runs=1), "s")
        del frame
    engine.dispose()


def export_figures(made: Generated, name: str) -> Iterator[Figure]:
    now, _ninety, everything = windows(made)
    ours = in_child("export", made, everything, now)
    naive = in_child("export-naive", made, everything, now)
    print(f"  {name} export: ours {ours['bytes'] / MB:,.0f} MB of CSV in {ours['seconds']:.1f}s; naive "
          f"{naive['bytes'] / MB:,.0f} MB in {naive['seconds']:.1f}s", flush=True)
    yield Figure("Export, two years, CSV: peak memory growth", name, 100, ours["growth_mb"], naive["growth_mb"], "MB")


def _server_pid(port: int) -> int:
    """The `streamlit run` process serving `port` (tests/servers.running_app starts it and keeps its handle)."""
    wanted = f"--server.port\0{port}\0".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except OSError:  # a process that ended while we looked
            continue
    raise RuntimeError(f"no server process on port {port}")


def choose_dates(page: Page, label: str, first: date, last: date) -> None:
    """Type a range into a date input's segments; it is taken when the picker closes and the field loses focus."""
    for which, day in (("start", first), ("end", last)):
        for part, value in (("day", f"{day:%d}"), ("month", f"{day:%m}"), ("year", f"{day:%Y}")):
            segment = page.get_by_role("spinbutton", name=f"{part}, {label} {which} date")
            segment.click()
            segment.press_sequentially(value)
    page.keyboard.press("Escape")
    page.get_by_test_id("stHeading").first.click()


def click_through(url: str, work: Path, last: date) -> tuple[int, int, int, list[str]]:
    """A person's session against the app on `url`: the Overview and Transactions over several ranges, their
    filters, a page onwards, one payment in full, a two-year CSV download, then every other page in the menu.
    Returns the server's RSS (kB) once the Overview first showed, after everything, and the highest seen."""
    ranges = {"last 7 days": last - timedelta(days=6), "last 90 days": last - timedelta(days=89),
              "this year": last.replace(month=1, day=1), "two years": last - timedelta(days=729)}
    done: list[str] = []
    with start_in_thread(SimConfig(host="127.0.0.1", port=0, callback_delay_s=0.0)) as sim:
        port = free_port()
        with running_app(k2sim_env(sim, port=port, database_url=url), work / "app.log", port=port) as base, \
                chromium() as browser:
            pid = _server_pid(port)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base)
            marks = sign_in_to_overview(page, OWNER, PASSWORD)
            done.append("signed in to the Overview (" + ", ".join(f"{name} {at:.2f}s" for name, at in marks.items())
                        + ")")
            first = peak = _rss_kb(pid=pid)

            def step(name: str, heading: str | None, charts: int = 0) -> None:
                nonlocal peak
                page.wait_for_timeout(300)  # the rerun the click asked for has begun
                until_drawn(page, heading, charts=charts)
                peak = max(peak, _rss_kb(pid=pid))
                done.append(name)

            for name, start in ranges.items():
                choose_dates(page, "Dates", start, last)
                step(f"Overview {name}", "Overview", OVERVIEW_CHARTS)
            for period in ("This week", "This month"):
                page.get_by_role("radio", name=period).click()
                step(f"Overview {period.lower()}", "Overview", OVERVIEW_CHARTS)
            page.get_by_role("combobox", name="Tills").click()
            page.get_by_role("option", name=re.compile(r"^Till ")).first.click()
            page.keyboard.press("Escape")
            step("Overview one till", "Overview", OVERVIEW_CHARTS)

            open_from_menu(page, "Transactions", "Transactions")
            step("Transactions", "Transactions")
            for name, start in ranges.items():
                choose_dates(page, "Dates", start, last)
                step(f"Transactions {name}", "Transactions")
            page.get_by_role("button", name="Next").click()
            step("Transactions next page", "Transactions")
            page.get_by_role("combobox", name="See one payment in full").click()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            step("one payment in full", "Transactions")
            expect(page.locator(".st-key-transactions_detail")).to_be_visible()
            for search in ("Wanjiru", "0712", "Zzyzx", ""):
                box = page.get_by_role("textbox", name="Search")
                box.fill(search)
                box.press("Enter")
                step(f"search {search!r}", "Transactions")
            with page.expect_download(timeout=600_000) as download:
                page.get_by_role("button", name="Download CSV").click()
            size = download.value.path().stat().st_size
            step(f"two-year CSV download ({size / MB:,.0f} MB)", "Transactions")

            for link in page.get_by_test_id("stSidebarNav").get_by_role("link").all():
                title = link.inner_text().splitlines()[-1].strip()  # the text after the icon's name
                link.click()
                step(title, None)
            after = _rss_kb(pid=pid)
    return first, after, max(peak, after), done


def server_figure(made: Generated) -> Figure:
    now, _ninety, everything = windows(made)
    with tempfile.TemporaryDirectory(prefix="k2-million-app-") as work:
        copy = Path(work) / "merchant.db"
        shutil.copyfile(made.url.removeprefix("sqlite:///"), copy)
        url = f"sqlite:///{copy}"
        engine = open_database(url)
        add_user(engine, CONSOLE, username=OWNER, name="Amina Odhiambo", role=Role.OWNER, password=PASSWORD)
        engine.dispose()
        before, after, peak, clicks = click_through(url, Path(work), now.astimezone(BUSINESS_TIMEZONE).date())
    naive = in_child("export-naive", made, everything, now)
    print(f"  server RSS: {before / 1024:,.0f} MB once the Overview showed, {after / 1024:,.0f} MB after "
          f"{len(clicks)} steps ({', '.join(clicks)}), highest {peak / 1024:,.0f} MB", flush=True)
    return Figure("Server memory growth after every page and range", "SQLite", 200, (after - before) / 1024,
                  naive["growth_mb"], "MB")


def databases(rows: int, which: str) -> Iterator[tuple[str, Generated]]:
    shape = Shape(rows)
    if which in ("sqlite", "both"):
        made = sqlite_database(shape)
        print(f"SQLite: {made.shape.rows:,} payments to {made.shape.until:%Y-%m-%d %H:%M} UTC, "
              + ("from the cache" if made.seconds is None else f"generated in {made.seconds:.1f}s"), flush=True)
        yield "SQLite", made
    if which in ("postgresql", "both"):
        server = os.environ.get("TEST_POSTGRES_URL")
        if not server:
            raise SystemExit("TEST_POSTGRES_URL is not set: run `source .ci/postgres.sh` first")
        # a name of its own: the server is shared, and another run's database is not this run's to drop
        made = postgresql_database(server, shape, name=f"k2_million_{os.getpid()}")
        print(f"PostgreSQL: {made.shape.rows:,} payments, a fresh database filled in {made.seconds:.1f}s", flush=True)
        try:
            yield "PostgreSQL", made
        finally:
            drop_postgresql_database(made.url)


def main() -> None:
    parser = argparse.ArgumentParser(description="Money in at a million payments, beside the naive way.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-server", action="store_true", help="skip the browser session against the app")
    parser.add_argument("--child", nargs=5, metavar=("TASK", "URL", "START", "END", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    print(f"bench/analytics.py: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {date.today()}", flush=True)
    figures: list[Figure] = []
    for name, made in databases(args.rows, args.database):
        for measure in (overview_figures, page_figures, export_figures):
            for figure in measure(made, name):
                figures.append(figure)
                print("  " + " | ".join(figure.cells()), flush=True)
        if name == "SQLite" and not args.no_server:
            figures.append(server_figure(made))
    _table(figures)


def _table(figures: list[Figure]) -> None:
    header = ("measure", "database", "target", "ours", "naive", "pass")
    rows = [header, *(figure.cells() for figure in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    rows.insert(1, tuple("-" * width for width in widths))
    print()
    for row in rows:
        print("| " + " | ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                                for i, (cell, width) in enumerate(zip(row, widths))) + " |")
    print(f"{sum(figure.passed for figure in figures)} of {len(figures)} targets met")


if __name__ == "__main__":
    main()

"""Fill in money-in history from K2's polling API, from the server's console (the page "Fill in history" does the
same): every payment K2 holds for those Nairobi days that we lack is stored; what we have is left as it is.

    python -m merchant.backfill --from 2026-11-01 --to 2026-11-30     (or 01/11/2026)

Acts as the console (an owner) and is audited; needs the server's K2 settings and PUBLIC_BASE_URL."""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

from .access import CONSOLE
from .config import load_settings
from .db import open_database
from .errors import InputError
from .money_in.backfill import Filled, fill_in
from .runtime import Runtime, open_client

__all__ = ["main"]


def _day(text: str) -> date:
    for form in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), form).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as 2026-11-30 or 30/11/2026")


def _progress(filled: Filled) -> None:
    print(f"\r{filled.days_done:,} of {filled.days:,} days: {filled.listed:,} listed, {filled.stored:,} stored",
          end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """0 when every day was filled in; 1 when K2 stopped it part way (said why); 2 for bad input."""
    parser = argparse.ArgumentParser(prog="python -m merchant.backfill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="first", required=True, type=_day, help="first day (Nairobi), included")
    parser.add_argument("--to", dest="last", required=True, type=_day, help="last day (Nairobi), included")
    options = parser.parse_args(argv)

    settings = load_settings()
    if not (settings.k2_client_id and settings.k2_client_secret):
        print("K2 is not configured: set K2_CLIENT_ID and K2_CLIENT_SECRET (and K2_BASE_URL) as the server has "
              "them.", file=sys.stderr)
        return 2
    engine = open_database(settings.database_url)
    client = open_client(settings)
    try:
        filled = fill_in(engine, client, CONSOLE, options.first, options.last,
                         callback_url=Runtime(settings).callback_url, source="console", progress=_progress)
    except InputError as err:
        print(err.message, file=sys.stderr)
        return 2
    finally:
        client.close()
        engine.dispose()
    print(file=sys.stderr)
    print(f"fetched: K2 listed {filled.listed:,} payments from {filled.first:%d/%m/%Y} to {filled.last:%d/%m/%Y} "
          f"({filled.days_done:,} of {filled.days:,} days asked)")
    print(f"stored: {filled.stored:,} that were missing")
    print(f"already had: {filled.already_had:,}")
    if filled.failure:
        print(filled.failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bulk payouts from the server's console, through the same functions as the page.

    python -m merchant.payouts validate FILE
    python -m merchant.payouts submit FILE --by USER [--yes]
    python -m merchant.payouts approve BATCH --by USER [--self]
    python -m merchant.payouts decline BATCH --by USER [--reason TEXT]
    python -m merchant.payouts run BATCH
    python -m merchant.payouts status BATCH
    python -m merchant.payouts export BATCH --by USER [--format csv|xlsx] [--out FILE]

`validate` prints each problem as `row N, column C: what is wrong` and exits 1 when any row is bad. `run` sends
the batch from this process (the server's workers send it too, if the server is running: each row is still paid
once) and returns when nothing more will happen to the batch by itself: every row settled, paused, or needing a
person's review."""
from __future__ import annotations

import argparse
import secrets
import sys
import time
from decimal import Decimal
from pathlib import Path

from ..access import User, get_user
from ..config import load_settings
from ..errors import InputError
from ..runtime import Runtime
from .batches import (
    BatchState,
    NeedsConfirmation,
    approve_batch,
    batch_rows,
    decline_batch,
    export_results,
    get_batch,
    submit_batch,
)
from .branches import list_branches
from .sheet import CheckedSheet, SheetRefused, check_sheet, read_sheet

__all__ = ["main"]


def _checked(runtime: Runtime, path: Path) -> CheckedSheet:
    assert runtime.engine is not None
    branches = {branch.name: branch.reference for branch in list_branches(runtime.engine)}
    return check_sheet(read_sheet(path.read_bytes(), path.name), branches)


def _user(runtime: Runtime, username: str) -> User:
    assert runtime.engine is not None
    user = get_user(runtime.engine, username)
    if user is None or user.disabled:
        raise InputError("by", f"There is no active user {username!r} (see python -m merchant.users list).")
    return user


def _status(runtime: Runtime, batch_id: int) -> str:
    assert runtime.engine is not None
    batch = get_batch(runtime.engine, batch_id)
    if batch is None:
        raise InputError("batch", f"There is no batch {batch_id}.")
    paid = f"; KES {_kes(batch.paid)} paid" if batch.paid else ""
    return f"batch {batch.id} ({batch.file_name}): {batch.row_count:,} rows, KES {_kes(batch.total)}, " \
           f"{batch.status_words}{paid}"


def _kes(amount: Decimal) -> str:
    """Shillings with separators; cents only where there are some (a bank payment)."""
    return f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"


def main(argv: list[str] | None = None) -> int:
    """Run one command: 0 when done, 1 when the file has problems, 2 with a plain message when the input is wrong."""
    parser = argparse.ArgumentParser(prog="python -m merchant.payouts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("validate", help="check a file; every problem by row and column").add_argument("file")
    submit = commands.add_parser("submit", help="submit a file as a batch waiting for approval")
    submit.add_argument("file")
    submit.add_argument("--by", required=True, help="the finance user or owner submitting it")
    submit.add_argument("--yes", action="store_true", help="submit even if it repeats a file or recent payouts")
    approve = commands.add_parser("approve", help="approve a batch (a second person)")
    approve.add_argument("batch", type=int)
    approve.add_argument("--by", required=True)
    approve.add_argument("--self", dest="self_approval", action="store_true",
                         help="the single owner approving their own batch (if allowed in Settings)")
    decline = commands.add_parser("decline", help="decline a batch: nothing in it is sent")
    decline.add_argument("batch", type=int)
    decline.add_argument("--by", required=True)
    decline.add_argument("--reason")
    commands.add_parser("run", help="send an approved batch and wait for it").add_argument("batch", type=int)
    commands.add_parser("status", help="where a batch stands").add_argument("batch", type=int)
    export = commands.add_parser("export", help="the per-row results")
    export.add_argument("batch", type=int)
    export.add_argument("--by", required=True)
    export.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export.add_argument("--out", help="file to write (default: standard output)")
    options = parser.parse_args(argv)

    runtime = Runtime(load_settings())
    try:
        if options.command == "run":
            runtime.start()
            return _run(runtime, options.batch)
        runtime.open()
        assert runtime.engine is not None
        if options.command == "validate":
            checked = _checked(runtime, Path(options.file))
            for problem in checked.problems:
                print(problem)
            for warning in checked.warnings:
                print(f"{warning} (a warning)")
            print(f"{len(checked.rows):,} rows fine, {len(checked.problems):,} problems; "
                  f"KES {_kes(sum((row.amount for row in checked.rows), Decimal(0)))} in all", file=sys.stderr)
            return 1 if checked.problems else 0
        if options.command == "submit":
            path = Path(options.file)
            checked = _checked(runtime, path)
            if checked.problems:
                for problem in checked.problems:
                    print(problem)
                return 1
            batch = submit_batch(runtime, _user(runtime, options.by), checked, token=secrets.token_hex(16),
                                 file_name=path.name, confirmed=options.yes, source="console")
            print(_status(runtime, batch.id))
        elif options.command == "approve":
            approve_batch(runtime, _user(runtime, options.by), options.batch, self_approval=options.self_approval,
                          source="console")
            print(_status(runtime, options.batch))
        elif options.command == "decline":
            decline_batch(runtime, _user(runtime, options.by), options.batch, reason=options.reason,
                          source="console")
            print(_status(runtime, options.batch))
        elif options.command == "status":
            print(_status(runtime, options.batch))
            for row in batch_rows(runtime.engine, options.batch):
                if row.reason:
                    print(f"row {row.number}: {row.status.value}: {row.reason}")
        elif options.command == "export":
            data = export_results(runtime.engine, _user(runtime, options.by), options.batch, format=options.format,
                                  source="console")
            if options.out:
                Path(options.out).write_bytes(data)
            else:
                sys.stdout.buffer.write(data)
    except NeedsConfirmation as err:
        print(f"{err.message} Add --yes to submit it anyway.", file=sys.stderr)
        return 2
    except (InputError, SheetRefused, PermissionError) as err:
        print(getattr(err, "message", str(err)), file=sys.stderr)
        return 2
    finally:
        runtime.stop()
    return 0


def _run(runtime: Runtime, batch_id: int) -> int:
    """Let this process's workers send the batch; print its progress until nothing more will happen to it."""
    if runtime.batches is None:
        print("There is no K2 account set up (K2_CLIENT_ID and K2_CLIENT_SECRET): nothing can be sent.",
              file=sys.stderr)
        return 2
    assert runtime.engine is not None
    if "waiting for approval" in _status(runtime, batch_id):
        print(f"Batch {batch_id} is waiting for approval: approve it first (approve {batch_id} --by USER).",
              file=sys.stderr)
        return 2
    last = ""
    while True:
        runtime.batches.wake()
        now = _status(runtime, batch_id)
        if now != last:
            print(now, flush=True)
            last = now
        batch = get_batch(runtime.engine, batch_id)
        assert batch is not None
        if batch.state is not BatchState.AWAITING_APPROVAL and not batch.moving:
            return 0
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

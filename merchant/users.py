"""Users from the server's console (operators and tests); passwords are read twice from standard input.

    python -m merchant.users add NAME --role ROLE [--full-name "…"] [--email …]
    python -m merchant.users list
    python -m merchant.users disable NAME | enable NAME
    python -m merchant.users set-role NAME ROLE
    python -m merchant.users reset-password NAME
"""
from __future__ import annotations

import argparse
import getpass
import sys

from .access import CONSOLE, Role, add_user, list_users, reset_password, set_disabled, set_role
from .config import load_settings
from .db import open_database
from .errors import InputError

__all__ = ["main"]


def _read(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().rstrip("\n")


def _password() -> str:
    """Twice from standard input (a terminal hides it); never an argument, so it stays out of shell history."""
    first = _read("Password: ")
    if _read("Password again: ") != first:
        raise InputError("password", "Password: the two entries differ.")
    return first


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 when done, 2 with a plain message when the input is wrong."""
    parser = argparse.ArgumentParser(prog="python -m merchant.users", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user (password from standard input, twice)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--full-name", help="the person's name as shown (default: the username)")
    add.add_argument("--email")
    commands.add_parser("list", help="list users")
    for name in ("disable", "enable", "reset-password"):
        commands.add_parser(name).add_argument("username")
    change = commands.add_parser("set-role", help="change a user's role")
    change.add_argument("username")
    change.add_argument("role", choices=[role.value for role in Role])
    options = parser.parse_args(argv)

    engine = open_database(load_settings().database_url)
    try:
        if options.command == "add":
            user = add_user(engine, CONSOLE, username=options.username, name=options.full_name or options.username,
                            role=Role(options.role), password=_password(), email=options.email, source="console")
            print(f"added {user.username} ({user.role.value})")
        elif options.command == "list":
            for user in list_users(engine):
                state = "disabled" if user.disabled else "active"
                print(f"{user.username}\t{user.role.value}\t{state}\t{user.name}")
        elif options.command in ("disable", "enable"):
            set_disabled(engine, CONSOLE, options.username, options.command == "disable", source="console")
            print(f"{options.username} {options.command}d")
        elif options.command == "set-role":
            set_role(engine, CONSOLE, options.username, Role(options.role), source="console")
            print(f"{options.username} is now {options.role}")
        elif options.command == "reset-password":
            reset_password(engine, CONSOLE, options.username, _password(), source="console")
            print(f"{options.username}'s password is reset; their sessions have ended")
    except InputError as err:
        print(err.message, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

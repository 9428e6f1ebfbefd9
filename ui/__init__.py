"""What the entry point and every page share: the process's runtime, Nairobi display time, plain failures.

Display words live in `ui.words`."""
from __future__ import annotations

import logging
from typing import NoReturn

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from merchant.config import Settings
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.runtime import Runtime, current

__all__ = ["database", "fail", "nairobi_time", "runtime", "settings"]

log = logging.getLogger("pages")


def runtime() -> Runtime:
    """The server's one runtime (settings, engine, K2 client, workers), started by its lifespan; a page whose
    process could not start one (its database unreadable) says so plainly and stops."""
    try:
        return current()
    except Exception:  # shown plainly, logged in full
        fail("The payments database cannot be read right now.")


def settings() -> Settings:
    """The settings the server runs with (demo mode's emulator included)."""
    return runtime().settings


def database() -> Engine:
    """The runtime's one engine, its schema already migrated."""
    engine = runtime().engine
    assert engine is not None, "the runtime is not started"
    return engine


def nairobi_time(moments: pd.Series) -> pd.Series:
    """UTC timestamps as the merchant reads them: stored in UTC, shown in Nairobi's time, the analytics' days."""
    return moments.dt.tz_convert(BUSINESS_TIMEZONE)


def fail(what: str) -> NoReturn:
    """Log the detail, show a plain message (never the detail: it may name the database), stop the page."""
    log.exception("page failed: %s", what)
    st.error(f"{what} Try again in a minute; if it persists, check the server log.")
    st.stop()

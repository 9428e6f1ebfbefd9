"""What the entry point and every page share: settings, the one database engine, and Nairobi display time."""
from __future__ import annotations

import logging
from typing import NoReturn

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from merchant import Settings, load_settings, open_client, open_database
from merchant.analytics import BUSINESS_TIMEZONE
from merchant.payment_requests import K2Client

__all__ = ["database", "fail", "k2_client", "nairobi_time", "settings"]

log = logging.getLogger("pages")


def settings() -> Settings:
    """The current settings (environment over `.streamlit/secrets.toml`)."""
    return load_settings()


@st.cache_resource
def _engine(url: str) -> Engine:
    return open_database(url)


def database() -> Engine:
    """One engine per database per server process, its schema brought up to date once."""
    return _engine(settings().database_url)


def _k2_identity(current: Settings) -> tuple[str, str, str, str]:
    return current.k2_base_url, current.k2_client_id, current.k2_client_secret, current.k2_api_key


@st.cache_resource(show_spinner=False, max_entries=4, hash_funcs={Settings: _k2_identity})
def _k2_client(current: Settings) -> K2Client:
    return open_client(current)


def k2_client() -> K2Client:
    """One K2 client (connection pool and token) per K2 account per server process."""
    return _k2_client(settings())


def nairobi_time(moments: pd.Series) -> pd.Series:
    """UTC timestamps as the merchant reads them: stored in UTC, shown in Nairobi's time, the analytics' days."""
    return moments.dt.tz_convert(BUSINESS_TIMEZONE)


def fail(what: str) -> NoReturn:
    """Log the detail, show a plain message (never the detail: it may name the database), stop the page."""
    log.exception("page failed: %s", what)
    st.error(f"{what} Try again in a minute; if it persists, check the server log.")
    st.stop()

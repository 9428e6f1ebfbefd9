"""The entry page: title, demo banner and what has been received so far (login and pages come later)."""
from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy import Engine

from merchant import counts, load_settings, open_database, unread_events

st.set_page_config(page_title="K2 Merchant Dashboard", page_icon=":material/payments:", layout="wide")
log = logging.getLogger(__name__)


@st.cache_resource
def database(url: str) -> Engine:
    """One engine per database per server process, its schema brought up to date once."""
    return open_database(url)


settings = load_settings()
st.title("K2 Merchant Dashboard")
if settings.demo_mode:
    st.warning("Demo mode: connected to the built-in K2 emulator. No real money moves.", icon=":material/science:")

try:
    engine = database(settings.database_url)
    stored = counts(engine)
except Exception:  # the detail goes to the server log, never to the page (it may name the database)
    log.exception("entry page: the database could not be read")
    st.error("The payments database cannot be read right now. Try again in a minute; if it persists, check the server log.")
    st.stop()
received, deliveries = st.columns(2)
received.metric("Payments received", f"{stored.transactions:,}")
deliveries.metric("K2 deliveries stored", f"{stored.webhook_events:,}")
if stored.failed_events:
    st.error(f"{stored.failed_events:,} stored deliveries could not be read; they are kept for reprocessing.")
if stored.failed_events or stored.unmapped_events:
    unread = stored.failed_events + stored.unmapped_events
    with st.expander(f"{unread:,} deliveries kept that are not in the payment tables", key="home_unread"):
        newest = unread_events(engine)
        newest["received_at"] = newest["received_at"].dt.tz_convert("Africa/Nairobi")
        st.dataframe(newest, hide_index=True, key="home_unread_table")

"""Home: did the money come in? What K2 has delivered, and (for whoever runs the dashboard) anything kept that
is not in the tables yet."""
from __future__ import annotations

import streamlit as st

from merchant.access import Permission, can
from merchant.inbox import counts, unread_events
from ui import database, fail, nairobi_time
from ui.signin import current_user
from ui.words import event_kind

st.header("Today at a glance")
user = current_user()
runs_it = can(user.role, Permission.SEE_EVENTS)
try:  # every read up front: a failure below would put the raw error (maybe the database URL) on the page
    engine = database()
    stored = counts(engine)
    unread = stored.failed_events + stored.unmapped_events
    newest = unread_events(engine) if unread and runs_it else None
except Exception:  # shown plainly, logged in full
    fail("The payments database cannot be read right now.")

received, deliveries = st.columns(2)
received.metric("Payments received", f"{stored.transactions:,}")
deliveries.metric("K2 deliveries stored", f"{stored.webhook_events:,}")
if stored.failed_events and runs_it:
    st.error(f"{stored.failed_events:,} stored deliveries could not be read; they are kept for reprocessing "
             "(Event log).")
if newest is not None:
    with st.expander(f"{unread:,} deliveries kept that are not in the payment tables", key="home_unread"):
        newest["received_at"] = nairobi_time(newest["received_at"])
        newest["kind"] = newest["kind"].map(event_kind)
        st.dataframe(newest.fillna({"error": ""}), hide_index=True, key="home_unread_table",
                     column_config={"received_at": st.column_config.DatetimeColumn("Received (Nairobi)",
                                                                                   format="D MMM, HH:mm:ss"),
                                    "kind": "What", "outcome": "Outcome", "error": "Why", "id": "Delivery id"})

"""Home: did the money come in today? Today's shillings so far against yesterday's (for those who see money in),
and, for whoever runs the dashboard, anything K2 delivered that is not in the tables yet."""
from __future__ import annotations

from datetime import datetime

import streamlit as st

from merchant.access import Permission, can
from merchant.inbox import unread_counts, unread_events
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.money_in.overview import Period, comparison
from ui import database, fail, nairobi_time
from ui.signin import current_user
from ui.words import compared_with, event_kind, kes, moved

st.header("Today at a glance")
user = current_user()
runs_it = can(user.role, Permission.SEE_EVENTS)
sees_money = can(user.role, Permission.SEE_MONEY_IN)
try:  # every read up front: a failure below would put the raw error (maybe the database URL) on the page
    engine = database()
    today = comparison(engine, Period.TODAY, datetime.now(BUSINESS_TIMEZONE)) if sees_money else None
    stored = unread_counts(engine) if runs_it else None  # the kept-but-unread alone: never a count of every row
    unread = stored.failed + stored.unmapped if stored else 0
    newest = unread_events(engine) if unread else None
except Exception:  # shown plainly, logged in full
    fail("The payments database cannot be read right now.")

if today is not None:
    now, before = today.current, today.previous
    against = compared_with(today.period, today.previous_end)
    received, count, back = st.columns(3)
    received.metric("Received today", kes(now.total), moved(now.total, before.total),
                    help=f"Compared with {against}: {kes(before.total)}.")
    count.metric("Payments today", f"{now.count:,}", moved(now.count, before.count, money=False),
                 help=f"Compared with {against}: {before.count:,}.")
    back.metric("Taken back today", kes(now.taken_back), moved(now.taken_back, before.taken_back),
                delta_color="inverse", help="Reversed or voided: not counted in what you received.")
    st.caption(f"Compared with {against} (Nairobi time). The Overview has the week, the month and the charts.")
    if not now.count and not now.taken_back_count:
        check = ("fetch today from K2 on the Fill in history page" if can(user.role, Permission.FILL_HISTORY)
                 else "tell the owner")
        st.info(f"No payments yet today (Nairobi time). Each one shows here as soon as K2 tells us of it; if you "
                f"expected some, {check}.", icon=":material/schedule:")
else:
    st.info("Your role does not show the money received. Use the menu for what you can do here.")
if stored and stored.failed:
    one = stored.failed == 1
    st.error(f"{stored.failed:,} stored {'delivery' if one else 'deliveries'} could not be read; "
             f"{'it is' if one else 'they are'} kept for reprocessing (Event log).")
if newest is not None:
    with st.expander(f"{unread:,} {'delivery' if unread == 1 else 'deliveries'} kept that "
                     f"{'is' if unread == 1 else 'are'} not in the payment tables", key="home_unread"):
        newest["received_at"] = nairobi_time(newest["received_at"])
        newest["kind"] = newest["kind"].map(event_kind)
        st.dataframe(newest.fillna({"error": ""}), hide_index=True, key="home_unread_table",
                     column_config={"received_at": st.column_config.DatetimeColumn("Received (Nairobi)",
                                                                                   format="D MMM, HH:mm:ss"),
                                    "kind": "What", "outcome": "Outcome", "error": "Why", "id": "Delivery id"})

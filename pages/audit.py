"""Audit trail: who did what, when, from where; filtered by dates, person and action, exported for the records."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from merchant.access import CONSOLE, AuditAction, NotAllowed, Permission, audit_log, list_users, require
from merchant.access.audit import export_audit
from merchant.money_in import BUSINESS_TIMEZONE, day_range
from ui import database, fail, nairobi_time
from ui.signin import current_user, source_address
from ui.words import AUDIT_ACTIONS

SHOWN = 1_000  # newest entries on the page; the export has them all


def said(action: str) -> str:
    """An action in words (one added later and not named above still reads as words, not a code)."""
    return next((words for known, words in AUDIT_ACTIONS.items() if known.value == action),
                action.replace("_", " ").capitalize())


def details(detail: str | None) -> str:
    """`{"role": "finance"}` as `role: finance`."""
    if not detail:
        return ""
    try:
        items = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(items, dict):
        return str(items)
    return " · ".join(f"{key.replace('_', ' ')}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                      for key, value in items.items())


me = current_user()
try:  # the frame's navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.SEE_AUDIT)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Audit trail")
today = datetime.now(BUSINESS_TIMEZONE).date()
when, person, what = st.columns([2, 2, 3])
picked = when.date_input("Dates", (today - timedelta(days=6), today), max_value=today, format="DD/MM/YYYY",
                         key="audit_dates")
first, last = (picked[0], picked[-1]) if picked else (today, today)  # mid-pick, one date: that day alone
try:
    people = [user.username for user in list_users(database())] + [CONSOLE.username]
except Exception:  # shown plainly, logged in full
    fail("The audit trail cannot be read right now.")
who = person.selectbox("Who", people, index=None, placeholder="Everyone", key="audit_who")
actions = what.multiselect("What", list(AUDIT_ACTIONS), format_func=AUDIT_ACTIONS.__getitem__, placeholder="Everything",
                           key="audit_what")
since, until = day_range(first, last)
try:
    entries = audit_log(database(), since=since, until=until, actor=who, actions=actions or None, limit=SHOWN)
except Exception:  # shown plainly, logged in full
    fail("The audit trail cannot be read right now.")

if entries.empty:
    st.info("Nothing recorded for these filters. Widen the dates, or choose everyone and everything.")
    st.stop()
shown = pd.DataFrame({
    "at": nairobi_time(entries["at"]),
    "who": entries["actor"].fillna("(not signed in)"),
    "what": entries["action"].map(said),
    "target": entries["target"].fillna(""),
    "detail": entries["detail"].map(details),
    "source": entries["source"].fillna(""),
})
st.dataframe(shown, hide_index=True, key="audit_table", column_config={
    "at": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm:ss"),
    "who": "Who", "what": "What", "target": "To whom or what", "detail": "Details", "source": "From (address)",
})
if len(entries) == SHOWN:
    st.caption(f"Showing the newest {SHOWN:,} entries; narrow the dates to see older ones, or export them all.")

filters = (first, last, who, tuple(actions))
if st.button("Export these entries (CSV)", key="audit_export", help="The export is itself recorded here."):
    try:
        data = export_audit(database(), me, since=since, until=until, who=who, actions=actions or None,
                            source=source_address())
    except NotAllowed as err:
        st.error(str(err))
    except Exception:  # shown plainly, logged in full
        fail("The export could not be made.")
    else:
        st.session_state.audit_file = (filters, data)
ready = st.session_state.get("audit_file")
if ready is not None and ready[0] == filters:
    st.download_button("Download the CSV", ready[1], file_name=f"audit-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv",
                       mime="text/csv", on_click="ignore", type="primary", key="audit_download")

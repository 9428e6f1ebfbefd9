"""Event log: every delivery K2 made to this server, newest first, as Stripe shows its events: what it was, when it
came, what became of it, the body as received, and "process again" for a failed one; then the refused ones."""
from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, User, can
from merchant.errors import InputError
from merchant.inbox.events import OUTCOMES, StoredEvent, event_kinds, get_event, list_events, process_again
from merchant.inbox.rejections import rejections
from merchant.money_in import BUSINESS_TIMEZONE, day_range
from ui import database, fail, nairobi_time
from ui.signin import current_user, source_address
from ui.words import event_kind, nairobi_clock

PAGE_SIZE = 50
OUTCOME_WORDS = {"mapped": "Recorded", "unmapped": "Kept, nothing to record", "failed": "Failed"}
REASONS = {
    "missing signature": "No signature: not sent by K2",
    "signature mismatch": "Wrong signature: not from K2, or K2_API_KEY differs from K2's",
}


def pretty(payload: str) -> tuple[str, str]:
    """The body indented for reading, and its language for `st.code` (as stored, when it is not JSON)."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False), "json"
    except (ValueError, RecursionError):
        return payload, "text"


def show(event: StoredEvent, user: User) -> None:
    """One delivery: what it was, what became of it, "process again" when it failed, and the body K2 sent."""
    st.subheader(event_kind(event.kind))
    st.caption(f"Received {nairobi_clock(event.received_at)} Nairobi time · id {event.id}")
    if event.outcome == "mapped":
        st.success("Recorded in the payment tables.")
    elif event.outcome == "unmapped":
        st.info("Kept as received: nothing in it for the payment tables.")
    else:
        st.error(f"Failed: {event.error or 'no reason was kept'}. It is kept as received, so it can be processed "
                 "again once the cause is fixed.")
        if can(user.role, Permission.REPROCESS) and st.button("Process again", type="primary", key="event_log_again"):
            try:
                after = process_again(database(), user, event.id, source=source_address())
            except (InputError, NotAllowed) as err:  # an InputError's text is its message
                st.error(str(err))
                return
            except Exception:  # shown plainly, logged in full
                fail("The delivery could not be processed again.")
            st.session_state.event_log_said = (after.outcome, after.error)
            st.rerun()
    body, language = pretty(event.payload)
    st.code(body, language=language)


st.header("Event log")
user = current_user()
today = datetime.now(BUSINESS_TIMEZONE).date()
try:
    engine = database()
    stored_kinds = event_kinds(engine)
except Exception:  # shown plainly, logged in full
    fail("The event log cannot be read right now.")

kind_box, outcome_box, date_box = st.columns([3, 2, 2])
kinds = kind_box.multiselect("Kind", stored_kinds, format_func=event_kind, placeholder="All kinds",
                             key="event_log_kinds")
outcomes = outcome_box.multiselect("Outcome", OUTCOMES, format_func=OUTCOME_WORDS.__getitem__,
                                   placeholder="All outcomes", key="event_log_outcomes")
picked = date_box.date_input("Received between", (), max_value=today, format="DD/MM/YYYY", key="event_log_dates")
start, end = day_range(picked[0], picked[-1]) if picked else (None, None)

filters = (tuple(kinds), tuple(outcomes), start, end)
if st.session_state.get("event_log_filters") != filters:  # new filters start again at the newest page
    st.session_state.event_log_filters = filters
    st.session_state.event_log_pages = [None]
pages = st.session_state.event_log_pages
try:
    found = list_events(engine, kinds=kinds, outcomes=outcomes, start=start, end=end, after=pages[-1],
                        limit=PAGE_SIZE)
except Exception:  # shown plainly, logged in full
    fail("The event log cannot be read right now.")
events = found.events

if "event_log_said" in st.session_state:
    outcome, error = st.session_state.pop("event_log_said")
    if outcome == "failed":
        st.error(f"Processed again, and it still failed: {error}")
    else:
        st.success(f"Processed again: {OUTCOME_WORDS[outcome].lower()}.")

if events.empty:
    st.info("No deliveries match these filters: clear one, or pick other dates." if kinds or outcomes or picked
            else "K2 has sent nothing yet. Once this server is subscribed (Webhook subscriptions), every "
                 "payment K2 tells it about shows here.")
else:
    st.dataframe(
        events.assign(received_at=nairobi_time(events["received_at"]), kind=events["kind"].map(event_kind),
                      outcome=events["outcome"].map(OUTCOME_WORDS), error=events["error"].fillna("")),
        hide_index=True, key="event_log_table", column_order=("received_at", "kind", "outcome", "error"),
        column_config={"received_at": st.column_config.DatetimeColumn("Received (Nairobi)",
                                                                      format="DD/MM/YYYY HH:mm:ss"),
                       "kind": "Kind", "outcome": "Outcome", "error": "Why it failed"},
    )
    newer, where, older = st.columns([1, 4, 1])
    if newer.button("Newer", disabled=len(pages) == 1, key="event_log_newer"):
        pages.pop()
        st.rerun()
    where.caption(f"Page {len(pages)}: {len(events)} deliveries, newest first")
    if older.button("Older", disabled=found.older is None, key="event_log_older"):
        pages.append(found.older)
        st.rerun()
    labels = {row.id: f"{nairobi_clock(row.received_at)} · {event_kind(row.kind)} · {OUTCOME_WORDS[row.outcome]}"
              for row in events.itertuples()}
    chosen = st.selectbox("See one delivery", list(labels), index=None, format_func=labels.__getitem__,
                          placeholder="Pick a delivery to see what K2 sent", key="event_log_pick")
    event = get_event(engine, chosen) if chosen else None
    if event is not None:
        show(event, user)

st.subheader("Refused deliveries")
try:
    refused = rejections(engine, since=start, limit=500)
except Exception:  # shown plainly, logged in full
    fail("The refused deliveries cannot be read right now.")
if end is not None:
    refused = refused[refused["minute"] < pd.Timestamp(end)]
if refused.empty:
    st.caption("No deliveries were refused" + (" in these dates." if picked else ".") + " A delivery without K2's "
               "signature, or with a body that cannot be read, would show here with the address it came from.")
else:
    st.dataframe(
        refused.assign(last_at=nairobi_time(refused["last_at"]),
                       reason=refused["reason"].map(lambda why: REASONS.get(why, why[:1].upper() + why[1:]))),
        hide_index=True, key="event_log_refused", column_order=("last_at", "source", "reason", "count"),
        column_config={"last_at": st.column_config.DatetimeColumn("When (Nairobi)", format="DD/MM/YYYY HH:mm"),
                       "source": "From address", "reason": "Why it was refused", "count": "How many"},
    )

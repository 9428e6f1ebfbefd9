"""Webhook subscriptions: have K2 post every kind of event to this server with one button; what was made from
here, and what is still missing (K2 has no way to list them, so this server keeps its own record)."""
from __future__ import annotations

import streamlit as st

from merchant.access import NotAllowed, User
from merchant.errors import InputError
from merchant.subscriptions import EVENT_TYPES, missing_events, subscribe_webhooks, subscriptions, webhook_url
from ui import fail, nairobi_time, runtime
from ui.signin import current_user, source_address
from ui.words import event_kind

def words(events: list[str] | tuple[str, ...]) -> str:
    return ", ".join(event_kind(event) for event in events)


def subscribe(user: User) -> None:
    """Make what is missing; say what was made and what K2 refused on the next run."""
    try:
        done = subscribe_webhooks(runtime(), user, source=source_address())
    except InputError as err:
        st.error(err.message)
        return
    except NotAllowed as err:
        st.error(str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("The subscriptions could not be made.")
    st.session_state.subscriptions_done = done
    st.rerun()


st.header("Webhook subscriptions")
user = current_user()
current = runtime()
st.write("K2 tells this server about each payment by posting it to the server's webhook address; every kind of "
         "event needs its own subscription at K2. K2 cannot list them, so this page lists the ones made from here.")
if current.client is None:
    st.info("Subscribing needs a K2 account: set K2_CLIENT_ID, K2_CLIENT_SECRET, K2_API_KEY, K2_TILL_NUMBER and "
            "PUBLIC_BASE_URL, then restart the server. (In demo mode the emulator is subscribed when it starts.)")
    st.stop()
try:
    made = subscriptions(current)
    missing = missing_events(current)
except Exception:  # shown plainly, logged in full
    fail("The subscriptions cannot be read right now.")

done = st.session_state.pop("subscriptions_done", None)
if done is not None:
    if done.created:
        st.success(f"Subscribed: {words(done.created)}.")
    elif not done.failed:
        st.info("Nothing was missing: every kind of event was already subscribed.")
    for event, reason in done.failed.items():
        st.error(f"K2 did not subscribe {event_kind(event)}: {reason}. Press the button to try again.")

try:
    url = webhook_url(current)
except InputError as err:
    st.error(err.message)
    url = None
if url is not None:
    st.write(f"K2 posts events to **{url}**.")
    if missing:
        st.warning(f"Missing {len(missing)} of {len(EVENT_TYPES)}: {words(missing)}.")
    else:
        st.success(f"Subscribed to all {len(EVENT_TYPES)} kinds of event at this address.")
    if st.button("Subscribe to every kind of event", type="primary", key="subscriptions_create",
                 help="Makes only the subscriptions that are missing; the ones already made stay as they are."):
        subscribe(user)

st.subheader("Made from here")
if made.empty:
    st.caption("Nothing yet: press the button above to subscribe this server to every kind of event.")
else:
    st.dataframe(
        made.assign(event_type=made["event_type"].map(lambda event: event_kind(event)),
                    scope_reference=made["scope_reference"].map(lambda till: f"Till {till}" if till
                                                                else "Whole business"),
                    created_at=nairobi_time(made["created_at"]), created_by=made["created_by"].fillna("")),
        hide_index=True, key="subscriptions_table",
        column_order=("event_type", "scope_reference", "url", "created_at", "created_by", "location"),
        column_config={"event_type": "Event", "scope_reference": "For", "url": "Posted to",
                       "created_at": st.column_config.DatetimeColumn("Made (Nairobi)", format="DD/MM/YYYY HH:mm"),
                       "created_by": "By", "location": "K2's reference"},
    )

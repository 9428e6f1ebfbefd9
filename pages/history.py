"""Fill in history: ask K2 for the payments of some days and store any this dashboard never received (a webhook
that did not come); and what the daily check of yesterday found."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, can, mask_phone
from merchant.errors import InputError
from merchant.money_in import BUSINESS_TIMEZONE, day_range
from merchant.money_in.backfill import Filled, check_yesterday, fill_in, found_by_polling, last_check
from ui import database, fail, runtime
from ui.signin import current_user, source_address
from ui.words import history_filled, kes_exact, nairobi_clock, payment_kind, payment_status, phone

FOUND_DAYS = 30

st.header("Fill in history")
me = current_user()
if not can(me.role, Permission.FILL_HISTORY):
    st.error(str(NotAllowed(me.role, Permission.FILL_HISTORY)))
    st.stop()

today = datetime.now(BUSINESS_TIMEZONE).date()
st.caption("Kopo Kopo (K2) keeps every payment your tills received. Ask it for some days: any payment this dashboard "
           "never received (its notice did not arrive) is stored now, and the ones already here are left as they "
           "are, so asking twice never counts a payment twice.")


def show(filled: Filled) -> None:
    """The outcome in words; when K2 stopped it part way, what was done and why it stopped."""
    found = history_filled(filled.listed, filled.stored, filled.already_had)
    if filled.failure is None:
        st.success(found, icon=":material/task_alt:")
        return
    if filled.days_done:
        st.warning(f"{filled.days_done:,} of {filled.days:,} days done. {found}", icon=":material/warning:")
    st.error(filled.failure)


def run(days: tuple[date, date] | None) -> None:
    """Ask K2 for these days (None: yesterday, as the daily check does) with a progress bar, then show the outcome."""
    k2 = runtime()
    if k2.client is None:
        st.error("K2 is not connected: set the K2 settings (Settings and health), then fill in history.")
        return
    bar = st.progress(0.0, text="Asking K2 for its list of payments…")

    def progress(done: Filled) -> None:
        bar.progress(done.days_done / done.days, text=f"{done.days_done:,} of {done.days:,} days: K2 listed "
                                                      f"{done.listed:,} payments, {done.stored:,} were missing")

    try:
        if days is not None:
            filled = fill_in(database(), k2.client, me, *days, callback_url=k2.callback_url, source=source_address(),
                             progress=progress)
        else:
            filled = check_yesterday(database(), k2.client, me, callback_url=k2.callback_url, source=source_address())
    except (InputError, NotAllowed) as err:  # an InputError's text is its message
        st.error(str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("History could not be filled in.")
    bar.empty()
    show(filled)


with st.form("history_form"):
    picked = st.date_input("Days to fill in", (today - timedelta(days=7), today - timedelta(days=1)),
                           max_value=today, format="DD/MM/YYYY", key="history_dates")
    asked = st.form_submit_button("Fill in history", type="primary")
if asked:
    if len(picked) == 2:
        run((picked[0], picked[1]))
    else:
        st.error("Pick the first and the last day: click both in the calendar.")

st.subheader("Payments K2 had that no webhook brought")
if st.button("Check yesterday now", key="history_check_now"):
    run(None)
try:
    engine = database()
    check = last_check(engine)
    found, total = found_by_polling(engine, *day_range(today - timedelta(days=FOUND_DAYS), today))
except Exception:  # shown plainly, logged in full
    fail("The daily check's findings cannot be read right now.")
if check is None:
    st.caption("Every night after midnight this dashboard compares K2's list of yesterday's payments with its own, "
               "and stores any it missed. It has not run yet.")
elif check.failure:
    st.warning(f"The daily check of {check.first:%a %-d %b} ({nairobi_clock(check.at)}) could not finish. "
               f"{check.failure}", icon=":material/warning:")
else:
    st.caption(f"Daily check of {check.first:%a %-d %b} ({nairobi_clock(check.at)}): "
               f"{history_filled(check.listed, check.stored, check.already_had)}")
if not found:
    st.info(f"In the last {FOUND_DAYS} days every payment K2 listed had come by webhook.", icon=":material/verified:")
else:
    see_phones = can(me.role, Permission.SEE_PHONES)
    st.caption(f"{total:,} payments in the last {FOUND_DAYS} days came only from K2's list"
               + (f"; the newest {len(found):,} are shown." if total > len(found) else ".")
               + " If this keeps happening, check Webhook subscriptions and that K2 can reach this server.")
    st.dataframe(pd.DataFrame([{
        "When": f"{paid.occurred_at.astimezone(BUSINESS_TIMEZONE):%d/%m/%Y %H:%M}",
        "Amount": kes_exact(paid.amount),
        "Payer": paid.payer or "",
        "Phone": phone(paid.sender_phone if see_phones else mask_phone(paid.sender_phone)),
        "Kind": payment_kind(paid.kind),
        "Status": payment_status(paid.status),
        "Reference": "" if paid.kind == "m2m" else paid.reference,  # an m2m's key is K2's id, not an M-Pesa code
        "Till": paid.till_number or "",
        "Stored": f"{one.found_at.astimezone(BUSINESS_TIMEZONE):%d/%m/%Y %H:%M}",
    } for one in found for paid in [one.payment]]), hide_index=True, key="history_found")

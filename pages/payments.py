"""Payments: those waiting for a second person's approval (approve or decline), and every payment made, filtered by
recipient, status and dates, kept live, exported as CSV for the books."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, can, require
from merchant.errors import InputError
from merchant.money_in import BUSINESS_TIMEZONE, day_range
from merchant.outbound import OutboxState
from merchant.payouts.payments import Payout, approve_payment, awaiting_approval, decline_payment, export_payments, \
    payment_history
from merchant.payouts.recipients import list_recipients
from ui import database, fail, nairobi_time, runtime
from ui.signin import current_user, source_address
from ui.words import destination, kes_exact, kes_in_words, nairobi_clock, payee_kind, payout_status

_ = OutboxState
STATUSES = {
    "Waiting for approval": (_.AWAITING_APPROVAL,),
    "On its way": (_.QUEUED, _.SENDING, _.ACCEPTED),
    "Processed": (_.SUCCEEDED,),
    "Failed": (_.FAILED,),
    "Outcome unknown": (_.UNKNOWN,),
    "Refused or not sent": (_.REJECTED, _.NOT_SENT),
    "Declined": (_.DECLINED,),
}


def decide(payout: Payout, approve: bool) -> None:
    """Approve or decline one payment; what happened is said above the list on the next run."""
    reason = st.session_state.get(f"payments_reason_{payout.request_ref}")
    try:
        if approve:
            approve_payment(runtime(), me, payout.request_ref, source=source_address())
            said = ("success", f"Approved: {payout.recipient_nickname} is being paid {kes_exact(payout.amount)}.")
        else:
            decline_payment(runtime(), me, payout.request_ref, reason=reason, source=source_address())
            said = ("info", f"Declined: {payout.recipient_nickname} will not be paid {kes_exact(payout.amount)}.")
    except (InputError, NotAllowed) as err:
        said = ("error", err.message if isinstance(err, InputError) else str(err))
    except Exception:  # shown plainly, logged in full
        fail("The decision could not be saved.")
    st.session_state.payments_said = said


@st.fragment(run_every="5s")
def approvals() -> None:
    """Payments above the limit, each with who entered it and the two buttons; its maker sees why they cannot."""
    try:
        waiting = awaiting_approval(database())
    except Exception:  # shown plainly, logged in full
        fail("The payments waiting for approval cannot be read right now.")
    said = st.session_state.pop("payments_said", None)
    if said is not None:
        {"success": st.success, "info": st.info, "error": st.error}[said[0]](said[1])
    if not waiting:
        return
    st.subheader(f"Waiting for approval ({len(waiting)})")
    for payout in waiting:
        mine = payout.created_by == me.username
        with st.container(border=True, key=f"payments_waiting_{payout.request_ref}"):
            st.markdown(f"**{kes_in_words(payout.amount)}** to **{payout.recipient_nickname}** · "
                        f"{destination(payout.recipient_type, payout.recipient_details)}")
            st.caption(f"For: {payout.description}" + (f" · Reference: {payout.reference}" if payout.reference else "")
                       + f" · Entered by {'you' if mine else payout.created_by} at {nairobi_clock(payout.created_at)}")
            yes, no, why = st.columns([1, 1, 3])
            yes.button("Approve and pay", key=f"payments_approve_{payout.request_ref}", type="primary",
                       disabled=mine, on_click=decide, args=(payout, True),
                       help="You entered this one: someone else must approve it." if mine else None)
            no.button("Decline", key=f"payments_decline_{payout.request_ref}", on_click=decide, args=(payout, False))
            why.text_input("Reason for declining (optional)", key=f"payments_reason_{payout.request_ref}",
                           label_visibility="collapsed", placeholder="Reason for declining (optional)")
            if mine:
                st.caption("You entered this payment, so another finance user or the owner must approve it. "
                           "You can still decline it.")


@st.fragment(run_every="5s")
def history(recipient_id: int | None, states: list[OutboxState], since: datetime, until: datetime) -> None:
    """The payments for these filters, newest first, settling as K2's results arrive."""
    try:
        payments = payment_history(database(), recipient_id=recipient_id, states=states or None, since=since,
                                   until=until)
    except Exception:  # shown plainly, logged in full
        fail("The payments cannot be read right now.")
    if payments.empty:
        st.info("No payments for these filters. Widen the dates, or choose every recipient and status.")
        return
    now = datetime.now(UTC)
    statuses = [payout_status(row.state, row.k2_status, row.reason, now - row.created_at)
                for row in payments.itertuples(index=False)]
    shown = pd.DataFrame({  # what a clerk looks for first, left: who, how much, how it went, the M-Pesa ref
        "entered": nairobi_time(payments["created_at"]),
        "recipient": payments["recipient_nickname"].fillna(""),
        "amount": [kes_exact(amount) for amount in payments["amount"]],
        "status": [status.label for status in statuses],
        "reference": payments["transaction_reference"].fillna(""),
        "why": [status.detail if status.tone != "success" else "" for status in statuses],
        "description": payments["description"],
        "ours": payments["reference"].fillna(""),
        "by": payments["created_by"].fillna("") + payments["approved_by"].map(
            lambda name: f", approved by {name}" if isinstance(name, str) and name else ""),
        "to": [destination(kind, details) for kind, details in zip(payments["recipient_type"],
                                                                    payments["recipient_details"], strict=True)],
    })
    column = st.column_config.TextColumn
    st.dataframe(shown, hide_index=True, key="payments_table", column_config={
        "entered": st.column_config.DatetimeColumn("Entered", format="D MMM, HH:mm"),
        "recipient": column("Recipient"), "amount": column("Amount"), "status": column("Status"),
        "reference": column("M-Pesa / bank ref"), "why": column("What it means", width="large"),
        "description": column("For"), "ours": column("Your reference"), "by": column("Entered by"),
        "to": column("Paid to"),
    })


me = current_user()
try:  # the navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.PAY_OUT)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Payments")
if can(me.role, Permission.APPROVE):
    approvals()

st.subheader("History")
today = datetime.now(BUSINESS_TIMEZONE).date()
try:
    recipients = list_recipients(database(), include_disabled=True)
except Exception:  # shown plainly, logged in full
    fail("The recipients cannot be read right now.")
names = {recipient.id: f"{recipient.nickname} ({payee_kind(recipient.type)})" for recipient in recipients}
to_whom, status_of, when = st.columns([2, 2, 2])
recipient_id = to_whom.selectbox("Recipient", list(names), format_func=names.__getitem__, index=None,
                                 placeholder="Everyone", key="payments_recipient")
picked = status_of.multiselect("Status", list(STATUSES), placeholder="Every status", key="payments_status")
dates = when.date_input("Dates entered", (today - timedelta(days=29), today), max_value=today, format="DD/MM/YYYY",
                        key="payments_dates")
first, last = (dates[0], dates[-1]) if dates else (today, today)  # mid-pick, one date: that day alone
since, until = day_range(first, last)
states = [state for label in picked for state in STATUSES[label]]
history(recipient_id, states, since, until)

if can(me.role, Permission.EXPORT):
    filters = (recipient_id, tuple(picked), first, last)
    if st.button("Export these payments (CSV)", key="payments_export", help="The export is recorded in the audit "
                                                                             "trail."):
        try:
            data = export_payments(database(), me, recipient_id=recipient_id, states=states or None, since=since,
                                   until=until, source=source_address())
        except NotAllowed as err:
            st.error(str(err))
        except Exception:  # shown plainly, logged in full
            fail("The export could not be made.")
        else:
            st.session_state.payments_file = (filters, data)
    ready = st.session_state.get("payments_file")
    if ready is not None and ready[0] == filters:
        st.download_button("Download the CSV", ready[1], file_name=f"payments-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv",
                           mime="text/csv", on_click="ignore", type="primary", key="payments_download")

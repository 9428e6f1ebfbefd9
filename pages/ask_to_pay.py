"""Ask a customer to pay: an M-Pesa prompt on their phone (STK push), then watch the request settle."""
from __future__ import annotations

import streamlit as st

from merchant import (
    InputError,
    PaymentRequest,
    recent_requests,
    refresh_pending,
    request_payment,
)
from ui import database, fail, k2_client, nairobi_time, settings

SHOWN = ["requested_at", "first_name", "phone_number", "amount", "shown_status", "reason", "mpesa_reference", "note"]


def say_how_it_went(sent: PaymentRequest) -> None:
    """One line on what happened to the request just sent, in the owner's words."""
    who = sent.phone_number or "the customer"
    if sent.shown_status == "Paid":
        st.success(f"{who} paid KES {sent.amount:,}.")
    elif sent.shown_status == "Waiting for customer":
        st.success(f"M-Pesa prompt sent to {who} for KES {sent.amount:,}: they enter their PIN to pay.")
    elif sent.shown_status == "Outcome unknown":
        st.warning(f"{sent.reason} It shows below once K2 tells us; do not ask {who} again until then.")
    else:
        st.error(f"{sent.shown_status}: {sent.reason or 'no reason given.'}")


st.header("Ask a customer to pay")
current = settings()
if not (current.k2_client_id and current.k2_client_secret):
    st.info("Asking customers to pay needs K2: set K2_CLIENT_ID and K2_CLIENT_SECRET, or start the demo with "
            "`streamlit run app.py`.")
    st.stop()

with st.form("ask_to_pay_form", clear_on_submit=False):
    phone = st.text_input("Customer's phone number", placeholder="0712 345 678", key="ask_to_pay_phone")
    amount = st.text_input("Amount (KES)", placeholder="250", key="ask_to_pay_amount")
    name = st.text_input("Customer's first name (optional)", key="ask_to_pay_name")
    note = st.text_input("Note for yourself (optional)", placeholder="2 kg sugar", key="ask_to_pay_note")
    submitted = st.form_submit_button("Send M-Pesa prompt", type="primary", key="ask_to_pay_send")

if submitted:
    try:
        sent = request_payment(
            database(), k2_client(), current, phone_number=phone, amount=amount, note=note, first_name=name
        )
    except InputError as err:
        st.error(err.message)
    except Exception:  # shown plainly, logged in full
        fail("The payment request could not be sent.")
    else:
        say_how_it_went(sent)


@st.fragment(run_every="2s")
def recent() -> None:
    """The newest requests, settling live: pending ones are asked about when their callback is late."""
    st.subheader("Recent requests")
    try:
        engine = database()
        refresh_pending(engine, k2_client())
        requests = recent_requests(engine)
    except Exception:  # shown plainly, logged in full
        fail("The recent requests cannot be read right now.")
    if requests.empty:
        st.caption("No requests yet.")
        return
    requests["requested_at"] = nairobi_time(requests["requested_at"])
    requests["amount"] = [f"{amount:,.2f}" if amount is not None else "" for amount in requests["amount"]]
    st.dataframe(
        requests[SHOWN],
        hide_index=True,
        key="ask_to_pay_recent",
        column_config={
            "requested_at": st.column_config.DatetimeColumn("Asked at", format="D MMM, HH:mm:ss"),
            "first_name": "Name",
            "phone_number": "Phone",
            "amount": "Amount (KES)",
            "shown_status": "Status",
            "reason": "Why",
            "mpesa_reference": "M-Pesa ref",
            "note": "Note",
        },
    )


recent()

"""Ask a customer to pay: an M-Pesa prompt on their phone (STK push), then watch the request settle."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed
from merchant.errors import InputError
from merchant.payment_requests import PaymentRequest, UnansweredPrompt, get_request, recent_requests, request_payment
from ui import database, fail, nairobi_time, runtime, settings
from ui.signin import current_user, source_address
from ui.words import kes, phone, request_status

FIELDS = ("ask_to_pay_phone", "ask_to_pay_amount", "ask_to_pay_name", "ask_to_pay_note")


def new_form() -> None:
    """A fresh token (one submission, one request) and, after a send, empty fields."""
    st.session_state.ask_to_pay_token = uuid.uuid4().hex
    for key in FIELDS:
        st.session_state[key] = ""


def submit(fields: dict[str, str]) -> None:
    """The form's Send: its token is spent before anything is sent, so a run cut short by a second click or a
    rerun can never leave it for the next customer; the request it made still shows."""
    previous = st.session_state.get("ask_to_pay_last")
    token = st.session_state.ask_to_pay_token
    st.session_state.ask_to_pay_last = token
    st.session_state.ask_to_pay_token = uuid.uuid4().hex
    send(fields, token, previous=previous)


def send(fields: dict[str, str], token: str, *, previous: str | None = None, repeat_ok: bool = False) -> None:
    """Queue the prompt under `token`; the same token again is the same request, never a second."""
    try:
        sent = request_payment(
            runtime(), current_user(), request_ref=token, phone_number=fields["phone"], amount=fields["amount"],
            first_name=fields["name"], note=fields["note"], repeat_ok=repeat_ok, source=source_address(),
        )
    except UnansweredPrompt as err:
        st.session_state.ask_to_pay_last = previous
        earlier = err.earlier
        if earlier.request_ref == previous and earlier.amount == err.asked:
            done()  # the click just made, again (its run was cut short before the form cleared): nothing new
        asked = nairobi_time(pd.Series([earlier.requested_at])).iloc[0]
        st.session_state.ask_to_pay_repeat = (
            fields,
            token,
            f"{phone(earlier.phone_number)} was asked for {kes(earlier.amount)} at {asked:%H:%M} and has not "
            "answered yet. A second prompt could be paid twice.",
        )
        return
    except (InputError, NotAllowed) as err:
        st.session_state.ask_to_pay_last = previous
        st.error(err.message if isinstance(err, InputError) else str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("The payment request could not be sent.")
    st.session_state.ask_to_pay_last = sent.request_ref
    done()


def done() -> None:
    """After a send: no pending question, and an empty form."""
    st.session_state.pop("ask_to_pay_repeat", None)
    st.session_state.ask_to_pay_clear = True
    st.rerun()


def say_how_it_is_going(request: PaymentRequest) -> None:
    """One line on the request just sent, kept in step with it."""
    status = request_status(request.state, request.reason, datetime.now(UTC) - request.requested_at)
    who = phone(request.phone_number)
    line = f"**{status.label}** · {who} · {kes(request.amount)}. {status.detail}"
    if request.mpesa_reference:
        line += f" M-Pesa ref {request.mpesa_reference}."
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[status.tone](line)


st.header("Ask a customer to pay")
current_user()
current = settings()
if not (current.k2_client_id and current.k2_client_secret):
    st.info("Asking customers to pay needs K2: set K2_CLIENT_ID and K2_CLIENT_SECRET, or start the demo with "
            "`streamlit run app.py`.")
    st.stop()

if "ask_to_pay_token" not in st.session_state or st.session_state.pop("ask_to_pay_clear", False):
    new_form()

with st.form("ask_to_pay_form", clear_on_submit=False):
    st.text_input("Customer's phone number", placeholder="e.g. 0712 345 678", key="ask_to_pay_phone")
    st.text_input("Amount (KES, whole shillings)", placeholder="e.g. 250", key="ask_to_pay_amount")
    st.text_input("Customer's first name (optional)", key="ask_to_pay_name")
    st.text_input("Note for yourself (optional)", placeholder="e.g. 2 kg sugar", key="ask_to_pay_note")
    submitted = st.form_submit_button("Send M-Pesa prompt", type="primary", key="ask_to_pay_send")

typed = {name: st.session_state[f"ask_to_pay_{name}"] for name in ("phone", "amount", "name", "note")}
if submitted and (typed["phone"] or typed["amount"] or not st.session_state.get("ask_to_pay_last")):
    submit(typed)  # an empty form sent again right after a send is a second click, not a request

if "ask_to_pay_repeat" in st.session_state:
    fields, token, warning = st.session_state.ask_to_pay_repeat
    st.warning(f"{warning} Send another prompt anyway?")
    keep, again = st.columns(2)
    if keep.button("Wait for the first one", key="ask_to_pay_repeat_cancel", type="primary"):
        del st.session_state.ask_to_pay_repeat
        st.session_state.ask_to_pay_clear = True
        st.rerun()
    if again.button("Send another prompt", key="ask_to_pay_repeat_send"):
        send(fields, token, repeat_ok=True)  # this question's own token: a double click sends it once


@st.fragment(run_every="2s")
def live() -> None:
    """The request just sent and the newest ones, settling as K2's results arrive (the server asks K2 when late)."""
    try:
        engine = database()
        last_ref = st.session_state.get("ask_to_pay_last")
        last = get_request(engine, last_ref) if last_ref else None
        requests = recent_requests(engine)
    except Exception:  # shown plainly, logged in full
        fail("The requests cannot be read right now.")
    if last is not None:
        say_how_it_is_going(last)
    st.subheader("Recent requests")
    if requests.empty:
        st.caption("No requests yet. Enter a customer's phone number and an amount above to send the first prompt.")
        return
    now = datetime.now(UTC)
    statuses = [request_status(state, reason, now - when) for state, reason, when
                in zip(requests["state"], requests["reason"], requests["requested_at"], strict=True)]
    shown = requests.assign(
        requested_at=nairobi_time(requests["requested_at"]),
        phone_number=requests["phone_number"].map(phone),
        amount=requests["amount"].map(kes),
        status=[status.label for status in statuses],
        why=[status.detail if status.tone in ("error", "warning") else "" for status in statuses],
    ).fillna({"first_name": "", "mpesa_reference": "", "note": ""})
    st.dataframe(
        shown[["requested_at", "first_name", "phone_number", "amount", "status", "why", "mpesa_reference", "note"]],
        hide_index=True,
        key="ask_to_pay_recent",
        column_config={
            "requested_at": st.column_config.DatetimeColumn("Asked at", format="D MMM, HH:mm:ss"),
            "first_name": "Name",
            "phone_number": "Phone",
            "amount": "Amount",
            "status": "Status",
            "why": "What it means",
            "mpesa_reference": "M-Pesa ref",
            "note": "Note",
        },
    )


live()

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


def field(name: str) -> str:
    """The key of one of the open form's widgets. Keys carry the form's token, so a click still on its way from a
    form that has sent (a double or triple click) lands on a form that no longer exists and sends nothing."""
    return f"ask_to_pay_{name}_{st.session_state.ask_to_pay_token}"


def send(fields: dict[str, str], token: str, *, repeat_ok: bool = False) -> None:
    """Queue the prompt under `token`: the same token again is the same request, never a second. A refusal keeps
    the form and its token, to be corrected; a request made gives the next customer a new, empty form."""
    try:
        sent = request_payment(
            runtime(), current_user(), request_ref=token, phone_number=fields["phone"], amount=fields["amount"],
            first_name=fields["name"], note=fields["note"], repeat_ok=repeat_ok, source=source_address(),
        )
    except UnansweredPrompt as err:
        earlier = err.earlier
        asked = nairobi_time(pd.Series([earlier.requested_at])).iloc[0]
        st.session_state.ask_to_pay_repeat = (
            fields,
            token,
            f"{phone(earlier.phone_number)} was asked for {kes(earlier.amount)} at {asked:%H:%M} and has not "
            "answered yet. A second prompt could be paid twice.",
        )
        return
    except (InputError, NotAllowed) as err:
        st.error(err.message if isinstance(err, InputError) else str(err))
        return
    except Exception:  # shown plainly, logged in full; a try again reuses the token, so it cannot ask twice
        fail("The payment request could not be sent.")
    # No Streamlit call between the send and here, so a run cut short cannot leave this token to the next form.
    st.session_state.ask_to_pay_token = uuid.uuid4().hex
    st.session_state.ask_to_pay_last = sent.request_ref
    st.session_state.pop("ask_to_pay_repeat", None)
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

if "ask_to_pay_token" not in st.session_state:
    st.session_state.ask_to_pay_token = uuid.uuid4().hex

with st.form(field("form")):
    typed = {
        "phone": st.text_input("Customer's phone number", placeholder="e.g. 0712 345 678", key=field("phone")),
        "amount": st.text_input("Amount (KES, whole shillings)", placeholder="e.g. 250", key=field("amount")),
        "name": st.text_input("Customer's first name (optional)", key=field("name")),
        "note": st.text_input("Note for yourself (optional)", placeholder="e.g. 2 kg sugar", key=field("note")),
    }
    submitted = st.form_submit_button("Send M-Pesa prompt", type="primary", key=field("send"))
if submitted:
    send(typed, st.session_state.ask_to_pay_token)

if "ask_to_pay_repeat" in st.session_state:
    fields, token, warning = st.session_state.ask_to_pay_repeat
    st.warning(f"{warning} Send another prompt anyway?")
    keep, again = st.columns(2)
    if keep.button("Wait for the first one", key="ask_to_pay_repeat_cancel", type="primary"):
        del st.session_state.ask_to_pay_repeat
        st.session_state.ask_to_pay_token = uuid.uuid4().hex  # an empty form
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

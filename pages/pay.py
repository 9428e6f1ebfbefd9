"""Pay someone: choose a recipient, say how much and what for, check it in words and figures, send it once, and
watch it settle. The owner also sets the approval limit and which K2 API pays out here."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import streamlit as st

from merchant.access import NotAllowed, Permission, can, require
from merchant.errors import InputError
from merchant.payouts.payments import PaymentDraft, Payout, check_payment, get_payment, pay
from merchant.payouts.recipients import RecipientView, list_recipients
from merchant.preferences import load_preferences, set_approval_threshold, set_payout_api
from ui import database, fail, runtime, settings
from ui.signin import current_user, source_address
from ui.words import destination, kes, kes_exact, kes_in_words, nairobi_clock, payout_status

FIELDS = ("pay_recipient", "pay_amount", "pay_description", "pay_reference")
APIS = {"v1": "K2 v1: PAY (the default)", "v2": "K2 v2: send money"}


def who(recipient: RecipientView) -> str:
    return f"{recipient.nickname} · {destination(recipient.type, recipient.details)}"


def review(recipient_id: int | None, fields: dict[str, str]) -> None:
    """The form's Review: check everything, keep the draft under a fresh token (the confirmation's one payment)."""
    try:
        draft = check_payment(runtime(), me, recipient_id=recipient_id, amount=fields["amount"],
                              description=fields["description"], reference=fields["reference"])
    except (InputError, NotAllowed) as err:
        st.error(err.message if isinstance(err, InputError) else str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("The payment could not be checked.")
    st.session_state.pay_draft = (uuid.uuid4().hex, recipient_id, fields, draft)


def confirm(draft: PaymentDraft) -> None:
    """Who, where, how much (in words and figures) and what for, with the one button that sends it."""
    with st.container(border=True, key="pay_confirm"):
        st.markdown("#### Check before you pay")
        st.markdown(f"**To:** {draft.recipient.nickname}" + (f" ({draft.recipient.name})" if draft.recipient.name
                                                             and draft.recipient.name != draft.recipient.nickname
                                                             else ""))
        st.markdown(f"**Where:** {destination(draft.recipient.type, draft.recipient.details)}")
        st.markdown(f"**Amount:** {kes_in_words(draft.amount)}")
        st.markdown(f"**For:** {draft.description}" + (f" · **Your reference:** {draft.reference}"
                                                       if draft.reference else ""))
        if draft.needs_approval:
            st.info(f"This is above the approval limit of {kes(draft.threshold)}: it waits until another finance "
                    "user or the owner approves it on the Payments page.")
        if draft.earlier is not None:
            st.warning(f"{draft.earlier.recipient_nickname} was already paid {kes_exact(draft.earlier.amount)} "
                       f"at {nairobi_clock(draft.earlier.created_at)}. Sending this pays them a second time.")
        send, change = st.columns([1, 1])
        label = "Send for approval" if draft.needs_approval else f"Pay {kes_exact(draft.amount)} now"
        if send.button(label, type="primary", key="pay_send", width="stretch"):
            submit()
        if change.button("Change it", key="pay_change", width="stretch"):
            del st.session_state.pay_draft
            st.rerun()


def submit() -> None:
    """Send the confirmed draft under its token: the same token again (a double click, a rerun) is the same
    payment, never a second."""
    token, recipient_id, fields, _ = st.session_state.pay_draft
    try:
        sent = pay(runtime(), me, request_ref=token, recipient_id=recipient_id, amount=fields["amount"],
                   description=fields["description"], reference=fields["reference"], source=source_address())
    except (InputError, NotAllowed) as err:
        st.error(err.message if isinstance(err, InputError) else str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("The payment could not be sent.")
    st.session_state.pay_last = sent.request_ref
    st.session_state.pop("pay_draft", None)
    st.session_state.pay_clear = True
    st.rerun()


def say_how_it_is_going(payout: Payout) -> None:
    """One line on the payment just sent, kept in step with it."""
    status = payout_status(payout.state, payout.k2_status, payout.reason, datetime.now(UTC) - payout.created_at)
    line = (f"**{status.label}** · {payout.recipient_nickname} · {kes_exact(payout.amount)}. {status.detail}")
    if payout.transaction_reference:
        line += f" M-Pesa ref {payout.transaction_reference}." if payout.recipient_type != "bank_account" else (
            f" Bank ref {payout.transaction_reference}.")
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[status.tone](line)


me = current_user()
try:  # the navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.PAY_OUT)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Pay someone")
current = settings()
if not (current.k2_client_id and current.k2_client_secret):
    st.info("Paying needs K2: set K2_CLIENT_ID and K2_CLIENT_SECRET, or start the demo with `streamlit run app.py`.")
    st.stop()
try:
    preferences = load_preferences(database())
    recipients = list_recipients(database(), confirmed_only=preferences.payout_api == "v1")
except Exception:  # shown plainly, logged in full
    fail("The recipients cannot be read right now.")

if st.session_state.pop("pay_clear", False):  # after a payment: an empty form (set, not dropped: the browser
    for key in FIELDS:                            # would send back what it still shows)
        st.session_state[key] = None if key == "pay_recipient" else ""
by_id = {recipient.id: recipient for recipient in recipients}
if not recipients:
    st.info("There is no one to pay yet: add a recipient on the Recipients page first.")
else:
    with st.form("pay_form"):
        chosen = st.selectbox("Recipient", list(by_id), format_func=lambda key: who(by_id[key]), index=None,
                              placeholder="Type a name or number", key="pay_recipient")
        st.text_input("Amount (KES)", placeholder="e.g. 1500 (whole shillings to M-Pesa; cents only to a bank)",
                      key="pay_amount")
        st.text_input("What it is for", placeholder="e.g. Stock, invoice 114", max_chars=100, key="pay_description")
        st.text_input("Your reference (optional)", placeholder="e.g. INV-114", max_chars=50, key="pay_reference")
        reviewed = st.form_submit_button("Review payment", type="primary", key="pay_review")
    typed = {name: st.session_state[f"pay_{name}"] or "" for name in ("amount", "description", "reference")}
    if reviewed and (chosen is not None or typed["amount"] or not st.session_state.get("pay_last")):
        review(chosen, typed)  # an empty form sent again right after a payment is a second click, not a payment

if "pay_draft" in st.session_state:
    confirm(st.session_state.pay_draft[3])


@st.fragment(run_every="2s")
def live() -> None:
    """The payment just sent, settling as K2's results arrive (the server asks K2 when they are late)."""
    last_ref = st.session_state.get("pay_last")
    if not last_ref:
        return
    try:
        last = get_payment(database(), last_ref)
    except Exception:  # shown plainly, logged in full
        fail("The payment cannot be read right now.")
    if last is not None:
        say_how_it_is_going(last)
        st.caption("Every payment, and those waiting for approval, are on the Payments page.")


live()

if can(me.role, Permission.MANAGE_SETTINGS):
    with st.expander("Payout settings (owner only)"):
        with st.form("pay_settings"):
            shown_limit = "" if preferences.approval_threshold is None else f"{preferences.approval_threshold:,.0f}"
            limit = st.text_input("Approval limit (KES)", value=shown_limit, key="pay_threshold",
                                  help="A payment above this waits for a second finance user or the owner. "
                                       "Leave it empty for no limit.")
            api = st.radio("Send payouts through", list(APIS), format_func=APIS.__getitem__, key="pay_api",
                           index=list(APIS).index(preferences.payout_api), horizontal=True)
            if st.form_submit_button("Save payout settings", key="pay_settings_save"):
                try:
                    if limit != shown_limit:
                        set_approval_threshold(database(), me, limit, source=source_address())
                    if api != preferences.payout_api:
                        set_payout_api(database(), me, api, source=source_address())
                except InputError as err:
                    st.error(err.message)
                else:
                    st.success("Saved. It applies to payments entered from now on.")

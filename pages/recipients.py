"""Recipients: the M-Pesa wallets, bank accounts, tills and paybills the business pays; add, find, rename, disable."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, require
from merchant.errors import InputError
from merchant.payouts import (
    DuplicateRecipient,
    RecipientNotAdded,
    RecipientState,
    RecipientType,
    RecipientView,
    add_recipient,
    check_recipient,
    disable_recipient,
    list_branches,
    list_recipients,
    rename_recipient,
)
from ui import database, fail, nairobi_time, runtime
from ui.signin import current_user, source_address
from ui.words import phone

TYPES = {RecipientType.MOBILE_WALLET: "M-Pesa wallet", RecipientType.BANK_ACCOUNT: "Bank account",
         RecipientType.TILL: "Till", RecipientType.PAYBILL: "Paybill"}
STATES = {RecipientState.CONFIRMED: "Ready", RecipientState.ADDING: "Being added",
          RecipientState.UNCONFIRMED: "Not confirmed by K2"}
FORM = {  # per type: (K2 field, label, placeholder)
    RecipientType.MOBILE_WALLET: (("first_name", "First name", ""), ("last_name", "Last name", ""),
                                  ("phone_number", "Phone number", "e.g. 0712 345 678"),
                                  ("email", "Email (optional)", "")),
    RecipientType.BANK_ACCOUNT: (("account_name", "Account name", "as the bank has it"),
                                 ("account_number", "Account number", "")),
    RecipientType.TILL: (("till_name", "Till name", ""), ("till_number", "Till number", "e.g. 123456")),
    RecipientType.PAYBILL: (("paybill_name", "Business name", "e.g. Kenya Power"),
                            ("paybill_number", "Paybill number", "e.g. 888880"),
                            ("paybill_account_number", "Account number at that paybill", "")),
}
SAME = {RecipientType.MOBILE_WALLET: "This phone number", RecipientType.BANK_ACCOUNT: "This bank account",
        RecipientType.TILL: "This till", RecipientType.PAYBILL: "This paybill and account number"}
PASTE = "Paste a reference below"
JUST_NOW = timedelta(seconds=30)


def pays_to(view: RecipientView, branches: dict[str, str]) -> str:
    """Where the money goes, as a clerk reads it."""
    d = view.details
    if view.type is RecipientType.MOBILE_WALLET:
        return phone(d["phone_number"])
    if view.type is RecipientType.BANK_ACCOUNT:
        return f"{d['account_number']} at {branches.get(d['bank_branch_ref'], 'a branch not on the list')}"
    if view.type is RecipientType.TILL:
        return f"Till {d['till_number']}"
    return f"Paybill {d['paybill_number']}, account {d['paybill_account_number']}"


def added(view: RecipientView) -> None:
    st.session_state.recipients_pending = None
    st.session_state.recipients_clear = True
    if view.confirmed:
        st.session_state.recipients_done = ("success", f"Added {view.nickname} ({TYPES[view.type]}). It can be paid.")
    else:
        st.session_state.recipients_done = ("warning", f"K2 did not answer in time, so {view.nickname} is kept but "
                                            "not confirmed. Do not add it again; look at it below in a minute.")
    st.rerun()


def add(kind: RecipientType, nickname: str, details: dict[str, str], *, confirm: bool = False) -> None:
    """Add at K2 and here. The same form sent again right away (a double click) finds the one it just made."""
    previous = st.session_state.get("recipients_last")
    st.session_state.recipients_last = (kind, nickname, details)
    try:
        with st.spinner("Adding at K2…"):
            view = add_recipient(runtime(), me, type=kind, nickname=nickname, details=details,
                                 confirm_duplicate=confirm, source=source_address())
    except DuplicateRecipient as err:
        mine = [v for v in err.existing if v.created_by == me.username and datetime.now(UTC) - v.created_at < JUST_NOW]
        if mine and previous == (kind, nickname, details):  # the click just made, arriving again
            added(mine[-1])
        st.session_state.recipients_pending = (kind, nickname, details, err.existing)
        return
    except (InputError, RecipientNotAdded, NotAllowed) as err:
        st.error(getattr(err, "message", str(err)))
        return
    except Exception:  # shown plainly, logged in full
        fail("The recipient could not be added.")
    added(view)


def change(done: str, make: Callable[[], object]) -> None:
    try:
        make()
    except (InputError, RecipientNotAdded, NotAllowed) as err:
        st.error(getattr(err, "message", str(err)))
        return
    except Exception:  # shown plainly, logged in full
        fail("The change could not be saved.")
    st.session_state.recipients_done = ("success", done)
    st.rerun()


me = current_user()
try:  # the frame's navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.PAY_OUT)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Recipients")
if done := st.session_state.pop("recipients_done", None):
    getattr(st, done[0])(done[1])
try:
    engine = database()
    branches = {branch.reference: branch.name for branch in list_branches(engine)}
except Exception:  # shown plainly, logged in full
    fail("The recipients cannot be read right now.")

with st.expander("Add a recipient", expanded=True):
    kind = st.radio("Type", list(TYPES), format_func=TYPES.__getitem__, horizontal=True, key="recipients_type")
    prefix = f"recipients_add_{kind.value}_"
    if st.session_state.pop("recipients_clear", False):
        for field in [*(field for field, _, _ in FORM[kind]), "pasted", "nickname"]:
            st.session_state[f"{prefix}{field}"] = ""
    with st.form(f"recipients_form_{kind.value}"):
        columns = st.columns(2)
        for index, (field, label, hint) in enumerate(FORM[kind]):
            columns[index % 2].text_input(label, placeholder=hint, key=f"{prefix}{field}")
        if kind is RecipientType.BANK_ACCOUNT:
            options = [*branches, PASTE]
            columns[0].selectbox("Bank branch", options, format_func=lambda ref: branches.get(ref, ref),
                                 key=f"{prefix}branch", help="The owner keeps this list in Settings.")
            columns[1].text_input("Branch reference from the K2 dashboard (if not in the list)",
                                  placeholder="e.g. 3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c", key=f"{prefix}pasted")
            columns[0].radio("Settlement method", ["EFT", "RTS"], horizontal=True, key=f"{prefix}settlement_method",
                             help="EFT: electronic funds transfer. RTS: real-time settlement.")
        nickname = st.text_input("Nickname (optional: how you will find it; the name if left blank)",
                                 placeholder="e.g. Kamau, driver", key=f"{prefix}nickname")
        if st.form_submit_button("Add recipient", type="primary", key="recipients_add"):
            fields = {field: st.session_state[f"{prefix}{field}"] for field, _, _ in FORM[kind]}
            if kind is RecipientType.BANK_ACCOUNT:
                pasted = st.session_state[f"{prefix}pasted"].strip()
                chosen = st.session_state[f"{prefix}branch"]
                fields["bank_branch_ref"] = pasted or ("" if chosen == PASTE else chosen or "")
                fields["settlement_method"] = st.session_state[f"{prefix}settlement_method"]
            add(kind, nickname, fields)

if pending := st.session_state.get("recipients_pending"):
    kind_, nickname_, details_, existing = pending
    names = ", ".join(f"**{v.nickname}** (added by {v.created_by}{', disabled' if v.disabled else ''})"
                      for v in existing)
    st.warning(f"{SAME[kind_]} is already a recipient: {names}. Add another recipient for it anyway?")
    keep, again = st.columns(2)
    if keep.button("Do not add it", type="primary", key="recipients_dup_cancel"):
        st.session_state.recipients_pending = None
        st.session_state.recipients_clear = True
        st.rerun()
    if again.button("Add it anyway", key="recipients_dup_add"):
        st.session_state.recipients_pending = None  # spent before asking: a double click adds it once
        add(kind_, nickname_, details_, confirm=True)

st.subheader("Who you pay")
search, show_disabled = st.columns([3, 1], vertical_alignment="bottom")
words = search.text_input("Find", placeholder="nickname, name, phone, account or till", key="recipients_search")
disabled_too = show_disabled.checkbox("Show disabled ones", key="recipients_disabled")
try:
    views = list_recipients(engine, search=words, include_disabled=disabled_too)
except Exception:  # shown plainly, logged in full
    fail("The recipients cannot be read right now.")
if not views:
    st.caption("No recipient matches that search." if words else "No recipients yet: add the first one above.")
    st.stop()
st.dataframe(pd.DataFrame({
    "nickname": [view.nickname for view in views],
    "type": [TYPES[view.type] for view in views],
    "name": [view.name for view in views],
    "pays_to": [pays_to(view, branches) for view in views],
    "status": ["Disabled" if view.disabled else STATES[view.state] for view in views],
    "added_by": [view.created_by for view in views],
    "added_at": nairobi_time(pd.Series(pd.to_datetime([view.created_at for view in views], utc=True))),
}), hide_index=True, key="recipients_table", column_config={
    "nickname": "Nickname", "type": "Type", "name": "Name", "pays_to": "Pays to", "status": "Status",
    "added_by": "Added by", "added_at": st.column_config.DatetimeColumn("Added", format="D MMM YYYY, HH:mm"),
})

st.subheader("Look at or change one")
by_id = {view.id: view for view in views}
chosen_id = st.selectbox("Recipient", list(by_id), key="recipients_pick",
                         format_func=lambda key: f"{by_id[key].nickname} · {pays_to(by_id[key], branches)}")
view = by_id[chosen_id]
facts = {"Type": TYPES[view.type], "Name at K2": view.name, "Pays to": pays_to(view, branches),
         "Status": "Disabled" if view.disabled else STATES[view.state],
         "K2 recipient reference": view.k2_reference or "none yet",
         "Added": f"by {view.created_by}, {nairobi_time(pd.Series([view.created_at])).iloc[0]:%-d %b %Y, %H:%M}"}
if view.type is RecipientType.MOBILE_WALLET and view.details.get("email"):
    facts["Email"] = view.details["email"]
if view.type is RecipientType.BANK_ACCOUNT:
    facts["Branch reference"] = view.details["bank_branch_ref"]
    facts["Settlement method"] = view.details["settlement_method"]
st.table({"What": list(facts), "Value": list(facts.values())}, hide_index=True, hide_header=True)


with st.form(f"recipients_rename_{view.id}"):
    new_name = st.text_input("Nickname", value=view.nickname, key=f"recipients_nickname_{view.id}")
    if st.form_submit_button("Save the nickname", key="recipients_rename"):
        change(f"Renamed to {' '.join(new_name.split())}.",
               lambda: rename_recipient(engine, me, view.id, new_name, source=source_address()))
if view.state is RecipientState.UNCONFIRMED and view.k2_location and st.button("Ask K2 again", key="recipients_check"):
    change(f"{view.nickname} is confirmed by K2.", lambda: check_recipient(runtime(), me, view.id,
                                                                          source=source_address()))
if not view.disabled and st.button("Disable", key="recipients_disable"):
    st.session_state.recipients_disabling = view.id
if st.session_state.get("recipients_disabling") == view.id:
    st.warning(f"Disable {view.nickname}? It will no longer be offered for payments; payments already made to it "
               "stay in the history.")
    yes, no = st.columns(2)
    if no.button("Keep it", key="recipients_disable_no", type="primary"):
        st.session_state.recipients_disabling = None
        st.rerun()
    if yes.button(f"Disable {view.nickname}", key="recipients_disable_yes"):
        st.session_state.recipients_disabling = None
        change(f"{view.nickname} is disabled.", lambda: disable_recipient(engine, me, view.id, source=source_address()))

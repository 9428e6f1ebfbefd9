"""Settle to your account: move the K2 balance to the business's own bank account or M-Pesa wallet, confirm it
in words and figures, and watch it settle; add and list the settlement accounts."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, can
from merchant.errors import InputError
from merchant.outbound import OutboxState
from merchant.settlements import (
    Account,
    AccountKind,
    Transfer,
    accounts,
    add_bank_account,
    add_wallet,
    bank_branches,
    get_transfer,
    k2_settlements,
    match_unanswered,
    plan_transfer,
    received_since_last_settlement,
    refresh_account,
    request_transfer,
    transfers,
)
from ui import database, fail, nairobi_time, runtime, settings
from ui.signin import current_user, source_address
from ui.words import Status, kes_exact, nairobi_clock, phone, shillings_in_words

EVERYTHING = "Everything available, to your default settlement account"
ONE_ACCOUNT = "An amount, to one of your accounts"


def described(account: Account) -> str:
    """`Equity main (bank account 0123456789, Duka Letu Ltd)`."""
    d = account.details
    if account.kind is AccountKind.BANK:
        return f"{account.nickname} (bank account {d.get('account_number')}, {d.get('account_name')})"
    return f"{account.nickname} (M-Pesa {phone(d.get('phone_number'))}, {d.get('first_name')} {d.get('last_name')})"


def transfer_status(transfer: Transfer, age: timedelta) -> Status:
    """Where a transfer stands, as a finance clerk reads it."""
    to = transfer.account.nickname if transfer.account else "your default settlement account"
    if transfer.completed:
        moved = f"{kes_exact(transfer.moved)} moved to {to}. " if transfer.amount is None and transfer.moved else ""
        if transfer.references:
            kind = "M-Pesa" if transfer.account is None or transfer.account.kind is AccountKind.WALLET else "Bank"
            return Status("Completed", f"{moved}{kind} ref {', '.join(transfer.references)}.", "success")
        return Status("Completed", f"{moved}K2 gives no bank reference: look for it on your bank statement.",
                      "success")
    reason = (transfer.reason or "").rstrip(".")
    if transfer.state is OutboxState.FAILED:
        if "insufficient" in reason.lower():
            return Status("Failed", f"K2 says: {reason}. Your K2 account holds less than this, so nothing moved. "
                          "Transfer less, or choose everything available.", "error")
        return Status("Failed", f"K2 says: {reason or 'the transfer failed'}. Nothing moved.", "error")
    if transfer.state is OutboxState.REJECTED:
        if reason.startswith(("destination_reference", "destinations")):
            return Status("Refused by K2", f"K2 does not know this account (K2 said: {reason}). Nothing moved; "
                          "check the account in your K2 dashboard.", "error")
        return Status("Refused by K2", f"{reason or 'K2 refused it'}. Nothing moved.", "error")
    if transfer.state is OutboxState.NOT_SENT:
        return Status("Not sent", "K2 could not be reached, so nothing moved. Try again.", "error")
    if transfer.state in (OutboxState.QUEUED, OutboxState.SENDING):
        return Status("Queued", "Being sent to K2.", "info")
    if transfer.state is OutboxState.ACCEPTED:
        return Status("Sent", "K2 has it; this shows Completed once K2 confirms the money moved.", "info")
    if transfer.state is OutboxState.UNKNOWN:
        if age > timedelta(days=1):
            return Status("Outcome unknown", "K2 never confirmed this transfer. Check your K2 dashboard or your "
                          "statement before transferring again.", "warning")
        return Status("Outcome unknown", "K2 did not answer, so the money may have moved. Do not transfer it again: "
                      "this changes when K2 tells us. If it has not by tomorrow, check your K2 dashboard.", "warning")
    return Status(transfer.state.value.replace("_", " ").capitalize(), reason, "info")


def show(status: Status, line: str) -> None:
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[status.tone](line)


st.header("Settle to your account")
me = current_user()
if not can(me.role, Permission.SETTLE):
    st.error(str(NotAllowed(me.role, Permission.SETTLE)))
    st.stop()
if not (settings().k2_client_id and settings().k2_client_secret):
    st.info("Settlements need K2: set K2_CLIENT_ID and K2_CLIENT_SECRET, or start the demo with `streamlit run app.py`.")
    st.stop()
try:
    engine = database()
    known = accounts(engine)
    since = received_since_last_settlement(engine)
except Exception:  # shown plainly, logged in full
    fail("The settlement accounts cannot be read right now.")
ready = {account.id: account for account in known if account.ready}
if "settle_token" not in st.session_state:
    st.session_state.settle_token = uuid.uuid4().hex
if st.session_state.pop("settle_clear", False):
    st.session_state.settle_amount = ""
just_added = st.session_state.pop("settle_add_clear", False)  # an add finished in the run before this one
if just_added:
    for key in ("nickname", "account_name", "account_number", "branch_ref", "first", "last", "phone"):
        st.session_state[f"settle_add_{key}"] = ""

transfer_tab, history_tab, accounts_tab = st.tabs(["Transfer", "History", "Settlement accounts"])

with transfer_tab:
    form_side, count_side = st.columns([3, 2], gap="large")
    with count_side:

        @st.fragment(run_every="2s")
        def received() -> None:
            """Money in since the last settlement, kept in step as payments and settlements arrive."""
            try:
                now = received_since_last_settlement(database())
            except Exception:  # shown plainly, logged in full
                fail("The payments received cannot be read right now.")
            st.metric("Received since the last settlement", kes_exact(now.total), border=True)
            when = f"since the last settlement ({nairobi_clock(now.since)})" if now.since else \
                "recorded here so far (no settlement yet)"
            st.caption(f"{now.count:,} payment{'' if now.count == 1 else 's'} {when}. **Our own count** of the "
                       "payments K2 told us of, **not K2's balance**: K2's fees and anything it did not tell us of "
                       "are not in it.")

        received()
    with form_side:
        what = st.radio("What to transfer", [ONE_ACCOUNT, EVERYTHING], key="settle_what", horizontal=True)
        with st.form("settle_form"):
            if what == ONE_ACCOUNT:
                if not ready:
                    st.caption("No settlement account yet: add one on the Settlement accounts tab.")
                chosen = st.selectbox("To", list(ready), format_func=lambda id: described(ready[id]), index=None,
                                      key="settle_account", placeholder="Choose an account")
                st.text_input("Amount (KES; cents allowed to a bank account)", placeholder="e.g. 25,000",
                              key="settle_amount")
            else:
                chosen = None
                st.caption("All the money available in your K2 account goes to the settlement account set as "
                           "your default at K2.")
            review = st.form_submit_button("Review the transfer", type="primary", key="settle_review")
        if review:
            try:
                everything = what == EVERYTHING
                amount = None if everything else st.session_state.get("settle_amount", "")
                plan_transfer(runtime(), me, account_id=chosen, amount=amount, everything=everything)
                st.session_state.settle_confirm = (st.session_state.settle_token, chosen, amount, everything)
            except (InputError, NotAllowed) as err:
                st.session_state.pop("settle_confirm", None)
                st.error(err.message if isinstance(err, InputError) else str(err))

        if "settle_confirm" in st.session_state:
            token, account_id, amount, everything = st.session_state.settle_confirm
            try:
                plan = plan_transfer(runtime(), me, account_id=account_id, amount=amount, everything=everything)
            except (InputError, NotAllowed) as err:
                del st.session_state.settle_confirm
                st.error(err.message if isinstance(err, InputError) else str(err))
                st.stop()
            with st.container(border=True, key="settle_confirm_box"):
                if plan.amount is None or plan.account is None:
                    st.markdown("Transfer **everything available** in your K2 account to **your default settlement "
                                f"account** at K2? We counted {kes_exact(since.total)} received since the last "
                                "settlement; K2's balance may differ.")
                    label = "Yes, transfer everything"
                else:
                    st.markdown(f"Transfer **{kes_exact(plan.amount)}** ({shillings_in_words(plan.amount)}) to "
                                f"**{described(plan.account)}**?")
                    label = f"Yes, transfer {kes_exact(plan.amount)}"
                yes, change = st.columns(2)
                if yes.button(label, type="primary", key="settle_yes"):
                    try:  # the token is spent only once the transfer is queued: a second click finds it queued
                        request_transfer(runtime(), me, request_ref=token, account_id=account_id, amount=amount,
                                         everything=everything, source=source_address())
                    except (InputError, NotAllowed) as err:
                        st.session_state.pop("settle_confirm", None)
                        st.error(err.message if isinstance(err, InputError) else str(err))
                        st.stop()
                    except Exception:  # shown plainly, logged in full
                        fail("The transfer could not be queued.")
                    st.session_state.settle_last = token
                    st.session_state.settle_token = uuid.uuid4().hex
                    st.session_state.settle_clear = True
                    del st.session_state.settle_confirm
                    st.rerun()
                if change.button("Change it", key="settle_change"):
                    del st.session_state.settle_confirm
                    st.rerun()

        @st.fragment(run_every="2s")
        def last_transfer() -> None:
            """The transfer just queued, kept in step with K2's results."""
            ref = st.session_state.get("settle_last")
            if not ref:
                return
            try:
                match_unanswered(database())
                transfer = get_transfer(database(), ref)
            except Exception:  # shown plainly, logged in full
                fail("The transfer cannot be read right now.")
            if transfer is not None:
                status = transfer_status(transfer, datetime.now(UTC) - transfer.requested_at)
                asked = kes_exact(transfer.amount) if transfer.amount is not None else "Everything available"
                to = transfer.account.nickname if transfer.account else "default settlement account"
                show(status, f"**{status.label}** · {asked} to {to}. {status.detail}")

        last_transfer()

with history_tab:

    @st.fragment(run_every="2s")
    def history() -> None:
        """Every transfer asked for here, and K2's settlement notices, as K2's results and webhooks arrive."""
        try:
            match_unanswered(database())
            done = transfers(database())
            notices = k2_settlements(database())
        except Exception:  # shown plainly, logged in full
            fail("The transfers cannot be read right now.")
        if not done:
            st.caption("No transfers yet.")
        else:
            now = datetime.now(UTC)
            statuses = [transfer_status(transfer, now - transfer.requested_at) for transfer in done]
            table = pd.DataFrame({
                "requested_at": nairobi_time(pd.Series([t.requested_at for t in done], dtype="datetime64[ns, UTC]")),
                "to": [t.account.nickname if t.account else "Default settlement account" for t in done],
                "amount": [kes_exact(t.amount) if t.amount is not None else
                           (f"Everything ({kes_exact(t.moved)})" if t.moved is not None else "Everything") for t in done],
                "status": [status.label for status in statuses],
                "reference": [", ".join(t.references) for t in done],
                "by": [t.requested_by or "" for t in done],
                "detail": [status.detail for status in statuses],
            })
            st.dataframe(table, hide_index=True, key="settle_history", column_config={
                "requested_at": st.column_config.DatetimeColumn("Requested", format="D MMM, HH:mm:ss"),
                "to": "To", "amount": "Amount", "status": "Status", "detail": "What it means",
                "reference": "M-Pesa / bank ref", "by": "By",
            })
        st.subheader("K2's settlement notices")
        if not notices:
            st.caption("K2 has not told us of a settlement yet.")
            return
        st.dataframe(pd.DataFrame({
            "at": nairobi_time(pd.Series([n.occurred_at for n in notices], dtype="datetime64[ns, UTC]")),
            "to": [n.account.nickname if n.account else (n.destination_type or "") for n in notices],
            "amount": [kes_exact(n.amount) for n in notices],
            "status": [n.status for n in notices],
            "ours": ["Yes" if n.request_ref else "No (K2's own schedule, or not matched)" for n in notices],
        }), hide_index=True, key="settle_notices", column_config={
            "at": st.column_config.DatetimeColumn("When", format="D MMM, HH:mm:ss"), "to": "To",
            "amount": "Amount", "status": "K2 status", "ours": "Requested here",
        })

    history()

with accounts_tab:
    if known:
        st.dataframe(pd.DataFrame({
            "nickname": [a.nickname for a in known],
            "type": ["Bank account" if a.kind is AccountKind.BANK else "M-Pesa wallet" for a in known],
            "details": [" · ".join(part for part in (
                a.details.get("account_number"), a.details.get("account_name"), a.details.get("settlement_method"),
            ) if part) if a.kind is AccountKind.BANK else
                f"{phone(a.details.get('phone_number'))} · {a.details.get('first_name')} {a.details.get('last_name')}"
                for a in known],
            "status": [a.k2_status or ("Not confirmed by K2" if a.location is None else "Waiting for K2")
                       for a in known],
            "added": [f"{nairobi_clock(a.created_at)} by {a.created_by}" for a in known],
            "reference": [a.reference or "" for a in known],
        }), hide_index=True, key="settle_accounts", column_config={
            "nickname": "Nickname", "type": "Type", "details": "Account", "status": "K2 status",
            "added": "Added", "reference": "K2 reference",
        })
    else:
        st.caption("No settlement accounts yet. Add your bank account or M-Pesa wallet below.")
    waiting = [a for a in known if not a.ready]
    if waiting:
        st.warning("K2 has not confirmed " + ", ".join(a.nickname for a in waiting) + ". An account K2 never "
                   "answered for can be added again after a minute, if it is not in your K2 dashboard.")
        for account in (a for a in waiting if a.location):
            if st.button(f"Check {account.nickname} with K2", key=f"settle_check_{account.id}"):
                try:
                    refresh_account(runtime(), me, account.id)
                except (InputError, NotAllowed) as err:
                    st.error(err.message if isinstance(err, InputError) else str(err))
                else:
                    st.rerun()

    st.subheader("Add a settlement account")
    kind = st.radio("Kind", ["Bank account", "M-Pesa wallet"], key="settle_add_kind", horizontal=True)
    with st.form("settle_add_form", clear_on_submit=False):
        nickname = st.text_input("Nickname (optional)", placeholder="e.g. Equity main", key="settle_add_nickname")
        if kind == "Bank account":
            branches = dict(bank_branches(engine))
            name = st.text_input("Account name, as the bank has it", key="settle_add_account_name")
            number = st.text_input("Account number", key="settle_add_account_number")
            branch = None
            if branches:
                branch = st.selectbox("Bank branch", list(branches), index=None, key="settle_add_branch",
                                      placeholder="Choose a branch")
            typed = st.text_input("…or K2's reference for another branch (from K2's dashboard)" if branches else
                                  "Bank branch: K2's reference for it (from K2's dashboard)", key="settle_add_branch_ref")
            method = st.selectbox("Settlement method", ["EFT", "RTS"], key="settle_add_method",
                                  format_func={"EFT": "EFT (standard bank transfer)",
                                               "RTS": "RTS (real-time gross settlement)"}.get)
        else:
            first = st.text_input("First name", key="settle_add_first")
            last = st.text_input("Last name", key="settle_add_last")
            mpesa = st.text_input("M-Pesa phone number", placeholder="e.g. 0712 345 678", key="settle_add_phone")
        add = st.form_submit_button(f"Add {kind.lower()}", type="primary", key="settle_add")
    if add and just_added:
        pass  # the second click of a double click: its fields were just cleared; the first click added it
    elif add:
        st.session_state.pop("settle_added", None)
        try:
            if kind == "Bank account":
                added = add_bank_account(runtime(), me, account_name=name, account_number=number,
                                         bank_branch_ref=typed.strip() or branches.get(branch or "", ""),
                                         settlement_method=method, nickname=nickname, source=source_address())
            else:
                added = add_wallet(runtime(), me, first_name=first, last_name=last, phone_number=mpesa,
                                   nickname=nickname, source=source_address())
        except (InputError, NotAllowed) as err:
            st.error(err.message if isinstance(err, InputError) else str(err))
        except Exception:  # shown plainly, logged in full
            fail("The account could not be added.")
        else:
            account = added.account
            again = account.created_by == me.username and datetime.now(UTC) - account.created_at < timedelta(seconds=30)
            if not added.created and not again:  # not this person's click of a moment ago, arriving twice
                st.session_state.settle_added = ("info", f"{account.nickname} is already on your list.")
            elif account.ready:
                st.session_state.settle_added = ("success", f"Added {described(account)}. K2 says: {account.k2_status}.")
            else:
                st.session_state.settle_added = ("warning", f"Added {account.nickname}, but K2 has not confirmed it yet.")
            st.session_state.settle_add_clear = True
            st.rerun()
    if "settle_added" in st.session_state:
        tone, line = st.session_state.settle_added
        show(Status("", "", tone), line)

"""Transactions: every payment received, filtered and searched on the server a page at a time, one payment in
full (with the webhook that recorded it), and the filtered list as CSV or Excel for the accountant."""
from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from functools import partial

import pandas as pd
import streamlit as st

from merchant.access import Permission, User, can, mask_phone
from merchant.money_in import BUSINESS_TIMEZONE, KINDS, STATUSES, MoneyInFilter, searchable
from merchant.money_in.overview import latest_change, paid_tills
from merchant.money_in.transactions import (
    PAGE_SIZE,
    Payment,
    TransactionsPage,
    Wording,
    export,
    payment_detail,
    transactions,
)
from ui import database, fail, settings
from ui.signin import current_user, source_address
from ui.words import kes_exact, payment_kind, payment_status, phone

WORDS = Wording(kind=payment_kind, status=payment_status, phone=phone)


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def offered_tills(database_url: str) -> list[str]:
    """The tills for the filter (from the daily rollup), read again every five minutes."""
    del database_url  # the cache key: one database's tills are never offered for another
    return paid_tills(database())


def download(user: User, wanted: MoneyInFilter, format: str, address: str | None) -> bytes:
    """The export, made when the button is clicked (and audited then): written chunk by chunk to a temporary file,
    then read once, since Streamlit hands a download over as one bytes object."""
    with tempfile.TemporaryFile() as file:
        for chunk in export(database(), user, wanted, format=format, wording=WORDS,  # type: ignore[arg-type]
                            source=address):
            file.write(chunk)
        file.seek(0)
        return file.read()


def turn(step: int) -> None:
    st.session_state.transactions_offset = max(0, st.session_state.transactions_offset + step * PAGE_SIZE)


def row_words(payment: Payment, see_phones: bool) -> dict[str, str]:
    number = payment.sender_phone if see_phones else mask_phone(payment.sender_phone)
    return {"When": f"{payment.occurred_at.astimezone(BUSINESS_TIMEZONE):%d/%m/%Y %H:%M}",
            "Amount": kes_exact(payment.amount), "Payer": payment.payer or "", "Phone": phone(number),
            "Kind": payment_kind(payment.kind), "Status": payment_status(payment.status),
            "Reference": payment.mpesa_reference or "", "Till": payment.till_number or ""}


def nothing_found(first: date, last: date, narrowed: bool) -> None:
    span = f"between {first:%-d %b %Y} and {last:%-d %b %Y}"
    if narrowed:
        st.info(f"No payments {span} match your search or filters. Clear the search or the filters, or widen the "
                "date range.", icon=":material/search_off:")
    else:
        st.info(f"No payments {span}. Widen the date range. If you expected payments here, fetch them from K2 on "
                "the Fill in history page, and check on Webhook subscriptions that K2 is sending new payments to "
                "this dashboard.", icon=":material/info:")


# Each column of `transactions` as the detail names it, in the table's order.
STORED_FIELDS = {
    "id": "Row number", "reference": "Reference (M-Pesa's, or K2's id where M-Pesa gave none)", "kind": "Kind",
    "till_number": "Paid to till", "amount_cents": "Amount", "currency": "Currency", "status": "Status",
    "occurred_at": "Paid at (Nairobi)", "sender_phone": "Phone", "sender_phone_hash": "Phone as K2 hashed it",
    "sender_first_name": "First name", "sender_middle_name": "Middle name", "sender_last_name": "Last name",
    "sender_till": "Paying till", "sender_merchant": "Paying merchant", "resource_id": "K2 id",
    "reversed_at": "Reversed at (Nairobi)", "event_id": "Webhook delivery id", "recorded_at": "Recorded at (Nairobi)",
}


def stored_words(stored: dict[str, object], paid: Payment, see_phones: bool) -> dict[str, str]:
    """A stored row as people read it: labels in words, Nairobi times, shillings, phones as Kenyans write them
    (masked for a viewer), blanks for nothing; a column added later keeps its own name."""
    def shown(name: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return f"{value.astimezone(BUSINESS_TIMEZONE):%d/%m/%Y %H:%M:%S}"
        special = {"amount_cents": lambda: kes_exact(paid.amount), "kind": lambda: payment_kind(paid.kind),
                   "status": lambda: payment_status(paid.status),
                   "sender_phone": lambda: phone(paid.sender_phone if see_phones else mask_phone(paid.sender_phone)),
                   # a phone's hash gives the phone back to anyone who tries every number
                   "sender_phone_hash": lambda: str(value) if see_phones else "Hidden for your role"}
        return special[name]() if name in special else str(value)
    return {STORED_FIELDS.get(name, name): shown(name, value) for name, value in stored.items()}


def detail(payment_id: int, see_phones: bool) -> None:
    found = payment_detail(database(), payment_id)
    if found is None:
        st.warning("That payment is no longer stored.")
        return
    with st.container(border=True, key="transactions_detail"):
        paid = found.payment
        st.markdown(f"**{kes_exact(paid.amount)}** · {payment_kind(paid.kind)} · {payment_status(paid.status)}")
        st.caption(" · ".join(part for part in (
            f"M-Pesa reference {paid.mpesa_reference}" if paid.mpesa_reference else f"K2 id {paid.k2_id}",
            paid.payer, phone(paid.sender_phone if see_phones
                                                            else mask_phone(paid.sender_phone)),
            f"Till {paid.till_number}" if paid.till_number else "",
            f"{paid.occurred_at.astimezone(BUSINESS_TIMEZONE):%A %-d %B %Y, %H:%M:%S} (Nairobi)") if part))
        if found.reversal:
            st.warning(f"{payment_status(found.reversal.status)} on "
                       f"{found.reversal.reversed_at.astimezone(BUSINESS_TIMEZONE):%-d %b %Y, %H:%M}: this money "
                       "is not counted in your takings.", icon=":material/undo:")
        stored = stored_words(found.stored, paid, see_phones)
        with st.expander("Everything stored for this payment"):
            st.dataframe(pd.DataFrame({"Field": list(stored), "Value": list(stored.values())}), hide_index=True,
                         key="transactions_stored")
        for title, body in (("The webhook that recorded it", found.raw_body),
                            ("The webhook that reversed it", found.reversal and found.reversal.raw_body)):
            if body and see_phones:  # K2's body carries the full phone number
                with st.expander(title):
                    st.code(body, language="json")
        if not found.raw_body:
            st.caption("No webhook is kept for this payment: it was written by other means (an import or a fill "
                       "from K2's history).")


def current_page(wanted: MoneyInFilter) -> TransactionsPage:
    """The page on show, read again only when `transactions` changed (B's counter: one primary-key read) or the
    filter or page did; otherwise the copy kept in this session."""
    engine = database()
    seen = (wanted, st.session_state.transactions_offset, latest_change(engine))
    kept = st.session_state.get("transactions_page")
    if kept is None or kept[0] != seen:
        page = transactions(engine, wanted, offset=st.session_state.transactions_offset)
        if page.offset and not page.rows:  # payments removed behind this page (a restore): back to the first
            st.session_state.transactions_offset = 0
            page = transactions(engine, wanted)
        kept = ((wanted, st.session_state.transactions_offset, seen[2]), page)
        st.session_state.transactions_page = kept
    return kept[1]


@st.fragment(run_every="10s")
def listing(wanted: MoneyInFilter, first: date, last: date, narrowed: bool, see_phones: bool) -> None:
    """The current page; every 10 seconds it asks whether anything was written, so new payments appear without a
    reload and an idle page costs one cheap read."""
    try:
        page = current_page(wanted)
    except Exception:  # shown plainly, logged in full
        fail("The payments cannot be read right now.")
    found = page.totals
    if not found.count:
        nothing_found(first, last, narrowed)
        return
    st.markdown(f"Received **{kes_exact(found.received)}** from {found.received_count:,} payment"
                f"{'' if found.received_count == 1 else 's'}" + (
                    f" · Reversed {kes_exact(found.reversed)} ({found.reversed_count:,}), not counted"
                    if found.reversed_count else ""))
    st.dataframe(pd.DataFrame([row_words(row, see_phones) for row in page.rows]), hide_index=True,
                 key="transactions_table")
    back, where, forward = st.columns([1, 3, 1], vertical_alignment="center")
    back.button("Previous", key="transactions_previous", icon=":material/chevron_left:",
                disabled=page.offset == 0, on_click=turn, args=(-1,))
    where.caption(f"Showing {page.offset + 1:,}–{page.offset + len(page.rows):,} of {found.count:,}")
    forward.button("Next", key="transactions_next", icon=":material/chevron_right:",
                   disabled=page.offset + len(page.rows) >= found.count, on_click=turn, args=(1,))
    labels = {row.id: " · ".join(part for part in (row_words(row, see_phones)["When"], kes_exact(row.amount),
                                                   row.payer or "No name", row.mpesa_reference) if part)
              for row in page.rows}
    chosen = st.selectbox("See one payment in full", list(labels), index=None, format_func=labels.__getitem__,
                          key="transactions_chosen", placeholder="Choose a payment from this page")
    if chosen in labels:  # a choice from before new payments moved this page on is no longer here
        detail(chosen, see_phones)


st.header("Transactions")
user = current_user()
see_phones = can(user.role, Permission.SEE_PHONES)
today = datetime.now(BUSINESS_TIMEZONE).date()
when, kind, status, till = st.columns([2, 2, 1, 1])
picked = when.date_input("Dates", (today - timedelta(days=29), today), max_value=today, format="DD/MM/YYYY",
                         key="transactions_dates")
first, last = (picked[0], picked[-1]) if picked else (today, today)  # mid-pick, one date: that day alone
kinds = kind.multiselect("Kinds", KINDS, format_func=payment_kind, placeholder="All kinds", key="transactions_kinds")
statuses = status.multiselect("Status", STATUSES, format_func=payment_status, placeholder="Any",
                              key="transactions_statuses")
try:
    offered = offered_tills(settings().database_url)
except Exception:  # shown plainly, logged in full
    fail("The payments cannot be read right now.")
chosen_tills = till.multiselect("Till", offered, placeholder="All tills", key="transactions_tills")
search = st.text_input("Search", placeholder="Reference, name or phone (0712 345 678)", key="transactions_search")
if search.strip() and not searchable(search):
    st.info(f"“{search.strip()}” is too short to search: type at least three letters or digits of a name, phone "
            "or reference. Showing every payment meanwhile.", icon=":material/search:")
    search = ""
wanted = MoneyInFilter.days(first, last, kinds=tuple(kinds), statuses=tuple(statuses), tills=tuple(chosen_tills),
                            search=search)
if st.session_state.get("transactions_for") != wanted:  # a new filter starts at its first page
    st.session_state.transactions_for = wanted
    st.session_state.transactions_offset = 0

listing(wanted, first, last, bool(kinds or statuses or chosen_tills or wanted.search), see_phones)

if can(user.role, Permission.EXPORT):
    name = f"transactions_{first:%Y-%m-%d}_{last:%Y-%m-%d}"
    csv, excel, _ = st.columns([1, 1, 3])
    csv.download_button("Download CSV", partial(download, user, wanted, "csv", source_address()),
                        file_name=f"{name}.csv", mime="text/csv", icon=":material/download:",
                        key="transactions_csv", on_click="ignore")
    excel.download_button("Download Excel", partial(download, user, wanted, "xlsx", source_address()),
                          file_name=f"{name}.xlsx", icon=":material/download:", key="transactions_xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          on_click="ignore")

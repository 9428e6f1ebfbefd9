"""Money in: what customers paid over a range, as totals, charts, a table and a CSV for the accountant."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from merchant.money_in import (
    BUSINESS_TIMEZONE,
    KINDS,
    Summary,
    daily_totals,
    day_range,
    export_csv,
    hourly_pattern,
    received,
    summary,
    top_payers,
)
from merchant.access import Permission, User, can, exported, mask_phone
from ui import database, fail, nairobi_time, settings
from ui.signin import current_user, source_address
from ui.words import phone

# What the page shows for one filter; a tuple, since a class defined in a page (run as `__main__`) cannot be pickled.
Loaded = tuple[Summary, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, bytes]


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load(database_url: str, first: date, last: date, kinds: tuple[str, ...], search: str) -> Loaded:
    """Everything for one filter and database, read together; fresh to within 30 seconds (money keeps arriving)."""
    del database_url  # the cache key: one database's figures are never served for another
    engine = database()
    start, end = day_range(first, last)
    only, text = kinds or None, search or None
    payments = received(engine, start=start, end=end, kinds=only, search=text)
    return (
        summary(engine, start=start, end=end, kinds=only, search=text),
        payments,
        daily_totals(engine, start=start, end=end, kinds=only, search=text),
        hourly_pattern(engine, start=start, end=end, kinds=only, search=text),
        top_payers(engine, start=start, end=end, kinds=only, search=text),
        export_csv(payments),
    )


def record_export(user: User, first: date, last: date) -> None:
    """The accountant's CSV is an export: the audit trail says who took which days."""
    exported(database(), user, what="money in", detail={"from": str(first), "to": str(last)},
             source=source_address())


def kes(amount: object) -> str:
    """Shillings as people read them: thousands separated, two places (the label says KES)."""
    return f"{amount:,.2f}"


st.header("Money in")
user = current_user()
today = datetime.now(BUSINESS_TIMEZONE).date()
when, kind, text = st.columns([2, 2, 3])
picked = when.date_input("Dates", (today - timedelta(days=29), today), max_value=today, format="DD/MM/YYYY",
                         key="money_in_dates")
first, last = (picked[0], picked[-1]) if picked else (today, today)  # mid-pick, one date: that day alone
kinds = kind.multiselect("Kinds", KINDS, placeholder="All kinds", key="money_in_kinds")
search = text.text_input("Search", placeholder="Reference, name or phone", key="money_in_search")

try:
    figures, payments, daily, hourly, payers, csv = load(settings().database_url, first, last, tuple(kinds),
                                                         search.strip())
except Exception:  # shown plainly, logged in full
    fail("The payments cannot be read right now.")
if not can(user.role, Permission.SEE_PHONES):  # a viewer sees enough of a number to tell payers apart
    payments = payments.assign(sender_phone=payments["sender_phone"].map(mask_phone))
    payers = payers.assign(sender_phone=payers["sender_phone"].map(mask_phone))
payments = payments.assign(sender_phone=payments["sender_phone"].map(phone))
payers = payers.assign(sender_phone=payers["sender_phone"].map(phone))

if payments.empty:
    st.info(f"No payments between {first:%d %b %Y} and {last:%d %b %Y}"
            f"{' matching your filters' if kinds or search.strip() else ''}. Try a wider date range.")
    st.stop()

total, count, average, distinct, undone = st.columns(5)
total.metric("Total received (KES)", kes(figures.total))
count.metric("Payments", f"{figures.count:,}")
average.metric("Average (KES)", kes(figures.average))
distinct.metric("Distinct payers", f"{figures.payers:,}")
undone.metric("Reversed (KES)", kes(figures.reversed_total), f"{figures.reversed_count:,} reversed or voided",
              delta_color="off", delta_arrow="off")

st.subheader("Per day")
per_day = px.bar(daily, x="date", y="amount", color="kind", labels={"date": "", "amount": "KES", "kind": "Kind"},
               custom_data=["count"], category_orders={"kind": list(KINDS)})
per_day.update_traces(hovertemplate="%{x|%a %d %b}<br>KES %{y:,.2f}<br>%{customdata[0]} payments")
per_day.update_layout(barmode="stack", xaxis={"dtick": 86_400_000, "tickformat": "%d %b"})
st.plotly_chart(per_day, key="money_in_daily")

by_hour, top = st.columns(2)
by_hour.subheader("When customers pay")
per_hour = px.bar(hourly, x="hour", y="count", labels={"hour": "Hour of day (Nairobi)", "count": "Payments"},
                custom_data=["amount"])
per_hour.update_traces(hovertemplate="%{x}:00–%{x}:59<br>%{y} payments<br>KES %{customdata[0]:,.2f}")
per_hour.update_layout(xaxis={"dtick": 2})
by_hour.plotly_chart(per_hour, key="money_in_hourly")
top.subheader("Top payers")
top.dataframe(payers.drop(columns="last_paid_at"), hide_index=True, key="money_in_top",
              column_config={"payer": "Payer", "sender_phone": "Phone", "count": "Payments",
                             "amount": st.column_config.NumberColumn("Total (KES)", format="accounting")})

st.subheader("Payments")
st.dataframe(payments.assign(occurred_at=nairobi_time(payments["occurred_at"])), hide_index=True, key="money_in_table",
             column_config={"occurred_at": st.column_config.DatetimeColumn("Time (Nairobi)", format="DD/MM/YYYY HH:mm:ss"),
                            "amount": st.column_config.NumberColumn("Amount", format="accounting"),
                            "reference": "Reference", "kind": "Kind", "status": "Status", "currency": "Currency",
                            "sender": "Sender", "sender_phone": "Phone", "till_number": "Till"})
if can(user.role, Permission.EXPORT):
    st.download_button("Download CSV", csv, file_name=f"money-in_{first:%Y-%m-%d}_{last:%Y-%m-%d}.csv",
                       mime="text/csv", icon=":material/download:", key="money_in_csv",
                       on_click=record_export, args=(user, first, last))

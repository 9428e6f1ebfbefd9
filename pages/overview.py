"""Overview: how is the money coming in? Today, this week and this month against the period before, then the days
of a range: money per day (and what was taken back), when customers pay, which till and kind, who pays most, new
and returning payers. It redraws by itself when a payment arrives."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from merchant.access import Permission, can, mask_phone
from merchant.money_in import BUSINESS_TIMEZONE, MoneyInFilter
from merchant.money_in.overview import Comparison, Kpis, OverviewData, Period, kpis, latest_change, overview, paid_tills
from ui import database, fail, nairobi_time, settings
from ui.signin import current_user
from ui.words import compared_with, kes, moved, payment_kind, phone, till_name

KEPT, TAKEN_BACK = "#2e7d32", "#c62828"  # green: money that stayed; red: money reversed or voided
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PERIODS = {Period.TODAY: "Today", Period.WEEK: "This week", Period.MONTH: "This month"}


@st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
def load(database_url: str, wanted: MoneyInFilter, version: int) -> OverviewData:
    """A range's figures, read again only when `version` (the database's change counter) moves."""
    del database_url, version  # cache keys: another database's, or older, figures are never served
    return overview(database(), wanted)


@st.cache_data(ttl=120, max_entries=16, show_spinner=False)
def load_kpis(database_url: str, minute: datetime, tills: tuple[str, ...], version: int) -> Kpis:
    """The tiles to `minute` (a minute's end): read again when money arrives or the minute moves on."""
    del database_url, version
    return kpis(database(), minute, tills=tills)


@st.fragment(run_every="3s")
def watch(seen: int) -> None:
    """One cheap read every few seconds; the page is drawn again only when money has arrived (or changed)."""
    try:
        now = latest_change(database())
    except Exception:  # a passing failure: the next tick tries again; the figures on screen stay
        return
    if now != seen:
        st.rerun(scope="app")


def tile(column: DeltaGenerator, label: str, now: Decimal | int, before: Decimal | int, *, against: str,
         money: bool = True, worse_up: bool = False) -> None:
    shown = kes(now) if money else f"{now:,}"
    column.metric(label, shown, moved(now, before, money=money), delta_color="inverse" if worse_up else "normal",
                  help=f"Compared with {against}: {kes(before) if money else f'{before:,}'}.")


def many(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def tiles(compared: Comparison) -> None:
    now, before = compared.current, compared.previous
    against = compared_with(compared.period, compared.previous_end)
    received, count, average, payers, back = st.columns(5)
    tile(received, "Received", now.total, before.total, against=against)
    tile(count, "Payments", now.count, before.count, money=False, against=against)
    tile(average, "Average payment", now.average, before.average, against=against)
    tile(payers, "Payers", now.payers, before.payers, money=False, against=against)
    tile(back, "Taken back", now.taken_back, before.taken_back, worse_up=True, against=against)
    st.caption(f"Compared with {against} (Nairobi time). Taken back: {many(now.taken_back_count, 'payment')} "
               "reversed or voided, not counted in what you received.")


def per_day(daily: pd.DataFrame) -> go.Figure:
    figure = go.Figure([
        go.Bar(x=daily["date"], y=daily["received"], name="Received", marker_color=KEPT,
               customdata=daily["received_count"], hovertemplate="%{x|%a %-d %b}<br>KES %{y:,.0f} received"
               "<br>%{customdata:,} payments<extra></extra>"),
        go.Bar(x=daily["date"], y=-daily["taken_back"], name="Taken back (reversed or voided)",
               marker_color=TAKEN_BACK, customdata=daily[["taken_back", "taken_back_count"]],
               hovertemplate="%{x|%a %-d %b}<br>KES %{customdata[0]:,.0f} taken back<br>%{customdata[1]:,} "
               "payments<extra></extra>"),
    ])
    figure.update_layout(barmode="relative", yaxis_title="KES", legend={"orientation": "h", "y": 1.1},
                         xaxis={"tickformat": "%-d %b"}, margin={"t": 30})
    return figure


def whole_step(most: int) -> int:
    """A tick step in whole payments or payers (plotly would mark 0.5 and print it as 1)."""
    return max(1, -(-int(most) // 5))


def heatmap(cells: pd.DataFrame) -> go.Figure:
    grid = cells.pivot(index="weekday", columns="hour", values="payments")
    money = cells.pivot(index="weekday", columns="hour", values="amount")
    figure = go.Figure(go.Heatmap(
        z=grid.values.tolist(), x=[f"{hour:02d}" for hour in grid.columns], y=list(WEEKDAYS),
        customdata=money.values.tolist(),
        colorscale="Greens", colorbar={"title": "Payments", "tickformat": ",d", "dtick": whole_step(grid.values.max())},
        hovertemplate="%{y} %{x}:00–%{x}:59<br>%{z:,} payments<br>KES %{customdata:,.0f}<extra></extra>"))
    figure.update_layout(yaxis={"autorange": "reversed"},
                         xaxis={"title": "Hour of the day (Nairobi)", "type": "category"},
                         margin={"t": 10})
    return figure


def split(frame: pd.DataFrame, labels: pd.Series) -> go.Figure:
    figure = go.Figure([
        go.Bar(y=labels, x=frame["received"], orientation="h", name="Received", marker_color=KEPT,
               customdata=frame["received_count"], hovertemplate="%{y}<br>KES %{x:,.0f}<br>%{customdata:,} "
               "payments<extra></extra>"),
        go.Bar(y=labels, x=frame["taken_back"], orientation="h", name="Taken back", marker_color=TAKEN_BACK,
               customdata=frame["taken_back_count"], hovertemplate="%{y}<br>KES %{x:,.0f} taken back<br>"
               "%{customdata:,} payments<extra></extra>"),
    ])
    figure.update_layout(barmode="group", xaxis_title="KES", yaxis={"autorange": "reversed"}, margin={"t": 10},
                         legend={"orientation": "h", "y": 1.15}, height=120 + 50 * len(frame))
    return figure


def payers_chart(daily: pd.DataFrame) -> go.Figure:
    figure = go.Figure([
        go.Bar(x=daily["date"], y=daily["returning"], name="Returning", marker_color="#1565c0"),
        go.Bar(x=daily["date"], y=daily["new"], name="New (first payment ever)", marker_color="#f9a825"),
    ])
    figure.update_traces(hovertemplate="%{x|%a %-d %b}<br>%{y:,} payers<extra></extra>")
    most = int((daily["new"] + daily["returning"]).max()) if len(daily) else 0
    figure.update_layout(barmode="stack", yaxis={"title": "Payers", "tickformat": ",d", "dtick": whole_step(most)},
                         margin={"t": 30},
                         xaxis={"tickformat": "%-d %b"}, legend={"orientation": "h", "y": 1.1})
    return figure


st.header("Overview")
user = current_user()
see_phones = can(user.role, Permission.SEE_PHONES)
now = datetime.now(BUSINESS_TIMEZONE)
today = now.date()
try:
    engine, url = database(), settings().database_url
    version = latest_change(engine)
    offered = paid_tills(engine)
except Exception:  # shown plainly, logged in full
    fail("The payments cannot be read right now.")
watch(version)

when, which = st.columns([2, 3])
picked = when.date_input("Dates", (today - timedelta(days=29), today), max_value=today, format="DD/MM/YYYY",
                         key="overview_dates")
first, last = (picked[0], picked[-1]) if picked else (today, today)  # mid-pick, one date: that day alone
tills = tuple(which.multiselect("Tills", offered, format_func=till_name, placeholder="All tills",
                                key="overview_tills"))
try:
    # To the end of this minute (nothing is paid in the future): one read a minute, this minute's payments in.
    figures = load_kpis(url, now.replace(second=0, microsecond=0) + timedelta(minutes=1), tills, version)
    data = load(url, MoneyInFilter.days(first, last, tills=tills), version)
except Exception:  # shown plainly, logged in full
    fail("The payments cannot be read right now.")

period = st.segmented_control("Period", list(PERIODS), format_func=PERIODS.get, default=Period.TODAY,
                              key="overview_period", label_visibility="collapsed") or Period.TODAY
tiles(getattr(figures, period.value))

span = f"{first:%-d %b %Y}" + ("" if first == last else f" to {last:%-d %b %Y}")
if not data.figures.count and not data.figures.taken_back_count:
    st.info(f"No payments {span}{' at these tills' if tills else ''}. Choose a wider date range"
            f"{' or clear the till filter' if tills else ''}. New payments show here within seconds, without "
            "reloading. If you expected earlier payments, the owner or finance can fetch them from K2 on Fill in "
            "history.", icon=":material/info:")
    st.stop()

got = data.figures
st.subheader(f"Money per day, {span}")
st.caption(f"Received {kes(got.total)} from {many(got.count, 'payment')} by {many(got.payers, 'payer')}"
           + (f"; {kes(got.taken_back)} taken back ({got.taken_back_count:,} reversed or voided), shown below the "
              "line and not counted" if got.taken_back_count else "") + ".")
st.plotly_chart(per_day(data.daily), key="overview_per_day")

st.subheader("When customers pay")
st.caption("Payments that stayed, by day of the week and hour (Nairobi time).")
st.plotly_chart(heatmap(data.heatmap), key="overview_heatmap")

by_till, by_kind = st.columns(2)
by_till.subheader("By till")
by_till.plotly_chart(split(data.by_till, data.by_till["till_number"].map(till_name)), key="overview_by_till")
by_kind.subheader("By kind of payment")
by_kind.plotly_chart(split(data.by_kind, data.by_kind["kind"].map(payment_kind)), key="overview_by_kind")

top, payers = st.columns(2)
top.subheader("Top payers")
shown = data.top_payers.assign(
    sender_phone=data.top_payers["sender_phone"].map(lambda e164: phone(e164 if see_phones else mask_phone(e164))),
    name=data.top_payers["name"].fillna(""),
    last_paid_at=nairobi_time(pd.to_datetime(data.top_payers["last_paid_at"], utc=True)),
).drop(columns="payer")
top.dataframe(shown, hide_index=True, key="overview_top_payers", column_config={
    "name": "Payer", "sender_phone": "Phone", "payments": st.column_config.NumberColumn("Payments", format="%d"),
    "amount": st.column_config.NumberColumn("Received (KES)", format="localized"),
    "last_paid_at": st.column_config.DatetimeColumn("Last paid (Nairobi)", format="D MMM YYYY, HH:mm")})
payers.subheader("New and returning payers")
payers.caption(f"{data.new_payers:,} new (paid for the first time ever in this range), {data.returning_payers:,} "
               "returning.")
payers.plotly_chart(payers_chart(data.payers_daily), key="overview_payers")

"""The frame around every page: page config, the demo banner, sign-in, and navigation over the pages the signed-in
user's role may see (a page left out cannot be opened by its URL either)."""
from __future__ import annotations

import streamlit as st

from merchant.access import Permission, can
from ui import settings
from ui.signin import page_asked_for, signed_in_user

st.set_page_config(page_title="K2 Merchant Dashboard", page_icon=":material/payments:", layout="wide")

st.title("K2 Merchant Dashboard")
if settings().demo_mode:
    st.warning("Demo mode: connected to the built-in K2 emulator. No real money moves.", icon=":material/science:")

user = signed_in_user()

sees_money = can(user.role, Permission.SEE_MONEY_IN)  # the Overview opens first for them, Home for the others
# Each page with what it needs; None: every signed-in user.
PAGES: list[tuple[st.Page, Permission | None, str]] = [
    (st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=sees_money),
     Permission.SEE_MONEY_IN, "Money"),
    (st.Page("pages/home.py", title="Home", icon=":material/home:", default=not sees_money), None, "Money"),
    (st.Page("pages/transactions.py", title="Transactions", icon=":material/list_alt:"), Permission.SEE_MONEY_IN,
     "Money"),
    (st.Page("pages/ask_to_pay.py", title="Ask to pay", icon=":material/phone_iphone:"), Permission.ASK_TO_PAY,
     "Money"),
    (st.Page("pages/history.py", title="Fill in history", icon=":material/manage_history:"), Permission.FILL_HISTORY,
     "Money"),
    (st.Page("pages/pay.py", title="Pay someone", icon=":material/send_money:"), Permission.PAY_OUT, "Money out"),
    (st.Page("pages/payments.py", title="Payments", icon=":material/receipt:"), Permission.PAY_OUT, "Money out"),
    (st.Page("pages/bulk_payouts.py", title="Bulk payouts", icon=":material/table_view:"), Permission.PAY_OUT,
     "Money out"),
    (st.Page("pages/recipients.py", title="Recipients", icon=":material/contacts:"), Permission.PAY_OUT, "Money out"),
    (st.Page("pages/settle.py", title="Settle to your account", icon=":material/savings:"), Permission.SETTLE, "Money out"),
    (st.Page("pages/users.py", title="Users", icon=":material/group:"), Permission.MANAGE_USERS, "Owner"),
    (st.Page("pages/settings.py", title="Settings and health", icon=":material/settings:"),
     Permission.MANAGE_SETTINGS, "Owner"),
    (st.Page("pages/audit.py", title="Audit trail", icon=":material/history:"), Permission.SEE_AUDIT, "Owner"),
    (st.Page("pages/subscriptions.py", title="Webhook subscriptions", icon=":material/webhook:"),
     Permission.MANAGE_SETTINGS, "Owner"),
    (st.Page("pages/event_log.py", title="Event log", icon=":material/receipt_long:"), Permission.SEE_EVENTS, "Owner"),
]
sections: dict[str, list[st.Page]] = {}
for page, needs, section in PAGES:
    if needs is None or can(user.role, needs):
        sections.setdefault(section, []).append(page)

current = st.navigation(sections, expanded=True)  # every page the role may open, none behind "View more"
wanted = page_asked_for()  # a page typed before signing in: go there now, if the role may
for page in (page for pages in sections.values() for page in pages):
    if wanted and page.url_path == wanted and page is not current:
        st.switch_page(page)
current.run()

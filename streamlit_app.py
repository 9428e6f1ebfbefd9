"""The frame around every page: page config, the demo banner, and navigation over `pages/`."""
from __future__ import annotations

import streamlit as st

from ui import settings

st.set_page_config(page_title="K2 Merchant Dashboard", page_icon=":material/payments:", layout="wide")

st.title("K2 Merchant Dashboard")
if settings().demo_mode:
    st.warning("Demo mode: connected to the built-in K2 emulator. No real money moves.", icon=":material/science:")

page = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/money_in.py", title="Money in", icon=":material/payments:"),
        st.Page("pages/ask_to_pay.py", title="Ask to pay", icon=":material/phone_iphone:"),
    ]
)
page.run()

"""Signing in, for the frame: the first owner, the sign-in form (streamlit-authenticator), lock-outs, idle
sessions, signing out. Pages get the signed-in user from `signed_in_user()`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import jwt
import plotly.graph_objects as go
import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy import Engine
from streamlit_authenticator.params import PRE_LOGIN_SLEEP_TIME
from streamlit_authenticator.utilities import LoginError

from merchant.access import (
    AuditAction,
    SignInRefused,
    User,
    cookie_key,
    create_owner,
    get_user,
    has_users,
    list_users,
    session_valid,
    sign_in,
    sign_out_everywhere,
    signed_out,
)
from merchant.errors import InputError

from . import database, settings
from .words import nairobi_clock

__all__ = ["COOKIE", "current_user", "page_asked_for", "signed_in_user", "source_address"]

COOKIE = "k2_dashboard_session"
_FIELDS = {"Form name": "Sign in", "Username": "Username", "Password": "Password", "Login": "Sign in"}
_STATE = ("signin_user", "signin_at", "signin_last_active")


def source_address() -> str | None:
    """The browser's address as this server sees it (for the audit trail and lock-outs); None when unknown."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def current_user() -> User:
    """The signed-in user, for a page; a page run without the frame's sign-in shows nothing."""
    user = st.session_state.get("signin_user")
    if user is None:
        st.info("Sign in to see this page.")
        st.stop()
    return user


def signed_in_user() -> User:
    """The signed-in user; until there is one, the sign-in (or first-owner) form is all this browser gets."""
    engine = database()
    if not has_users(engine):
        _create_owner_form(engine)
        st.stop()
    # The library waits on each run before sign-in so that its cookie component can answer first: a browser that
    # is signed in already is let in without the form flashing, and no answer arrives as the person clicks Sign in
    # (it would rerun the page and lose the click). Once the form is drawn, that answer is in: the sign-in itself
    # does not wait.
    authenticator = _authenticator(engine, wait_for_cookie=not st.session_state.get("signin_form_drawn"))
    try:
        authenticator.login(location="main", key="signin", fields=_FIELDS)
    except LoginError:  # a cookie for a user who is gone or disabled
        _forget(authenticator)
        st.rerun()
    if not st.session_state.get("authentication_status"):
        url = st.context.url
        if isinstance(url, str):  # where they were going: the frame takes them there once signed in
            st.session_state.setdefault("signin_wanted", urlsplit(url).path.strip("/"))
        st.session_state["signin_form_drawn"] = True
        _say_why_refused()
        _load_charts_meanwhile()
        st.stop()
    user = get_user(engine, st.session_state["username"])
    now = datetime.now(UTC)
    signed_in_at = st.session_state.get("signin_at") or _cookie_issued(engine) or now
    idle = timedelta(minutes=settings().session_idle_minutes)
    last_active = st.session_state.get("signin_last_active", now)
    if user is None or not session_valid(user, signed_in_at) or now - last_active > idle:
        if user is not None:
            signed_out(engine, user, action=AuditAction.SESSION_EXPIRED, source=source_address())
        _forget(authenticator)
        st.session_state["signin_ended"] = True
        st.rerun()
    st.session_state.update(signin_user=user, signin_at=signed_in_at, signin_last_active=now)
    _sign_out_buttons(engine, authenticator, user)
    return user


def page_asked_for() -> str | None:
    """The page path typed before signing in, once (e.g. `ask_to_pay`); None when there was none."""
    return st.session_state.pop("signin_wanted", None) or None


def _authenticator(engine: Engine, *, wait_for_cookie: bool) -> stauth.Authenticate:
    """streamlit-authenticator over our users, our password check (lock-outs, audit) and our cookie key."""
    credentials = {
        "usernames": {
            user.username: {"name": user.name, "email": user.email, "roles": [user.role.value],
                            "password": "(checked by merchant.access)"}
            for user in list_users(engine) if not user.disabled
        }
    }
    idle_days = settings().session_idle_minutes / (24 * 60)
    authenticator = stauth.Authenticate(credentials, COOKIE, cookie_key(engine), idle_days, auto_hash=False,
                                        login_sleep_time=PRE_LOGIN_SLEEP_TIME if wait_for_cookie else 0)

    def check(username: str, password: str) -> bool:
        try:
            sign_in(engine, username, password, source=source_address())
        except SignInRefused as refused:
            st.session_state["signin_refused"] = refused
            return False
        st.session_state["signin_at"] = datetime.now(UTC)
        return True

    # The one place we reach inside streamlit-authenticator: its password check becomes ours, which knows
    # lock-outs and the audit trail (its own counts failures per process, in memory).
    authenticator.authentication_controller.authentication_model.check_credentials = check
    return authenticator


def _cookie_issued(engine: Engine) -> datetime | None:
    """When this browser's sign-in cookie was made (its expiry less its lifetime), for "sign out everywhere"."""
    token = st.context.cookies.get(COOKIE)
    if not token:
        return None
    try:
        expires = jwt.decode(token, cookie_key(engine), algorithms=["HS256"])["exp_date"]
    except (jwt.PyJWTError, KeyError):
        return None
    return datetime.fromtimestamp(expires, UTC) - timedelta(minutes=settings().session_idle_minutes)


def _load_charts_meanwhile() -> None:
    """An empty chart, out of sight, under the sign-in form. The browser fetches and compiles the chart library
    (Plotly: nearly 5 MB of script, over a second on a modest machine) only once a page first draws a chart; this
    has it done while the person types their password, so the Overview draws its charts as soon as they are in."""
    with st.container(key="signin_charts_meanwhile"):
        st.html("<style>.st-key-signin_charts_meanwhile {display: none}</style>")
        st.plotly_chart(go.Figure(), key="signin_charts_meanwhile_figure")


def _say_why_refused() -> None:
    if st.session_state.pop("signin_ended", False):
        st.info("You were signed out. Sign in again to carry on.")
    refused: SignInRefused | None = st.session_state.pop("signin_refused", None)
    if refused is None:
        return
    if refused.until is not None:
        st.error(f"Too many wrong passwords. Sign-in is paused until {nairobi_clock(refused.until)}; "
                 "wait, or ask the owner to reset your password.")
    else:
        st.error("That username and password do not match an active account.")


def _forget(authenticator: stauth.Authenticate) -> None:
    """End this browser's session: streamlit-authenticator's state and cookie, and ours."""
    authenticator.logout(location="unrendered")
    for key in _STATE:
        st.session_state.pop(key, None)


def _sign_out_buttons(engine: Engine, authenticator: stauth.Authenticate, user: User) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.value})")
        if st.button("Sign out", key="signin_sign_out"):
            signed_out(engine, user, action=AuditAction.SIGNED_OUT, source=source_address())
            _forget(authenticator)
            st.rerun()
        if st.button("Sign out everywhere", key="signin_sign_out_everywhere",
                     help="Ends your sessions on every device, this one too."):
            sign_out_everywhere(engine, user, source=source_address())
            _forget(authenticator)
            st.rerun()


def _create_owner_form(engine: Engine) -> None:
    """First start: claim the dashboard with the setup code the server printed when it started."""
    st.header("Create the owner account")
    st.write("Nobody can sign in yet. The server printed a one-time **setup code** in its console and log when "
             "it started; enter it here to create the owner account, which can then add everyone else.")
    with st.form("owner_form"):
        code = st.text_input("Setup code", placeholder="1234-5678-9012", key="owner_setup_code")
        name = st.text_input("Your name", key="owner_name")
        username = st.text_input("Username", placeholder="wanjiku", key="owner_username")
        email = st.text_input("Email (optional)", key="owner_email")
        password = st.text_input("Password (at least 10 characters)", type="password", key="owner_password")
        again = st.text_input("Password again", type="password", key="owner_password_again")
        submitted = st.form_submit_button("Create the owner account", type="primary", key="owner_create")
    if not submitted:
        return
    if password != again:
        st.error("Password: the two entries differ.")
        return
    try:
        create_owner(engine, setup_code=code, username=username, name=name, password=password, email=email,
                     source=source_address())
    except InputError as err:
        st.error(err.message)
        return
    st.success("The owner account is ready: sign in with it.")
    if st.button("Sign in", key="owner_go_sign_in"):
        st.rerun()

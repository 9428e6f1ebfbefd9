"""Users: who can sign in and in what role; add someone, change a role, disable or enable, reset a password."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from merchant.access import (
    NotAllowed,
    Permission,
    Role,
    User,
    add_user,
    list_users,
    require,
    reset_password,
    set_disabled,
    set_role,
)
from merchant.errors import InputError
from ui import database, fail, nairobi_time
from ui.signin import current_user, source_address

ROLES = {
    Role.OWNER: "Owner: everything, users and settings too",
    Role.FINANCE: "Finance: pay out, approve, settle, export",
    Role.CASHIER: "Cashier: ask customers to pay, see money in",
    Role.VIEWER: "Viewer: charts and tables only",
}
ADD_FIELDS = ("users_add_name", "users_add_username", "users_add_email", "users_add_password", "users_add_again")


def act(done: str, change: Callable[[], object]) -> None:
    """Make one change; say plainly what happened, or why not."""
    try:
        change()
    except InputError as err:
        st.error(err.message)
        return
    except NotAllowed as err:
        st.error(str(err))
        return
    except Exception:  # shown plainly, logged in full
        fail("The change could not be saved.")
    st.session_state.users_done = done
    st.rerun()


def add(fields: dict[str, str], role: Role) -> None:
    if fields["password"] != fields["again"]:
        st.error("Password: the two entries differ.")
        return
    st.session_state.users_clear = True
    act(f"Added {fields['name'].strip()} as {role.value}. Give them their username and password in person.",
        lambda: add_user(database(), current_user(), username=fields["username"], name=fields["name"], role=role,
                         password=fields["password"], email=fields["email"], source=source_address()))
    st.session_state.pop("users_clear", None)  # still here: it failed, keep what was typed


def table(users: list[User]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "name": [user.name for user in users],
        "username": [user.username for user in users],
        "role": [user.role.value.title() for user in users],
        "status": ["Disabled" if user.disabled else "Active" for user in users],
        "last_in": pd.to_datetime([user.last_login_at for user in users], utc=True),
        "email": [user.email or "" for user in users],
    })
    frame["last_in"] = [f"{moment:%-d %b %Y, %H:%M}" if not pd.isna(moment) else "Never"
                        for moment in nairobi_time(frame["last_in"])]
    return frame


me = current_user()
try:  # the frame's navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.MANAGE_USERS)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Users")
if st.session_state.pop("users_clear", False):
    for key in ADD_FIELDS:
        st.session_state[key] = ""
if "users_done" in st.session_state:
    st.success(st.session_state.pop("users_done"))
try:
    users = list_users(database())
except Exception:  # shown plainly, logged in full
    fail("The users cannot be read right now.")

st.dataframe(table(users), hide_index=True, key="users_table", column_config={
    "name": "Name", "username": "Username", "role": "Role", "status": "Status", "email": "Email",
    "last_in": "Last signed in (Nairobi)",
})

st.subheader("Add someone")
with st.form("users_add_form"):
    name, username = st.columns(2)
    name.text_input("Name", key="users_add_name")
    username.text_input("Username (what they sign in with)", placeholder="achieng", key="users_add_username")
    role = st.selectbox("Role", list(ROLES), format_func=ROLES.__getitem__, index=2, key="users_add_role")
    st.text_input("Email (optional)", key="users_add_email")
    password, again = st.columns(2)
    password.text_input("Password (at least 10 characters)", type="password", key="users_add_password")
    again.text_input("Password again", type="password", key="users_add_again")
    if st.form_submit_button("Add", type="primary", key="users_add_submit"):
        add({key.removeprefix("users_add_"): st.session_state[key] for key in ADD_FIELDS}, role)

st.subheader("Change someone")
named = {user.username: user for user in users}
who = st.selectbox("Who", list(named), format_func=lambda key: f"{named[key].name} ({key})", key="users_pick")
if who is None:
    st.caption("Nobody to change yet: add someone above.")
    st.stop()
person = named[who]
role_col, access_col = st.columns(2)
with role_col:
    new_role = st.selectbox("Role", list(ROLES), index=list(ROLES).index(person.role), format_func=ROLES.__getitem__,
                            key=f"users_role_{who}")
    if st.button("Change the role", key="users_change_role", disabled=new_role is person.role):
        act(f"{person.name}'s role is now {new_role.value}.",
            lambda: set_role(database(), me, person.username, new_role, source=source_address()))
with access_col:
    st.write(f"{person.name} is **{'disabled' if person.disabled else 'active'}**.")
    if person.disabled and st.button("Enable", key="users_enable"):
        act(f"{person.name} can sign in again.",
            lambda: set_disabled(database(), me, person.username, False, source=source_address()))
    if not person.disabled and st.button("Disable", key="users_disable", help="Signs them out everywhere at once."):
        act(f"{person.name} is disabled and signed out everywhere.",
            lambda: set_disabled(database(), me, person.username, True, source=source_address()))

with st.form("users_reset_form", clear_on_submit=True):
    new_password = st.text_input(f"New password for {person.name}", type="password", key="users_reset_password",
                                 help="Ends their sessions on every device; give them the new password in person.")
    if st.form_submit_button("Reset the password", key="users_reset"):
        act(f"{person.name}'s password is reset; their sessions have ended.",
            lambda: reset_password(database(), me, person.username, new_password, source=source_address()))

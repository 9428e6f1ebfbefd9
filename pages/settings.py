"""Settings and health: which K2 this server talks to, whether it answers, what arrives, and the database.

Read only: settings come from the environment or `.streamlit/secrets.toml`. A secret shows only as set or not."""
from __future__ import annotations

import streamlit as st

from merchant import health
from merchant.access import NotAllowed, Permission, require
from merchant.health import ConnectionCheck, ConnectionOutcome, Mode
from merchant.preferences import load_preferences, set_self_approval
from ui import database, fail, runtime, settings
from ui.signin import current_user, source_address
from ui.words import nairobi_clock

MODES = {
    Mode.DEMO: (st.info, "**Demo**: the built-in K2 emulator. No real money moves."),
    Mode.SANDBOX: (st.info, "**Sandbox**: Kopo Kopo's test system. No real money moves."),
    Mode.PRODUCTION: (st.warning, "**Production**: live K2. Real money moves."),
}
ANSWERS = {
    ConnectionOutcome.OK: "K2 answered and accepted the client ID and secret.",
    ConnectionOutcome.NO_CREDENTIALS: "Not tested: set K2_CLIENT_ID and K2_CLIENT_SECRET first.",
    ConnectionOutcome.UNREACHABLE: "K2 cannot be reached at that address. Check K2_BASE_URL and this server's "
                                   "internet connection.",
    ConnectionOutcome.TIMED_OUT: "K2 did not answer in time. Try again in a minute.",
    ConnectionOutcome.REFUSED: "K2 refused the client ID and secret. Check K2_CLIENT_ID and K2_CLIENT_SECRET "
                               "(sandbox and production have different ones).",
    ConnectionOutcome.K2_FAILED: "K2 answered with an error on its side. Try again later.",
    ConnectionOutcome.UNEXPECTED: "Something answered, but not like K2. Check K2_BASE_URL.",
}


def is_set(value: bool) -> str:
    return "set" if value else "not set"


def size(count: int | None) -> str:
    """`12.3 MB`, as people read a file size."""
    if count is None:
        return "in memory"
    if count < 1000:
        return f"{count:,} bytes"
    scaled, unit = next((count / 1000**power, unit) for power, unit in ((3, "GB"), (2, "MB"), (1, "KB"))
                        if count >= 1000**power)
    return f"{scaled:,.1f} {unit}"


def facts(rows: dict[str, str]) -> None:
    """A small two-column table: what, and its value."""
    st.table({"What": list(rows), "Value": list(rows.values())}, hide_index=True, hide_header=True)


def say(check: ConnectionCheck) -> None:
    answer = f"{ANSWERS[check.outcome]} ({check.base_url}, {check.elapsed.total_seconds():.1f} s)"
    (st.success if check.outcome is ConnectionOutcome.OK else st.error)(answer)


me = current_user()
try:  # the frame's navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.MANAGE_SETTINGS)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Settings and health")
setup = health.k2_setup(settings())
show, words = MODES[setup.mode]
show(words)

st.subheader("K2")
facts({
    "K2 address (K2_BASE_URL)": setup.base_url,
    "Till number (K2_TILL_NUMBER)": setup.till_number or "not set",
    "This server's public address (PUBLIC_BASE_URL)": setup.public_base_url or "not set",
    "Client ID (K2_CLIENT_ID)": is_set(setup.client_id_set),
    "Client secret (K2_CLIENT_SECRET)": is_set(setup.client_secret_set),
    "Webhook signing key (K2_API_KEY)": is_set(setup.api_key_set),
})
if not setup.public_base_url:
    st.caption("Without PUBLIC_BASE_URL, K2 cannot send results here; late requests are asked about instead.")
if st.button("Test the connection", key="settings_test", help="Asks K2 for a token with these settings."):
    try:
        with st.spinner("Asking K2…"):
            say(health.check_connection(runtime(), me, source=source_address()))
    except NotAllowed as err:
        st.error(str(err))
    except Exception:  # shown plainly, logged in full
        fail("The connection could not be tested.")

try:  # every read up front: a failure below would put the raw error (maybe the database URL) on the page
    engine = database()
    self_approval = load_preferences(engine).self_approval
    last = health.last_webhook_at(engine)
    stored = health.database(engine)
    refused = health.refusals(engine)
except Exception:  # shown plainly, logged in full
    fail("The health figures cannot be read right now.")

st.subheader("Deliveries from K2")
if last is None:
    st.info("No delivery from K2 yet. Once K2 posts a payment or result to this server, its time shows here.")
else:
    st.write(f"Last delivery received: **{nairobi_clock(last)}** (Nairobi time).")
if refused:
    st.write("Deliveries refused before anything was stored (not from K2, or not signed with K2_API_KEY):")
    st.table({
        "Why": [item.reason.capitalize() for item in refused],
        "Last 24 hours": [f"{item.last_day:,}" for item in refused],
        "Last 7 days": [f"{item.last_week:,}" for item in refused],
        "Last one": [nairobi_clock(item.last_at) for item in refused],
    }, hide_index=True)
else:
    st.caption("No deliveries refused in the last 7 days.")

st.subheader("Bulk payouts")
allowed = st.toggle("Let the single owner approve their own payout batches", value=self_approval,
                    key="settings_self_approval", help="For a shop where nobody else may approve: the owner confirms "
                                                       "a second time. Once a finance user is added, they approve.")
if allowed != self_approval:
    set_self_approval(engine, me, allowed, source=source_address())
    st.rerun()

st.subheader("Database")
kinds = {"sqlite": "SQLite (a file on this server)", "postgresql": "PostgreSQL"}
shown = {"Kind": kinds.get(stored.kind, stored.kind), "Size": size(stored.size_bytes)}
if stored.kind != "sqlite":
    shown["Password (in DATABASE_URL)"] = is_set(setup.database_password_set)
facts(shown)

# Bank branches: the owner names each branch once with K2's reference for it; the Recipients page offers the names.
from merchant.errors import InputError  # noqa: E402 - this section's own imports, kept with it
from merchant.payouts import add_branch, list_branches, remove_branch  # noqa: E402

st.subheader("Bank branches")
st.caption("Bank recipients need K2's reference for their branch: copy it once from the K2 web dashboard and "
           "name it here; whoever adds a bank recipient then picks the name.")
if "settings_branch_done" in st.session_state:
    st.success(st.session_state.pop("settings_branch_done"))
try:
    known = list_branches(engine)
except Exception:  # shown plainly, logged in full
    fail("The bank branches cannot be read right now.")
if known:
    st.table({"Branch": [branch.name for branch in known], "K2 reference": [branch.reference for branch in known],
              "Added by": [branch.created_by for branch in known]}, hide_index=True)
else:
    st.caption("No branches named yet.")
if st.session_state.pop("settings_branch_clear", False):  # before the fields are drawn: empty for the next one
    st.session_state.settings_branch_name = st.session_state.settings_branch_ref = ""
with st.form("settings_branch_form"):
    branch_name, branch_ref = st.columns(2)
    branch_name.text_input("Branch name", placeholder="e.g. Equity Bank, Moi Avenue", key="settings_branch_name")
    branch_ref.text_input("K2 branch reference", placeholder="e.g. 3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c",
                          key="settings_branch_ref")
    if st.form_submit_button("Add the branch", key="settings_branch_add"):
        try:
            made = add_branch(engine, me, name=st.session_state.settings_branch_name,
                              reference=st.session_state.settings_branch_ref, source=source_address())
        except InputError as err:
            st.error(err.message)
        except NotAllowed as err:
            st.error(str(err))
        except Exception:  # shown plainly, logged in full
            fail("The branch could not be added.")
        else:
            st.session_state.settings_branch_done = f"Added {made.name}."
            st.session_state.settings_branch_clear = True
            st.rerun()
if known:
    gone, remove = st.columns([3, 1], vertical_alignment="bottom")
    named = {branch.id: branch.name for branch in known}
    which = gone.selectbox("Take a branch off the list", list(named), format_func=named.__getitem__,
                           key="settings_branch_pick", help="Recipients already added keep their reference.")
    if remove.button("Remove", key="settings_branch_remove") and which is not None:
        try:
            remove_branch(engine, me, which, source=source_address())
        except (InputError, NotAllowed) as err:
            st.error(getattr(err, "message", str(err)))
        except Exception:  # shown plainly, logged in full
            fail("The branch could not be removed.")
        else:
            st.session_state.settings_branch_done = f"Removed {named[which]}."
            st.rerun()

"""Bulk payouts, as a finance clerk works through them: download the template, upload the filled-in file, fix every
row the check names (on the page or in the file), submit it; a second person approves it; watch it go out row by row
(the server's workers send it, never this page); export the results and send the failed rows again."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from merchant.access import NotAllowed, Permission, can, require
from merchant.errors import InputError
from merchant.payouts import list_branches
from merchant.payouts.batches import (
    BatchCheck,
    BatchRowView,
    BatchState,
    BatchView,
    NeedsConfirmation,
    RowStatus,
    approve_batch,
    batch_rows,
    cancel_batch,
    check_batch,
    decline_batch,
    export_results,
    get_batch,
    list_batches,
    may_self_approve,
    pause_batch,
    resume_batch,
    retry_failed,
    submit_batch,
)
from merchant.payouts.sheet import (
    MAX_BYTES,
    MAX_ROWS,
    CheckedSheet,
    SheetRefused,
    check_sheet,
    read_sheet,
    template_csv,
    template_xlsx,
)
from ui import database, fail, runtime, settings
from ui.signin import current_user, source_address
from ui.words import batch_row_meaning, destination, kes_exact, nairobi_clock, payee_kind

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROW, PROBLEMS = "Row in file", "What to fix"  # the editor's own columns, beside the file's
LISTED = 20  # problems listed above the table; every one is beside its row
UNSENT = (RowStatus.PREPARING, RowStatus.QUEUED, RowStatus.PAUSED)
SHOWN_WHILE_SENDING = 200  # rows not yet settled, redrawn every second: enough to watch, little to read


@dataclass(frozen=True)
class Draft:
    """An upload being checked. Its token makes Submit, however often clicked, one batch; `version` names the editor
    holding its table (a new one after each check, so edits already checked are not applied twice)."""

    file_id: str
    file_name: str
    token: str
    checked: CheckedSheet
    check: BatchCheck | None  # repeats of earlier payouts; looked for once no row has a problem
    version: int = 0


def drafted(file_id: str, file_name: str, token: str, sheet_checked: CheckedSheet, version: int = 0) -> Draft:
    """A draft of this check, with what it repeats of earlier payouts once no row has a problem."""
    check = None if sheet_checked.problems else check_batch(runtime(), me, sheet_checked)
    return Draft(file_id, file_name, token, sheet_checked, check, version)


def many(count: int, noun: str) -> str:
    """`1 payment`, `1,200 payments`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def branches() -> dict[str, str]:
    return {branch.name: branch.reference for branch in list_branches(database())}


def per_type(amounts: Iterable[tuple[str, Decimal]]) -> str:
    """`M-Pesa: 118 (KES 236,000) · Bank account: 2 (KES 90,001.50)`."""
    totals: dict[str, list[Decimal]] = {}
    for kind, amount in amounts:
        totals.setdefault(kind, []).append(amount)
    return " · ".join(f"{payee_kind(kind)}: {len(each):,} ({kes_exact(sum(each, Decimal(0)))})"
                      for kind, each in totals.items())


def editor_table(sheet_checked: CheckedSheet) -> pd.DataFrame:
    """The file's cells as written, each row's problems beside it; rows with problems first."""
    sheet = sheet_checked.sheet
    wrong: dict[int, list[str]] = {}
    for problem in sheet_checked.problems:
        wrong.setdefault(problem.row, []).append(f"{problem.column}: {problem.message}")
    table = pd.DataFrame(sheet.records, columns=list(sheet.columns), dtype="string")
    table.insert(0, ROW, pd.array(sheet.numbers, dtype="Int64"))
    table.insert(1, PROBLEMS, ["; ".join(wrong.get(number, [])) for number in sheet.numbers])
    return table.sort_values(PROBLEMS, key=lambda column: column.eq(""), kind="stable").reset_index(drop=True)


def check_again(draft: Draft, edited: pd.DataFrame) -> None:
    """Check the table as the person left it: back in file order, rows added on the page last, blank rows dropped."""
    columns = list(draft.checked.sheet.columns)
    kept = edited[edited[columns].fillna("").astype(str).apply(lambda row: "".join(row).strip() != "", axis=1)]
    numbers = [None if pd.isna(number) else int(number) for number in kept[ROW]]
    records = kept[columns].to_dict("records")
    order = sorted(range(len(records)), key=lambda at: (numbers[at] is None, numbers[at] or 0))
    sheet = draft.checked.sheet.with_edits([records[at] for at in order], [numbers[at] for at in order])
    st.session_state.bulk_draft = drafted(draft.file_id, draft.file_name, draft.token,
                                          check_sheet(sheet, branches()), draft.version + 1)
    st.rerun()


def warnings(draft: Draft) -> list[str]:
    """What deserves a second look before submitting, one line each."""
    lines = [f"Row {warning.row}, {warning.column}: {warning.message}" for warning in draft.checked.warnings]
    if draft.check is not None:
        same = draft.check.same_file
        if same is not None:
            lines.insert(0, f"This file was already submitted as batch {same.id} by {same.created_by} at "
                            f"{nairobi_clock(same.created_at)} ({same.status_words}).")
        lines += [f"Row {number}: the same amount to the same place as {what}, within the last 30 days."
                  for number, what in draft.check.recent]
    return lines


def submit(draft: Draft) -> BatchView:
    """Submit the checked table under the upload's token, and empty the upload box for the next file."""
    try:
        batch = submit_batch(runtime(), me, draft.checked, token=draft.token, file_name=draft.file_name,
                             confirmed=bool(warnings(draft)), source=source_address())
    except NeedsConfirmation as err:  # a repeat written since the check: show it and ask for the tick again
        st.session_state.bulk_draft = replace(draft, check=err.check, version=draft.version + 1)
        st.session_state.bulk_said = ("warning", "Something new to check before submitting: see below.")
        st.rerun()
    del st.session_state.bulk_draft
    st.session_state.bulk_uploads = st.session_state.get("bulk_uploads", 0) + 1
    return batch


def upload() -> None:
    """The template, the upload, and the uploaded file's check with its table to fix."""
    st.subheader("Upload a payout file")
    st.caption(f"One payment a row: up to {MAX_ROWS:,} payments and {MAX_BYTES // 1_048_576} MB a file. Type is "
               "M-Pesa, Bank, Till or Paybill; each type fills in its own columns (the template has one example "
               "of each). Kopo Kopo's own bank bulk-payment file works too.")
    named = list(branches())
    templates = st.container(horizontal=True)
    branch = named[0] if named else None  # the bank example row at a branch this shop named
    templates.download_button("Download the template (CSV)", template_csv(branch=branch),
                              file_name="payouts-template.csv", mime="text/csv", icon=":material/download:",
                              key="bulk_template_csv", on_click="ignore")
    templates.download_button("Download the template (Excel)", template_xlsx(branch=branch),
                              file_name="payouts-template.xlsx", mime=XLSX, icon=":material/download:",
                              key="bulk_template_xlsx", on_click="ignore")
    file = st.file_uploader("Upload a CSV or Excel file", type=["csv", "xlsx", "xls", "txt", "tsv"],
                            max_upload_size=MAX_BYTES // 1_048_576,
                            key=f"bulk_upload_{st.session_state.get('bulk_uploads', 0)}")
    draft: Draft | None = st.session_state.get("bulk_draft")
    if file is None:
        st.session_state.pop("bulk_draft", None)
        return
    if draft is None or draft.file_id != file.file_id:
        try:
            draft = drafted(file.file_id, file.name, uuid.uuid4().hex,
                            check_sheet(read_sheet(file.getvalue(), file.name), branches()))
        except SheetRefused as err:
            st.session_state.pop("bulk_draft", None)
            st.error(err.message)
            return
        except Exception:  # shown plainly, logged in full
            fail("The file could not be checked.")
        st.session_state.bulk_draft = draft
    review(draft)


def review(draft: Draft) -> None:
    """The summary, every problem, the table to fix them in, what to check, and Submit."""
    sheet_checked = draft.checked
    ready, rows, problems = st.columns(3)
    ready.metric("Payments ready", f"{sheet_checked.count:,}")
    rows.metric("Total", kes_exact(sheet_checked.total))
    problems.metric("Problems to fix", f"{len(sheet_checked.problems):,}")
    if sheet_checked.rows:
        st.caption(per_type((row.type.value, row.amount) for row in sheet_checked.rows))
    if sheet_checked.problems:
        them = "it" if len(sheet_checked.problems) == 1 else "them"
        st.error(f"{many(len(sheet_checked.problems), 'problem')}: fix {them} in the table below and press Check "
                 "again, or fix the file and upload it again. Rows with problems are not counted above.")
        st.markdown("\n".join(f"- Row {problem.row}, {problem.column}: {problem.message}"
                              for problem in sheet_checked.problems[:LISTED]))
        if len(sheet_checked.problems) > LISTED:
            st.caption(f"… and {len(sheet_checked.problems) - LISTED:,} more, each beside its row below.")
    editor = f"bulk_editor_{draft.token}_{draft.version}"
    text = st.column_config.TextColumn
    edited = st.data_editor(
        editor_table(sheet_checked), key=editor, num_rows="dynamic", hide_index=True, disabled=[ROW, PROBLEMS],
        column_order=None if sheet_checked.problems else [ROW, *sheet_checked.sheet.columns],
        column_config={ROW: st.column_config.NumberColumn(ROW, format="%d", width="small"),
                       PROBLEMS: text(PROBLEMS, width="large")} | {column: text(column)
                                                                   for column in sheet_checked.sheet.columns})
    changes = st.session_state.get(editor) or {}
    unchecked = any(changes.get(kind) for kind in ("edited_rows", "added_rows", "deleted_rows"))
    if st.button("Check again", key="bulk_check_again", type="primary" if unchecked else "secondary",
                 help="Checks the table as it is now, with your changes."):
        check_again(draft, edited)
    to_check = warnings(draft)
    if to_check:
        st.warning("Check these before submitting:\n" + "\n".join(f"- {line}" for line in to_check))
        looked = st.checkbox("I checked these: submit them as they are", key=f"bulk_looked_{editor}")
    else:
        looked = True
    blocked = ("Fix the problems first." if sheet_checked.problems else
               "Press Check again first: the table has changes not yet checked." if unchecked else
               "There are no payments in the file." if not sheet_checked.rows else
               "Tick that you checked the rows above first." if not looked else None)
    if st.button(f"Submit {many(sheet_checked.count, 'payment')} ({kes_exact(sheet_checked.total)}) for approval",
                 key="bulk_submit", type="primary", disabled=blocked is not None) and blocked is None:
        # here, not in a callback: a click sent with an edit sees the edit (and is held back)
        attempt(partial(submit, draft), lambda batch: f"Batch {batch.id} is waiting for approval by another "
                                                      "finance user or the owner.")
    if blocked:
        st.caption(blocked)


def attempt(action: Callable[[], Any], said: Callable[[Any], str], tone: str = "success") -> None:
    """Make the change a person asked for; how it went reads at the top of the page, which runs again in full."""
    try:
        done = action()
    except (InputError, NotAllowed) as err:
        st.session_state.bulk_said = ("error", err.message if isinstance(err, InputError) else str(err))
    except Exception:  # shown plainly, logged in full
        fail("The change could not be saved.")
    else:
        st.session_state.bulk_said = (tone, said(done))
    st.rerun()


def rows_table(rows: list[BatchRowView]) -> pd.DataFrame:
    return pd.DataFrame({
        "Row": [row.number for row in rows],
        "Paid to": [row.nickname for row in rows],
        "Where": [destination(row.type, row.details) for row in rows],
        "Amount": [kes_exact(row.amount) for row in rows],
        "Status": [row.status.value for row in rows],
        "M-Pesa / bank ref": [row.transaction_reference or "" for row in rows],
        "What it means": [batch_row_meaning(row.status, row.reason) for row in rows],
        "For": [row.description for row in rows],
        "Your reference": [row.reference or "" for row in rows],
    })


def headline(batch: BatchView) -> str:
    return (f"**Batch {batch.id}** · {batch.file_name} · **{many(batch.row_count, 'payment')}, "
            f"{kes_exact(batch.total)}**")


def approval(batch: BatchView, self_ok: bool) -> None:
    """One batch waiting: what it pays, who submitted it when, and the decision."""
    mine = batch.created_by == me.username
    rows = batch_rows(database(), batch.id)
    with st.container(border=True, key=f"bulk_waiting_{batch.id}"):
        st.markdown(headline(batch))
        again = f" · the failed rows of batch {batch.retry_of}" if batch.retry_of else ""
        st.caption(f"{per_type((row.type, row.amount) for row in rows)} · Submitted by "
                   f"{'you' if mine else batch.created_by} at {nairobi_clock(batch.created_at)}{again}")
        with st.expander("See every payment"):
            st.dataframe(rows_table(rows).drop(columns=["Status", "M-Pesa / bank ref", "What it means"]),
                         hide_index=True, key=f"bulk_waiting_rows_{batch.id}")
        decision = st.container(horizontal=True, vertical_alignment="center")
        if not mine and decision.button("Approve and send", key=f"bulk_approve_{batch.id}", type="primary"):
            attempt(partial(approve_batch, runtime(), me, batch.id, source=source_address()),
                    lambda _: f"Approved batch {batch.id}: {many(batch.row_count, 'payment')} going out now.")
        if mine and self_ok and decision.button("Approve my own batch", key=f"bulk_self_{batch.id}"):
            st.session_state[f"bulk_self_asked_{batch.id}"] = True
        declined = decision.button("Decline", key=f"bulk_decline_{batch.id}")
        reason = decision.text_input("Reason for declining (optional)", key=f"bulk_reason_{batch.id}",
                                     label_visibility="collapsed", placeholder="Reason for declining (optional)")
        if declined:
            attempt(partial(decline_batch, runtime(), me, batch.id, reason=reason, source=source_address()),
                    lambda _: f"Declined batch {batch.id}: none of it will be sent.", "info")
        if mine and not self_ok:
            st.caption("You submitted this batch; another person must approve it. You can still decline it.")
        if mine and st.session_state.get(f"bulk_self_asked_{batch.id}"):
            st.warning(f"You submitted batch {batch.id} yourself. Approving it sends {kes_exact(batch.total)} in "
                       f"{many(batch.row_count, 'payment')} with no second person looking. Are you sure?")
            if st.button("Yes, approve and send my own batch", key=f"bulk_self_yes_{batch.id}", type="primary"):
                attempt(partial(approve_batch, runtime(), me, batch.id, self_approval=True, source=source_address()),
                        lambda _: f"Approved your own batch {batch.id}: {many(batch.row_count, 'payment')} going "
                                  "out now.")


def progress(batch: BatchView) -> None:
    """One batch going out: the bar, what needs review, the controls, and every row as it stands."""
    with st.container(border=True, key=f"bulk_sending_{batch.id}"):
        st.markdown(headline(batch) + f" · approved by {batch.decided_by} at "
                    f"{nairobi_clock(batch.decided_at or batch.created_at)}")
        st.progress(batch.settled / batch.row_count, text=f"{batch.settled:,} of {batch.row_count:,} settled · "
                    f"{kes_exact(batch.paid)} paid · {batch.status_words.capitalize()}")
        review_count = batch.counts.get(RowStatus.NEEDS_REVIEW, 0)
        if review_count:
            st.warning(f"{many(review_count, 'payment')} to review: K2 may have paid them; each settles when K2's "
                       "result arrives. Do not pay them again meanwhile.")
        unsent = sum(batch.counts.get(status, 0) for status in UNSENT)
        controls(batch, unsent)
        going = batch_rows(database(), batch.id, unsettled=SHOWN_WHILE_SENDING)
        st.dataframe(rows_table(going), hide_index=True, key=f"bulk_sending_rows_{batch.id}")
        if batch.row_count - batch.settled > len(going):
            st.caption(f"The first {len(going):,} rows still going out; every row is in the results once the batch "
                       "is done.")


def controls(batch: BatchView, unsent: int) -> None:
    """Pause, resume, and cancel (asked twice) the payments not yet sent."""
    asked = f"bulk_cancel_asked_{batch.id}"
    if batch.state is BatchState.CANCELLED or not unsent:
        return
    buttons = st.container(horizontal=True)
    if batch.state is BatchState.SENDING and buttons.button("Pause", key=f"bulk_pause_{batch.id}"):
        attempt(partial(pause_batch, runtime(), me, batch.id, source=source_address()),
                lambda _: f"Paused batch {batch.id}: payments not yet sent wait until you resume it.", "info")
    if batch.state is BatchState.PAUSED and buttons.button("Resume", key=f"bulk_resume_{batch.id}", type="primary"):
        attempt(partial(resume_batch, runtime(), me, batch.id, source=source_address()),
                lambda _: f"Resumed batch {batch.id}.")
    if buttons.button("Cancel the rest", key=f"bulk_cancel_{batch.id}"):
        st.session_state[asked] = True
    if st.session_state.get(asked):
        st.warning(f"Cancel the {many(unsent, 'payment')} of batch {batch.id} not yet sent? They are never sent; those "
                   "already with K2 settle as they will.")
        answer = st.container(horizontal=True)
        if answer.button("Yes, cancel them", key=f"bulk_cancel_yes_{batch.id}", type="primary"):
            st.session_state.pop(asked)
            attempt(partial(cancel_batch, runtime(), me, batch.id, source=source_address()),
                    lambda _: f"Cancelled the payments of batch {batch.id} not yet sent.", "info")
        if answer.button("No, keep sending", key=f"bulk_cancel_no_{batch.id}"):
            st.session_state.pop(asked)
            st.rerun(scope="fragment")


@st.fragment(run_every=1)
def sending(batch_ids: list[int]) -> None:
    """The batches going out, redrawn every second on their own; once one is done the whole page moves on."""
    for batch_id in batch_ids:
        batch = get_batch(database(), batch_id)
        if batch is None or batch.done:
            st.rerun()
        progress(batch)


def results(batch: BatchView, retries: list[BatchView]) -> None:
    """A batch's outcome row by row, its downloads, and its failed rows as a new batch (once: until that one is
    declined or cancelled, its id is the retry's token, whoever clicks and however often)."""
    st.markdown(headline(batch) + f" · {batch.status_words.capitalize()} · {kes_exact(batch.paid)} paid")
    st.dataframe(rows_table(batch_rows(database(), batch.id)), hide_index=True, key=f"bulk_results_rows_{batch.id}")
    actions = st.container(horizontal=True)
    if can(me.role, Permission.EXPORT):
        for kind, mime in (("csv", "text/csv"), ("xlsx", XLSX)):
            actions.download_button(f"Download {'CSV' if kind == 'csv' else 'Excel'}",
                                    partial(export_results, database(), me, batch.id, format=kind,
                                            source=source_address()),
                                    file_name=f"batch-{batch.id}-results.{kind}", mime=mime, on_click="ignore",
                                    icon=":material/download:", key=f"bulk_results_{kind}_{batch.id}")
    failed = batch.counts.get(RowStatus.FAILED, 0) + batch.counts.get(RowStatus.NOT_SENT, 0)
    dropped = [retry for retry in retries if retry.state in (BatchState.DECLINED, BatchState.CANCELLED)]
    live = [retry for retry in retries if retry not in dropped]
    if live:
        st.caption(f"Its failed rows were sent again as batch {live[0].id} ({live[0].status_words}).")
        return
    again = "Send the failed row again" if failed == 1 else f"Send the {failed:,} failed rows again"
    if failed and actions.button(again, key=f"bulk_retry_{batch.id}"):
        token = f"failed rows of batch {batch.id}, try {len(dropped) + 1}"
        attempt(partial(retry_failed, runtime(), me, batch.id, token=token, source=source_address()),
                lambda made: f"Batch {made.id} (the failed rows of batch {batch.id}) is waiting for approval by "
                             "another finance user or the owner.")


def history(batches: list[BatchView]) -> None:
    st.subheader("Every batch")
    if not batches:
        st.info("No batches yet: download the template above, fill in one payment a row, and upload it.")
        return
    st.dataframe(pd.DataFrame({
        "Batch": [batch.id for batch in batches],
        "File": [batch.file_name for batch in batches],
        "Submitted": [f"{nairobi_clock(batch.created_at)} by {batch.created_by}" for batch in batches],
        "Payments": [f"{batch.row_count:,}" for batch in batches],
        "Total": [kes_exact(batch.total) for batch in batches],
        "Paid": [kes_exact(batch.paid) for batch in batches],
        "Where it stands": [batch.status_words.capitalize() for batch in batches],
    }), hide_index=True, key="bulk_history")


me = current_user()
try:  # the navigation leaves this page out for other roles; this holds even if it is reached another way
    require(me, Permission.PAY_OUT)
except NotAllowed as err:
    st.error(str(err))
    st.stop()
st.header("Bulk payouts")
said = st.session_state.pop("bulk_said", None)
if said is not None:
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[said[0]](said[1])
if not (settings().k2_client_id and settings().k2_client_secret):
    st.info("K2 is not set up (K2_CLIENT_ID and K2_CLIENT_SECRET): batches can be checked, submitted and approved "
            "here, and are sent once it is.")
try:
    upload()
    all_batches = list_batches(database())
except Exception:  # shown plainly, logged in full
    fail("The payout batches cannot be read right now.")

waiting = [batch for batch in all_batches if batch.state is BatchState.AWAITING_APPROVAL]
st.subheader("Waiting for approval")
if not waiting:
    st.caption("No batch is waiting for approval. A batch you submit waits here until a second person approves it.")
self_ok = any(batch.created_by == me.username for batch in waiting) and may_self_approve(database(), me)
for batch in waiting:
    approval(batch, self_ok)

approved = [batch for batch in all_batches if batch.state not in (BatchState.AWAITING_APPROVAL, BatchState.DECLINED)]
going = [batch.id for batch in approved if not batch.done]
if going:
    st.subheader("Being sent")
    sending(going)

st.subheader("Results")
finished = {batch.id: batch for batch in approved if not batch.moving}
if not finished:
    st.caption("No batch has finished yet. Each one's results show here, row by row, once it has gone out.")
else:
    chosen = st.selectbox("Batch", list(finished), key="bulk_results_batch", format_func=lambda batch_id: (
        f"Batch {batch_id} · {finished[batch_id].file_name} · {nairobi_clock(finished[batch_id].created_at)}"))
    shown = finished[chosen if chosen in finished else next(iter(finished))]
    results(shown, [batch for batch in all_batches if batch.retry_of == shown.id])

history(all_batches)

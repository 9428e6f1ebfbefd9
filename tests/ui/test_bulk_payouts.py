"""The Bulk payouts page under AppTest on a temporary SQLite file: a finance clerk uploads a spreadsheet, reads every
problem beside its row, submits; a second finance user or the owner approves (the submitter cannot, but may
decline; the single owner may after a second yes, once allowed in Settings); pause, resume and cancel; against
k2sim, a batch watched to the end and its failed rows sent again. Viewers and cashiers never reach it."""
from __future__ import annotations

import re
import secrets
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from merchant.access import AuditAction, Role, audit_log
from merchant.db import open_database
from merchant.payouts.batches import BatchState, BatchView, RowStatus, get_batch, list_batches, submit_batch
from merchant.payouts.sheet import check_sheet, read_sheet
from merchant.preferences import load_preferences
from merchant.runtime import current
from ui.words import batch_row_meaning

from .conftest import a_user, add, offered
from .test_pay import K2, as_user, eventually, k2  # noqa: F401 - k2: the live fixture, shared
from .test_settle import click

PAGE = "pages/bulk_payouts.py"
HEADER = "Type,Name,Phone,Bank branch,Account number,Till number,Paybill number,Amount,Description,Reference"
BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"
JANE = 'M-Pesa,Jane Wanjiru,0712 345 678,,,,,"1,500",Salary November,EMP-014'
KAMAU = "Till,Kamau Hardware,,,,555123,,3000,Cement,INV-114"
MAMA = f"Bank,Mama Mboga Ltd,,{BRANCH},0100234123,,,12500.50,Supplies,INV-9"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def payout_file(*lines: str) -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode()


def uploaded(page: AppTest, data: bytes, name: str = "payroll.csv") -> AppTest:
    page.file_uploader[0].set_value((name, data, "text/csv"))
    page.run()
    assert not page.exception, page.exception
    return page


def texts(elements: object) -> list[str]:
    return [element.value for element in elements]  # type: ignore[attr-defined]


def submitted(*lines: str, by: str = "njeri", role: Role = Role.FINANCE) -> BatchView:
    """A batch submitted as the console would, through the same function as the page."""
    checked = check_sheet(read_sheet(payout_file(*lines), "payroll.csv"))
    return submit_batch(current(), a_user(role, by), checked, token=secrets.token_hex(8), file_name="payroll.csv",
                        confirmed=True)


def batch(batch_id: int = 1) -> BatchView:
    engine = current().engine
    assert engine is not None
    found = get_batch(engine, batch_id)
    assert found is not None
    return found


class TestUpload:
    def test_the_limits_are_stated_and_both_templates_offered(self, database_url: str) -> None:
        page = as_user(PAGE, Role.FINANCE, "njeri")
        assert any("up to 10,000 payments and 5 MB a file" in caption for caption in texts(page.caption))
        assert [button.label for button in page.get("download_button")] == [
            "Download the template (CSV)", "Download the template (Excel)"]
        assert "No batches yet: download the template above" in texts(page.info)[-1]

    def test_every_problem_is_listed_and_shown_beside_its_row_and_submit_waits(self, database_url: str) -> None:
        page = uploaded(as_user(PAGE, Role.FINANCE, "njeri"), payout_file(
            JANE, "M-Pesa,Brian Otieno,0712 34,,,,,1500,Salary,", "Till,Kamau Hardware,,,,555123,,12.50,,"))
        assert [metric.value for metric in page.metric] == ["1", "KES 1,500", "3"]
        assert page.error[0].value.startswith("3 problems: fix them in the table below")
        assert page.markdown[0].value.splitlines() == [
            "- Row 3, Phone: '0712 34' is not a Kenyan mobile number (write 07…, 01…, 2547… or +2547…).",
            "- Row 4, Amount: M-Pesa moves whole shillings; pay 12 or 13, not 12.50.",
            "- Row 4, Description: say what the payment is for, e.g. 'Stock, invoice 114'.",
        ]
        table = page.dataframe[0].value  # the data editor: rows with problems first, each problem beside its row
        assert list(table["Row in file"]) == [3, 4, 2]
        assert table["What to fix"][1] == ("Amount: M-Pesa moves whole shillings; pay 12 or 13, not 12.50.; "
                                           "Description: say what the payment is for, e.g. 'Stock, invoice 114'.")
        assert table["What to fix"][2] == "" and table["Phone"][0] == "0712 34"
        assert page.button(key="bulk_submit").disabled
        assert "Fix the problems first." in texts(page.caption)

        page = uploaded(page, payout_file(JANE, KAMAU, MAMA), "payroll-fixed.csv")  # or upload it again, fixed
        assert not page.error and [metric.value for metric in page.metric] == ["3", "KES 17,000.50", "0"]
        assert "M-Pesa: 1 (KES 1,500) · Till: 1 (KES 3,000) · Bank account: 1 (KES 12,500.50)" in texts(page.caption)
        assert page.button(key="bulk_submit").label == "Submit 3 payments (KES 17,000.50) for approval"
        assert not page.button(key="bulk_submit").disabled

    def test_a_file_that_cannot_be_used_says_why(self, database_url: str) -> None:
        page = uploaded(as_user(PAGE, Role.FINANCE, "njeri"), b"Name,Phone\r\nJane Wanjiru,0712345678\r\n")
        assert page.error[0].value.startswith("payroll.csv has no header row")
        assert not page.metric and "bulk_submit" not in [button.key for button in page.button]

    def test_finance_submits_and_the_upload_box_empties(self, database_url: str) -> None:
        page = click(uploaded(as_user(PAGE, Role.FINANCE, "njeri"), payout_file(JANE, KAMAU)), "bulk_submit")
        assert texts(page.success) == ["Batch 1 is waiting for approval by another finance user or the owner."]
        assert batch().state is BatchState.AWAITING_APPROVAL and batch().total == Decimal(4500)
        assert batch().created_by == "njeri" and batch().file_name == "payroll.csv"
        assert not page.metric and page.file_uploader[0].value is None
        engine = current().engine
        assert engine is not None
        assert list(audit_log(engine, actions=[AuditAction.BATCH_SUBMITTED])["actor"]) == ["njeri"]

    def test_repeats_need_a_tick_and_the_same_file_again_is_named(self, database_url: str) -> None:
        repeated = payout_file(JANE, KAMAU, JANE.replace("EMP-014", "EMP-015"))
        page = uploaded(as_user(PAGE, Role.FINANCE, "njeri"), repeated)
        assert page.warning[0].value.splitlines()[1] == (
            "- Row 4, Phone: KES 1,500 to the same phone as row 2: keep both only if both payments are meant.")
        assert page.button(key="bulk_submit").disabled
        assert "Tick that you checked the rows above first." in texts(page.caption)
        page.checkbox[0].check()
        page.run()
        click(page, "bulk_submit")
        assert batch().row_count == 3

        page = uploaded(page, repeated)  # the same bytes again, by mistake
        lines = page.warning[0].value.splitlines()
        assert lines[1].startswith("- This file was already submitted as batch 1 by njeri at ")
        repeats = [re.fullmatch(r"- Row (\d): the same amount to the same place as row (\d) of batch 1, within the "
                                r"last 30 days\.", line) for line in lines[3:]]
        assert [(match[1], match[2]) for match in repeats if match] in (  # Jane's rows of batch 1: either repeats
            [("2", "2"), ("3", "3"), ("4", "2")], [("2", "4"), ("3", "3"), ("4", "4")])
        assert page.button(key="bulk_submit").disabled


class TestApproval:
    def test_the_submitter_sees_no_approve_but_can_decline(self, database_url: str) -> None:
        submitted(JANE, KAMAU)
        page = as_user(PAGE, Role.FINANCE, "njeri")
        keys = [button.key for button in page.button]
        assert "bulk_approve_1" not in keys and "bulk_self_1" not in keys and "bulk_decline_1" in keys
        assert "You submitted this batch; another person must approve it. You can still decline it." in \
            texts(page.caption)
        page.text_input(key="bulk_reason_1").input("Wrong month")
        click(page, "bulk_decline_1")
        assert texts(page.info)[0] == "Declined batch 1: none of it will be sent."
        assert batch().state is BatchState.DECLINED and batch().note == "Wrong month"
        assert "bulk_decline_1" not in [button.key for button in page.button]

    @pytest.mark.parametrize(("role", "username"), [(Role.FINANCE, "otieno"), (Role.OWNER, "amina")])
    def test_another_finance_user_or_the_owner_approves(self, database_url: str, role: Role, username: str) -> None:
        submitted(JANE, KAMAU)
        page = as_user(PAGE, role, username)
        assert "**Batch 1** · payroll.csv · **2 payments, KES 4,500**" in texts(page.markdown)
        assert any(caption.startswith("M-Pesa: 1 (KES 1,500) · Till: 1 (KES 3,000) · Submitted by njeri at ")
                   for caption in texts(page.caption))
        click(page, "bulk_approve_1")
        assert texts(page.success) == ["Approved batch 1: 2 payments going out now."]
        assert batch().state is BatchState.SENDING and batch().decided_by == username

    def test_the_single_owner_approves_their_own_batch_after_allowing_it_and_a_second_yes(
        self, database_url: str
    ) -> None:
        add(database_url, "amina", Role.OWNER)  # nobody else may approve in this shop
        submitted(JANE, by="amina", role=Role.OWNER)
        page = as_user(PAGE, Role.OWNER, "amina")
        assert "bulk_self_1" not in [button.key for button in page.button]  # not allowed yet

        settings = as_user("pages/settings.py", Role.OWNER, "amina")
        settings.toggle(key="settings_self_approval").set_value(True)
        settings.run()
        engine = open_database(database_url)
        assert load_preferences(engine).self_approval

        page.run()
        click(page, "bulk_self_1")
        assert batch().state is BatchState.AWAITING_APPROVAL  # the first yes alone sends nothing
        assert page.warning[0].value.startswith("You submitted batch 1 yourself. Approving it sends KES 1,500 in "
                                                "1 payment with no second person looking.")
        click(page, "bulk_self_yes_1")
        assert texts(page.success) == ["Approved your own batch 1: 1 payment going out now."]
        assert batch().state is BatchState.SENDING
        [approved] = audit_log(engine, actions=[AuditAction.APPROVED])["detail"]
        assert '"self_approved": true' in approved

    @pytest.mark.parametrize("role", list(Role))
    def test_only_finance_and_the_owner_are_offered_the_page(self, database_url: str, role: Role) -> None:
        offered(database_url, role, PAGE, "Bulk payouts", to={Role.OWNER, Role.FINANCE})

    @pytest.mark.parametrize("role", [Role.VIEWER, Role.CASHIER])
    def test_viewers_and_cashiers_reaching_it_another_way_are_refused(self, database_url: str, role: Role) -> None:
        page = as_user(PAGE, role, "achieng")
        assert texts(page.error) == [f"Your role ({role.value}) cannot do this; ask someone who is owner or finance."]
        assert not page.file_uploader and not page.header


class TestSending:
    def test_pause_resume_and_cancel_the_rows_not_yet_sent(self, database_url: str) -> None:
        submitted(JANE, KAMAU)  # no K2 here: approved rows wait, as if the runner had not reached them
        click(as_user(PAGE, Role.FINANCE, "otieno"), "bulk_approve_1")
        page = as_user(PAGE, Role.FINANCE, "njeri")
        assert "Being sent" in texts(page.subheader)
        assert page.get("progress")[0].proto.text == "0 of 2 settled · KES 0 paid · Sending: 2 getting ready"
        click(page, "bulk_pause_1")
        assert texts(page.info)[0].startswith("Paused batch 1") and batch().state is BatchState.PAUSED
        assert batch().counts == {RowStatus.PAUSED: 2}
        click(page, "bulk_resume_1")
        assert batch().state is BatchState.SENDING
        click(page, "bulk_cancel_1")
        assert batch().state is BatchState.SENDING  # asked first
        assert "Cancel the 2 payments of batch 1 not yet sent?" in page.warning[0].value
        click(page, "bulk_cancel_yes_1")
        assert batch().state is BatchState.CANCELLED and batch().counts == {RowStatus.CANCELLED: 2}
        assert "Being sent" not in texts(page.subheader)
        results = page.dataframe[-2].value  # the last batch's rows, above the history
        assert list(results["Status"]) == ["Cancelled", "Cancelled"]
        assert results["What it means"][0] == "Cancelled before it was sent; nothing was paid."
        engine = current().engine
        assert engine is not None
        assert len(audit_log(engine, actions=[AuditAction.BATCH_CHANGED])) == 3

    def test_a_batch_is_watched_to_the_end_and_its_failed_rows_sent_again(self, k2: K2) -> None:
        submitted(JANE, KAMAU, "M-Pesa,Brian Otieno,0722 000 002,,,,,700,Salary November,EMP-015")
        click(as_user(PAGE, Role.FINANCE, "otieno"), "bulk_approve_1")
        page = eventually(as_user(PAGE, Role.FINANCE, "njeri"), lambda p: batch().done and p.selectbox, 30)
        history = page.dataframe[-1].value
        assert history["Where it stands"][0] == "Done: 2 paid, 1 failed" and history["Paid"][0] == "KES 4,500"
        results = page.dataframe[-2].value
        assert list(results["Status"]) == ["Paid", "Paid", "Failed"]
        assert list(results["Where"]) == ["M-Pesa 0712 345 678", "Till 555123", "M-Pesa 0722 000 002"]
        assert results["M-Pesa / bank ref"][0] and results["M-Pesa / bank ref"][2] == ""
        assert results["What it means"][2].startswith("Not enough money in your K2 account to pay this")
        assert [button.label for button in page.get("download_button")][-2:] == ["Download CSV", "Download Excel"]

        click(page, "bulk_retry_1")
        assert texts(page.success) == ["Batch 2 (the failed rows of batch 1) is waiting for approval by another "
                                       "finance user or the owner."]
        assert batch(2).retry_of == 1 and batch(2).total == Decimal(700)
        assert "Its failed rows were sent again as batch 2 (waiting for approval)." in texts(page.caption)
        assert "bulk_retry_1" not in [button.key for button in page.button]  # once, until batch 2 is declined
        click(page, "bulk_decline_2")
        assert page.button(key="bulk_retry_1").label == "Send the failed row again"
        engine = current().engine
        assert engine is not None
        click(page, "bulk_retry_1")
        assert [view.id for view in list_batches(engine)] == [3, 2, 1] and batch(3).retry_of == 1


def test_rows_in_doubt_say_what_happens_next() -> None:
    assert batch_row_meaning(RowStatus.NEEDS_REVIEW, None).startswith(
        "K2 may have paid it; it settles when K2's result arrives.")
    assert batch_row_meaning(RowStatus.NOT_SENT, "till_number: is invalid") == (
        "K2 refused the till number (till_number: is invalid); nothing was sent.")

"""The Event log page under AppTest, against a temporary SQLite file: deliveries in words and Nairobi time, filters,
pages, the body pretty-printed, "process again" for a failed one (audited), the refused deliveries, and only an
owner ever seeing any of it."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from merchant.access import Role, audit_log
from merchant.db import open_database
from merchant.inbox.mapping import OUTCOME_FAILED, Mapped
from merchant.inbox.rejections import RejectionCounter
from merchant.inbox.store import Delivered, record_deliveries
from tests.merchant.conftest import NOW, buygoods, delivered

from .conftest import add, app, page_as, sign_in

FAILED_ID = "evt-buygoods_transaction_received-77"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'merchant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def store(database_url: str, *deliveries: Delivered) -> None:
    engine = open_database(database_url)
    with engine.begin() as connection:
        record_deliveries(connection, list(deliveries))
    engine.dispose()


def stored_failed(body: bytes) -> Delivered:
    """A delivery kept `failed` although its body maps: as a bug, since fixed, would have left it."""
    good = delivered(body)
    return Delivered(good.id, good.kind, good.received_at, good.payload,
                     Mapped(outcome=OUTCOME_FAILED, error="mapping crashed (a bug since fixed)"))


def a_result() -> bytes:
    """K2's result for a payment request (an STK push) that succeeded."""
    return json.dumps({"data": {"id": "ip-1", "type": "incoming_payment", "attributes": {
        "initiation_time": "2026-11-20T10:40:00+03:00", "status": "Success", "event": {"type": "Incoming Payment Request",
        "resource": None, "errors": None}, "meta_data": {}, "_links": {}}}}).encode()


@pytest.fixture
def stored(database_url: str) -> str:
    """Three days of deliveries: payments, an unknown topic, a failed one whose cause is fixed, a result."""
    store(database_url,
          *(replace(delivered(buygoods(n)), received_at=NOW - timedelta(days=2, minutes=n)) for n in range(3)),
          replace(delivered(json.dumps({"topic": "loyalty_points_awarded", "id": "evt-loyal",
                                        "created_at": "2026-11-19T10:00:00+03:00", "event": {}}).encode()),
                  received_at=NOW - timedelta(days=1)),
          replace(delivered(a_result()), received_at=NOW - timedelta(minutes=5)),
          stored_failed(buygoods(77, reference="QK77FIXED1")))
    return database_url


def open_page(role: Role = Role.OWNER) -> AppTest:
    page = page_as("pages/event_log.py", role)
    page.run()
    assert not page.exception, page.exception
    return page


def frames(page: AppTest, column: str) -> list[pd.DataFrame]:
    """The tables on the page with this column: `kind` for the deliveries, `source` for the refused ones."""
    return [element.value for element in page.dataframe if column in element.value.columns]


def table(page: AppTest) -> list[dict[str, object]]:
    [deliveries] = frames(page, "kind")
    return deliveries.to_dict("records")


def pick(page: AppTest, event_id: str) -> AppTest:
    page.selectbox(key="event_log_pick").set_value(event_id)
    page.run()
    assert not page.exception, page.exception
    return page


def test_every_delivery_shows_in_words_newest_first_in_nairobi_time(stored: str) -> None:
    page = open_page()
    [shown] = frames(page, "kind")
    assert str(shown["received_at"].dt.tz) == "Africa/Nairobi"
    assert list(shown["kind"]) == ["Till payment received", "Payment request result", "Loyalty points awarded",
                                   "Till payment received", "Till payment received", "Till payment received"]
    assert list(shown["outcome"]) == ["Failed", "Recorded", "Kept, nothing to record", "Recorded", "Recorded",
                                      "Recorded"]
    assert list(shown["error"]) == ["mapping crashed (a bug since fixed)", "", "", "", "", ""]  # never "None"
    assert shown["received_at"].iloc[0] == datetime(2026, 11, 20, 11, 0, tzinfo=timezone(timedelta(hours=3)))


def test_filters_by_kind_outcome_and_date(stored: str) -> None:
    page = open_page()
    kinds = page.multiselect(key="event_log_kinds")
    assert kinds.options == ["Till payment received", "Payment request result", "Loyalty points awarded"]
    kinds.select("incoming_payment").run()
    assert [row["kind"] for row in table(page)] == ["Payment request result"]
    page.multiselect(key="event_log_kinds").unselect("incoming_payment")
    page.multiselect(key="event_log_outcomes").select("failed").run()
    assert [(row["kind"], row["outcome"]) for row in table(page)] == [("Till payment received", "Failed")]
    page.multiselect(key="event_log_outcomes").unselect("failed")
    two_days_ago = (NOW - timedelta(days=2)).date()
    page.date_input(key="event_log_dates").set_value((two_days_ago, two_days_ago)).run()
    assert [row["kind"] for row in table(page)] == ["Till payment received"] * 3
    page.multiselect(key="event_log_outcomes").select("failed").run()
    assert not frames(page, "kind")
    assert page.info[0].value == "No deliveries match these filters: clear one, or pick other dates."


def test_the_body_is_shown_pretty_printed_exactly_as_received(stored: str) -> None:
    page = pick(open_page(), "evt-buygoods_transaction_received-1")
    assert page.subheader[0].value == "Till payment received"
    assert page.success[0].value == "Recorded in the payment tables."
    assert page.code[0].value == json.dumps(json.loads(buygoods(1)), indent=2, ensure_ascii=False)
    assert page.code[0].language == "json"
    assert not [button for button in page.button if button.key == "event_log_again"]  # only a failed one


def test_process_again_records_a_failed_delivery_once_its_cause_is_fixed(stored: str) -> None:
    page = pick(open_page(), FAILED_ID)
    assert page.error[0].value.startswith("Failed: mapping crashed (a bug since fixed).")
    page.button(key="event_log_again").click().run()
    assert not page.exception, page.exception
    assert page.success[0].value == "Processed again: recorded."
    assert table(page)[0]["outcome"] == "Recorded" and table(page)[0]["error"] == ""
    engine = open_database(stored)
    entries = audit_log(engine)
    with engine.connect() as connection:
        paid = connection.exec_driver_sql("SELECT count(*) FROM transactions WHERE reference = 'QK77FIXED1'").scalar()
    engine.dispose()
    assert paid == 1
    [entry] = entries.to_dict("records")
    assert (entry["action"], entry["actor"], entry["target"]) == ("reprocessed", "wanjiku", FAILED_ID)


def test_pages_of_fifty_go_older_and_back(database_url: str) -> None:
    store(database_url, *(replace(delivered(buygoods(n)), received_at=NOW - timedelta(minutes=n))
                          for n in range(120)))
    page = open_page()
    first = [row["received_at"] for row in table(page)]
    assert len(first) == 50 and page.button(key="event_log_newer").disabled
    page.button(key="event_log_older").click().run()
    second = [row["received_at"] for row in table(page)]
    assert len(second) == 50 and max(second) < min(first)
    page.button(key="event_log_older").click().run()
    assert len(table(page)) == 20 and page.button(key="event_log_older").disabled
    page.button(key="event_log_newer").click().run()
    page.button(key="event_log_newer").click().run()
    assert [row["received_at"] for row in table(page)] == first


def test_refused_deliveries_show_time_address_and_reason(database_url: str) -> None:
    counter = RejectionCounter(clock=lambda: NOW)
    for _ in range(3):
        counter.note("203.0.113.9", "signature mismatch")
    counter.note("198.51.100.4", "body is not JSON")
    engine = open_database(database_url)
    counter.flush(engine)
    engine.dispose()
    page = open_page()
    [refused] = frames(page, "source")
    assert str(refused["last_at"].dt.tz) == "Africa/Nairobi"
    rows = {(row["source"], row["reason"], row["count"]) for row in refused.to_dict("records")}
    assert rows == {("203.0.113.9", "Wrong signature: not from K2, or K2_API_KEY differs from K2's", 3),
                    ("198.51.100.4", "Body is not JSON", 1)}


def test_an_empty_log_says_what_to_do(database_url: str) -> None:
    page = open_page()
    assert page.info[0].value.startswith("K2 has sent nothing yet. Once this server is subscribed")
    assert page.caption[0].value.startswith("No deliveries were refused.")


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_only_an_owner_is_offered_the_event_log(stored: str, role: Role) -> None:
    add(stored, "someone", role)
    page = sign_in(app(), "someone")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        page.switch_page("pages/event_log.py")
    page.run()
    assert "Event log" not in [header.value for header in page.header]
    assert "Refused deliveries" not in [subheader.value for subheader in page.subheader]
    widgets = [*page.multiselect, *page.selectbox, *page.date_input, *page.button]
    assert not [widget for widget in widgets if (widget.key or "").startswith("event_log")]
    assert not page.code


def test_an_owner_opens_it_from_the_navigation(stored: str) -> None:
    add(stored, "wanjiku", Role.OWNER)
    page = sign_in(app(), "wanjiku")
    page.switch_page("pages/event_log.py")
    page.run()
    assert not page.exception, page.exception
    assert "Event log" in [header.value for header in page.header]
    assert len(table(page)) == 6

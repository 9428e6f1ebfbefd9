"""The event log's reads and "process again", on SQLite and PostgreSQL: pages newest first that never overlap or
skip (ties on the second included), filters, the distinct kinds, one body exactly as received, and a failed delivery
mapped again once its cause is fixed, audited, with the right refused."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from merchant.access import CONSOLE, NotAllowed, Role, User, audit_log
from merchant.db import open_database
from merchant.errors import InputError
from merchant.inbox.events import event_kinds, get_event, list_events, process_again
from merchant.inbox.mapping import OUTCOME_FAILED, Mapped
from merchant.inbox.store import Delivered, record_deliveries

from .conftest import NOW, buygoods, count, delivered


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """A migrated database of its own."""
    made = open_database(database_url)
    yield made
    made.dispose()


def store(engine: sa.Engine, *deliveries: Delivered) -> None:
    with engine.begin() as connection:
        record_deliveries(connection, list(deliveries))


def at(delivery: Delivered, minutes: float) -> Delivered:
    """The same delivery, received `minutes` after NOW."""
    return replace(delivery, received_at=NOW + timedelta(minutes=minutes))


def stored_failed(body: bytes, reason: str = "mapping crashed (a bug since fixed)") -> Delivered:
    """A delivery kept `failed` although its body maps: as a bug, since fixed, would have left it."""
    good = delivered(body)
    return Delivered(good.id, good.kind, good.received_at, good.payload, Mapped(outcome=OUTCOME_FAILED, error=reason))


def customer_created(n: int) -> bytes:
    return json.dumps({
        "topic": "customer_created", "id": f"evt-customer-{n}", "created_at": "2026-11-20T10:43:20+03:00",
        "event": {"type": "Customer Created", "resource": {"first_name": "Achieng", "middle_name": None,
                                                         "last_name": "Otieno", "phone_number": f"+2547110{n:05d}"}},
    }).encode()


class TestListEvents:
    def test_pages_go_newest_first_and_never_overlap_or_skip(self, engine: sa.Engine) -> None:
        # 130 deliveries, many received in the same second: the id breaks ties between them
        store(engine, *(at(delivered(buygoods(n)), n // 7) for n in range(130)))
        seen: list[str] = []
        page = list_events(engine, limit=50)
        sizes = [len(page.events)]
        seen += list(page.events["id"])
        while page.older is not None:
            page = list_events(engine, limit=50, after=page.older)
            sizes.append(len(page.events))
            seen += list(page.events["id"])
        assert sizes == [50, 50, 30]
        assert len(set(seen)) == 130
        with engine.connect() as connection:
            expected = connection.execute(
                sa.text("SELECT id FROM webhook_events ORDER BY received_at DESC, id DESC")).scalars().all()
        assert seen == list(expected)

    def test_a_page_has_no_bodies_and_times_are_utc(self, engine: sa.Engine) -> None:
        store(engine, delivered(buygoods(1)))
        page = list_events(engine)
        assert list(page.events.columns) == ["received_at", "kind", "outcome", "error", "id"]
        assert str(page.events["received_at"].dt.tz) == "UTC"
        assert page.events["received_at"].iloc[0] == NOW
        assert page.older is None

    def test_filters_by_kind_outcome_and_time(self, engine: sa.Engine) -> None:
        store(engine, at(delivered(buygoods(1)), 0), at(delivered(buygoods(2)), 60 * 24),
              at(delivered(customer_created(1)), 60 * 24), at(stored_failed(buygoods(3)), 60 * 48),
              at(delivered(json.dumps({"no": "shape"}).encode()), 60 * 48))
        ids = lambda **filters: set(list_events(engine, **filters).events["id"])  # noqa: E731
        assert ids(kinds=["customer_created"]) == {"evt-customer-1"}
        assert ids(kinds=["customer_created", "unknown"]) == {"evt-customer-1"} | ids(kinds=["unknown"])
        assert ids(outcomes=["failed"]) == {"evt-buygoods_transaction_received-3"} | ids(kinds=["unknown"])
        day2 = NOW + timedelta(days=1)
        assert ids(start=day2, end=day2 + timedelta(days=1)) == {"evt-buygoods_transaction_received-2",
                                                                "evt-customer-1"}
        assert ids(kinds=["buygoods_transaction_received"], outcomes=["mapped"], end=day2) == {
            "evt-buygoods_transaction_received-1"}
        assert ids(kinds=["payment"]) == set()

    def test_an_empty_log_is_an_empty_page(self, engine: sa.Engine) -> None:
        page = list_events(engine)
        assert page.events.empty and page.older is None
        assert list(page.events.columns) == ["received_at", "kind", "outcome", "error", "id"]


def test_event_kinds_are_the_distinct_kinds_stored_in_order(engine: sa.Engine) -> None:
    assert event_kinds(engine) == []
    store(engine, *(delivered(buygoods(n)) for n in range(20)), delivered(customer_created(1)),
          delivered(json.dumps({"no": "shape"}).encode()),
          delivered(buygoods(1, topic="buygoods_transaction_reversed")))
    assert event_kinds(engine) == ["buygoods_transaction_received", "buygoods_transaction_reversed",
                                   "customer_created", "unknown"]
    assert event_kinds(engine, limit=2) == ["buygoods_transaction_received", "buygoods_transaction_reversed"]


def test_get_event_returns_the_body_exactly_as_received(engine: sa.Engine) -> None:
    body = buygoods(7)
    store(engine, delivered(body))
    event = get_event(engine, "evt-buygoods_transaction_received-7")
    assert event is not None
    assert event.payload.encode() == body
    assert (event.kind, event.outcome, event.error, event.received_at) == (
        "buygoods_transaction_received", "mapped", None, NOW)
    assert get_event(engine, "evt-nothing") is None


class TestProcessAgain:
    def test_a_failed_event_whose_cause_is_fixed_is_mapped_and_audited(self, engine: sa.Engine) -> None:
        store(engine, stored_failed(buygoods(5, reference="QK5REPROC1")))
        assert count(engine, "transactions") == 0
        event = process_again(engine, CONSOLE, "evt-buygoods_transaction_received-5", source="10.0.0.7")
        assert (event.outcome, event.error) == ("mapped", None)
        assert count(engine, "transactions", "reference = 'QK5REPROC1'") == 1
        [entry] = audit_log(engine).to_dict("records")
        assert (entry["action"], entry["actor"], entry["target"], entry["source"]) == (
            "reprocessed", "console", "evt-buygoods_transaction_received-5", "10.0.0.7")
        assert json.loads(entry["detail"])["outcome"] == "mapped"
        assert json.loads(entry["detail"])["was"] == "mapping crashed (a bug since fixed)"

    def test_again_on_a_mapped_event_changes_nothing_and_is_not_audited(self, engine: sa.Engine) -> None:
        store(engine, stored_failed(buygoods(6)))
        process_again(engine, CONSOLE, "evt-buygoods_transaction_received-6")
        again = process_again(engine, CONSOLE, "evt-buygoods_transaction_received-6")
        assert again.outcome == "mapped"
        assert len(audit_log(engine)) == 1
        assert count(engine, "transactions") == 1

    def test_a_body_that_still_does_not_map_stays_failed_with_the_new_reason(self, engine: sa.Engine) -> None:
        broken = json.loads(buygoods(8))
        broken["event"]["resource"]["amount"] = "not money"
        store(engine, stored_failed(json.dumps(broken).encode(), reason="old reason"))
        event = process_again(engine, CONSOLE, "evt-buygoods_transaction_received-8")
        assert event.outcome == "failed" and event.error and event.error != "old reason"
        assert count(engine, "transactions") == 0
        assert json.loads(audit_log(engine)["detail"].iloc[0])["outcome"] == "failed"

    @pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
    def test_only_a_role_that_may_reprocess_can(self, engine: sa.Engine, role: Role) -> None:
        store(engine, stored_failed(buygoods(9)))
        someone = User("someone", "Someone", None, role, False, NOW, None, None)
        with pytest.raises(NotAllowed, match="owner"):
            process_again(engine, someone, "evt-buygoods_transaction_received-9")
        assert get_event(engine, "evt-buygoods_transaction_received-9").outcome == "failed"  # type: ignore[union-attr]
        assert audit_log(engine).empty and count(engine, "transactions") == 0

    def test_an_id_that_is_not_stored_is_an_input_error(self, engine: sa.Engine) -> None:
        with pytest.raises(InputError) as raised:
            process_again(engine, CONSOLE, "evt-gone")
        assert raised.value.field == "event"
        assert audit_log(engine).empty

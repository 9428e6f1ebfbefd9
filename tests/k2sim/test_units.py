"""Units without HTTP: the signer against Kopo Kopo's vectors, the state machine, outcomes, traffic, the CLI."""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from k2sim import Outcome, SimConfig, sign
from k2sim.__main__ import parse_args
from k2sim.models import Outbound
from k2sim.outcomes import rule
from k2sim.payloads import NAIROBI
from k2sim.state import SimState
from k2sim.traffic import name_for, plan

from .conftest import CALLBACK, stk_body


class FakeEffects:
    """Records what the state asks for instead of scheduling and sending it."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], object]] = []
        self.sent: list[Outbound] = []

    def later(self, action: Callable[[], object]) -> None:
        self.pending.append(action)

    def send(self, message: Outbound) -> None:
        self.sent.append(message)


@pytest.fixture
def effects() -> FakeEffects:
    return FakeEffects()


@pytest.fixture
def state(effects: FakeEffects) -> SimState:
    return SimState(SimConfig(client_id="c", client_secret="s", api_key="k"), effects)


def test_sign_reproduces_every_kopo_kopo_vector(shared_fixtures: Path) -> None:
    vectors = json.loads((shared_fixtures / "webhooks" / "signatures.json").read_text())
    assert len(vectors["cases"]) == 12
    for case in vectors["cases"]:
        body = (shared_fixtures / "webhooks" / case["file"]).read_bytes()
        assert sign(body, vectors["api_key"]) == case["signature"], case["file"]


def test_sign_matches_ruby_spec_vector() -> None:
    assert sign(b'"hello"', "s") == "7ac46bd3e055f611e1c8e08ee430e5ceee0526a853dad5353e3df9ebfb1b1701"


class TestState:
    def test_create_schedules_and_resolve_sends_callback(self, state: SimState, effects: FakeEffects) -> None:
        resource = state.create("incoming_payment", 1, stk_body(), base_url="http://sim", path="/api/v1/x")
        assert resource.status == "Pending" and len(effects.pending) == 1 and effects.sent == []
        effects.pending[0]()
        assert resource.status == "Success" and [m.kind for m in effects.sent] == ["callback"]
        assert effects.sent[0].url == CALLBACK and effects.sent[0].document["data"]["id"] == resource.id

    def test_resolving_a_final_resource_returns_false_and_never_overwrites(self, state: SimState,
                                                                         effects: FakeEffects) -> None:
        resource = state.create("incoming_payment", 1, stk_body(), base_url="http://sim", path="/api/v1/x")
        assert state.resolve(resource.id, Outcome.CANCELLED) is True
        assert state.resolve(resource.id, Outcome.SUCCESS) is False
        effects.pending[0]()
        assert resource.status == "Failed" and resource.error == "Request cancelled by user"
        assert len(effects.sent) == 1

    def test_static_resources_are_final_at_once(self, state: SimState, effects: FakeEffects) -> None:
        body = {"first_name": "A", "last_name": "B", "phone_number": "0711000000"}
        resource = state.create("merchant_wallet", 1, body, base_url="http://sim", path="/api/v1/merchant_wallets")
        assert resource.final and effects.pending == [] and state.resolve(resource.id) is False

    def test_reset_keeps_tokens(self, state: SimState) -> None:
        token = state.issue_token({"client_id": "c", "client_secret": "s"})
        state.reset()
        assert state.authenticate(f"Bearer {token.value}") == token


class TestOutcomeRules:
    @pytest.mark.parametrize(("flow", "identifier", "amount", "expected"), [
        ("stk", "+254712345001", "1", Outcome.CANCELLED),
        ("stk", "+254712345005", "1", None),
        ("payout", "+254712345005", "1", Outcome.RECIPIENT_REJECTED),
        ("payout", "+254712345004", "1", Outcome.INVALID_INITIATOR),
        ("payout", "+254712345001", "1", None),
        ("stk", "+254712345678", "250000", None),
        ("stk", "+254712345678", "250000.01", Outcome.LIMIT_EXCEEDED),
        ("payout", None, "1", None),
    ])
    def test_rule(self, flow: str, identifier: str | None, amount: str, expected: Outcome | None) -> None:
        assert rule(flow, identifier, Decimal(amount), mobile_money=True) is expected  # type: ignore[arg-type]


class TestTraffic:
    START = datetime(2024, 3, 1, tzinfo=NAIROBI)
    END = START + timedelta(days=14)

    def test_same_seed_same_plan(self) -> None:
        assert plan(random.Random(3), 200, self.START, self.END) == plan(random.Random(3), 200, self.START, self.END)

    def test_plan_is_realistic(self) -> None:
        items = plan(random.Random(1), 2000, self.START, self.END)
        assert all(self.START <= item.at <= self.END for item in items)
        assert [item.at for item in items] == sorted(item.at for item in items)
        hours = [item.at.astimezone(NAIROBI).hour for item in items]
        assert sum(1 for h in hours if 7 <= h <= 21) / len(hours) > 0.85  # trading hours
        assert sum(1 for h in hours if h <= 4) / len(hours) < 0.03  # quiet nights
        assert max(set(hours), key=hours.count) in (11, 12, 13, 17, 18, 19)  # lunch or evening peak
        buygoods = [item for item in items if item.kind == "buygoods"]
        phones = [item.phone_number for item in buygoods]
        assert len(set(phones)) < len(phones) * 0.6  # repeat customers
        assert max(phones.count(p) for p in set(phones)) >= 10  # a few regulars pay often
        share = {kind: sum(1 for item in items if item.kind == kind) / len(items) for kind in ("b2b", "m2m")}
        assert 0.05 < share["b2b"] < 0.12 and 0.03 < share["m2m"] < 0.09
        reversed_items = [item for item in items if item.reversed_at is not None]
        assert all(item.kind == "buygoods" for item in reversed_items)
        assert 0.005 < len(reversed_items) / len(buygoods) < 0.03
        assert all(i.reversed_at and i.at <= i.reversed_at <= self.END for i in reversed_items)

    def test_amounts_are_plausible_kes(self) -> None:
        items = plan(random.Random(2), 3000, self.START, self.END)
        assert all(item.amount > 0 and item.amount == item.amount.to_integral_value() for item in items)

        def amounts(kind: str) -> list[Decimal]:
            return sorted(item.amount for item in items if item.kind == kind)

        buygoods, b2b = amounts("buygoods"), amounts("b2b")
        assert 150 <= buygoods[len(buygoods) // 2] <= 600  # a shop sale, not a salary
        assert buygoods[0] >= 10 and buygoods[-1] <= 70_000
        assert b2b[len(b2b) // 2] > 10 * buygoods[len(buygoods) // 2]  # businesses pay bigger sums
        assert sum(1 for a in buygoods if a % 50 == 0) / len(buygoods) > 0.3  # round shop prices

    def test_hours_are_nairobi_hours_whatever_the_bounds_zone(self) -> None:
        start = datetime(2024, 3, 1, tzinfo=timezone.utc)
        items = plan(random.Random(5), 1000, start, start + timedelta(days=7))
        nairobi = [item.at.astimezone(NAIROBI).hour for item in items]
        utc = [item.at.astimezone(timezone.utc).hour for item in items]
        assert sum(1 for h in nairobi if 7 <= h <= 21) / len(items) > 0.85
        assert sum(1 for h in utc if 4 <= h <= 18) / len(items) > 0.85  # i.e. the same hours, 3 h earlier

    def test_names_are_stable_per_phone(self) -> None:
        assert name_for("+254712345678") == name_for("+254712345678")


class TestCommandLine:
    def test_defaults(self) -> None:
        config = parse_args([])
        assert (config.host, config.port, config.client_id, config.fail_rate) == ("127.0.0.1", 8787, None, 0.0)

    def test_all_flags(self) -> None:
        config = parse_args(["--host", "0.0.0.0", "--port", "9000", "--client-id", "i", "--client-secret", "s",
                             "--api-key", "k", "--latency-ms", "20", "--fail-rate", "0.1", "--seed", "4",
                             "--callback-delay-s", "2", "--token-ttl-s", "60", "--balance", "500.50",
                             "--till-number", "K123456"])
        assert config == SimConfig(client_id="i", client_secret="s", api_key="k", host="0.0.0.0", port=9000,
                                   latency_ms=20, fail_rate=0.1, seed=4, callback_delay_s=2, token_ttl_s=60,
                                   balance=Decimal("500.50"), till_number="K123456")

    def test_fail_rate_out_of_range_exits(self) -> None:
        with pytest.raises(SystemExit):
            parse_args(["--fail-rate", "2"])

    def test_credentials_are_generated_when_missing(self) -> None:
        config = SimConfig().with_credentials()
        assert config.client_id and config.client_secret and config.api_key
        assert config.client_id != SimConfig().with_credentials().client_id

"""Simulated till traffic: plausible receipts for demos and for a fresh install's history."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from .models import ReceiptKind, Sender
from .payloads import NAIROBI

__all__ = ["Planned", "plan", "single", "name_for", "random_amount"]

_FIRST = ("Wanjiru", "Otieno", "Achieng", "Kamau", "Njeri", "Mutua", "Akinyi", "Kipchoge", "Chebet", "Omondi",
          "Wambui", "Kiprono", "Nyambura", "Mwangi", "Atieno", "Barasa", "Moraa", "Ochieng", "Wairimu", "Juma",
          "Faith", "Brian", "Mercy", "Kevin", "Grace", "Dennis", "Esther", "Collins", "Joy", "Victor")
_LAST = ("Kariuki", "Odhiambo", "Mwangi", "Kiplagat", "Wafula", "Njoroge", "Onyango", "Cheruiyot", "Muthoni",
         "Okoth", "Kimani", "Ndungu", "Wekesa", "Rotich", "Ouma", "Gitau", "Mutiso", "Karanja", "Nyaga", "Kilonzo")
_MERCHANTS = ("Jane Flowers", "Kisumu Fresh Produce", "Nairobi Hardware Ltd", "Mombasa Spice Traders",
              "Eldoret Dairy Co-op", "Nakuru Auto Spares", "Thika Bakers", "Machakos Mitumba Hub")
# relative weight of each Nairobi hour: quiet nights, a lunch peak and an evening peak
_HOURS = (0.2, 0.1, 0.05, 0.05, 0.1, 0.4, 1.2, 2.5, 3.5, 3.5, 3.6, 4.2, 5.0, 4.8, 3.8, 3.4, 3.6, 4.4, 5.2, 5.0,
          3.8, 2.4, 1.1, 0.5)
# kind -> (median amount, smallest, largest)
_AMOUNTS: dict[str, tuple[float, int, int]] = {"buygoods": (350, 10, 70_000), "b2b": (9_000, 500, 500_000),
                                               "m2m": (4_000, 100, 250_000)}
_ROUND_PRICES = (50, 100, 150, 200, 250, 300, 500, 1000, 1500, 2000, 5000)
_REVERSAL_RATE = 0.015


@dataclass
class Planned(Sender):
    """One receipt to book; `reversed_at` set for the few that get reversed."""

    kind: ReceiptKind
    amount: Decimal
    at: datetime
    reversed_at: datetime | None = None


def name_for(phone_number: str) -> tuple[str, str]:
    """A stable first and last name for a phone number, so a repeat customer keeps their name."""
    digest = hashlib.sha256(phone_number.encode()).digest()
    return _FIRST[digest[0] % len(_FIRST)], _LAST[digest[1] % len(_LAST)]


def random_amount(rng: random.Random, kind: ReceiptKind) -> Decimal:
    """A plausible amount: log-normal around the kind's median, often a round shop price."""
    median, low, high = _AMOUNTS[kind]
    if kind == "buygoods" and rng.random() < 0.35:
        return Decimal(rng.choice(_ROUND_PRICES))
    value = min(max(rng.lognormvariate(0, 1.0) * median, low), high)
    step = 10 if value >= 100 else 1
    return Decimal(int(value) // step * step or low)


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(("7", "7", "7", "1"))
    return f"+254{prefix}{rng.randrange(10_000_000, 99_999_999)}"


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = (end - start).total_seconds()
    for _ in range(20):
        candidate = start + timedelta(seconds=rng.uniform(0, span))
        local = candidate.astimezone(NAIROBI)
        hour = rng.choices(range(24), weights=_HOURS)[0]
        moved = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
        if start <= moved <= end:
            return moved
    return start + timedelta(seconds=rng.uniform(0, span))


def single(rng: random.Random, kind: ReceiptKind, amount: Decimal | None, at: datetime, *,
           phone_number: str | None = None, sending_till: str | None = None,
           sending_merchant: str | None = None) -> Planned:
    """One receipt of this kind at `at`; what is not given is made up."""
    value = amount if amount is not None else random_amount(rng, kind)
    if kind == "buygoods":
        phone = phone_number or _phone(rng)
        first, last = name_for(phone)
        return Planned(kind, value, at, phone_number=phone, first_name=first, last_name=last)
    if kind == "b2b":
        return Planned(kind, value, at, sending_till=sending_till or str(rng.randrange(100_000, 999_999)))
    return Planned(kind, value, at, sending_merchant=sending_merchant or rng.choice(_MERCHANTS))


def plan(rng: random.Random, count: int, start: datetime, end: datetime) -> list[Planned]:
    """`count` receipts between start and end, oldest first: mostly buygoods from a pool of repeat
    customers (a few regulars pay often), some b2b and m2m, and about 1.5% of buygoods reversed."""
    pool = [_phone(rng) for _ in range(max(5, count // 4))]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(pool))]
    planned: list[Planned] = []
    for _ in range(count):
        at = _moment(rng, start, end)
        draw = rng.random()
        kind: ReceiptKind = "buygoods" if draw < 0.86 else "b2b" if draw < 0.94 else "m2m"
        item = single(rng, kind, None, at, phone_number=rng.choices(pool, weights=weights)[0])
        if kind == "buygoods" and rng.random() < _REVERSAL_RATE:
            later = at + timedelta(minutes=rng.randrange(5, 180))
            item = replace(item, reversed_at=min(later, end))
        planned.append(item)
    return sorted(planned, key=lambda p: p.at)

"""Subscribe this server's webhook URL to every K2 event it ingests (demo start, and a later settings page)."""
from __future__ import annotations

from typing import get_args

from k2 import K2Client
from k2.types.subscription_params import EventType

from .config import Settings

__all__ = ["COMPANY_EVENTS", "subscribe_webhooks"]

COMPANY_EVENTS = frozenset({"settlement_transfer_completed", "m2m_transaction_received", "customer_created"})


def subscribe_webhooks(client: K2Client, settings: Settings, url: str) -> list[str]:
    """One subscription per event type (till scope where K2 wants a till); returns their Locations."""
    return [
        client.webhook_subscriptions.create(event_type=event, url=url, scope="company")
        if event in COMPANY_EVENTS
        else client.webhook_subscriptions.create(
            event_type=event, url=url, scope="till", scope_reference=settings.k2_till_number or "K000000"
        )
        for event in get_args(EventType)
    ]

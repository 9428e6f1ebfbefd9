"""The application: settings, the database, the webhook inbox, the outbox, and the reads pages need (never Streamlit).

Its parts are sub-packages and modules with their own public faces: `merchant.db`, `merchant.inbox`,
`merchant.outbound`, `merchant.money_in`, `merchant.payment_requests`, `merchant.runtime`."""
from __future__ import annotations

__all__: list[str] = []

"""Settings of one emulator instance; `None` credentials are generated so a demo needs no setup."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from decimal import Decimal

__all__ = ["SimConfig"]


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Everything that makes one emulator differ from another; zero delays make tests fast and exact."""

    client_id: str | None = None
    client_secret: str | None = None
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    callback_delay_s: float = 0.0
    token_ttl_s: float = 3600.0
    balance: Decimal = Decimal("10000000")
    latency_ms: int = 0
    fail_rate: float = 0.0
    seed: int | None = None
    till_number: str = "K000000"
    till_name: str = "K2 Sim Till"
    delivery_max_attempts: int = 5
    delivery_backoff_s: float = 0.5
    delivery_timeout_s: float = 10.0
    log_limit: int = 100_000

    def with_credentials(self) -> SimConfig:
        """A copy whose missing credentials are freshly generated."""
        return replace(
            self,
            client_id=self.client_id or secrets.token_urlsafe(32),
            client_secret=self.client_secret or secrets.token_urlsafe(32),
            api_key=self.api_key or secrets.token_hex(24),
        )

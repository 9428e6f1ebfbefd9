"""Defaults for timeouts, retries, the connections and token caching, in one place."""

from __future__ import annotations

import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_BACKOFF",
    "MAX_RETRY_DELAY",
    "MAX_CONNECTIONS",
    "DEFAULT_CONCURRENCY",
    "TOKEN_REFRESH_MARGIN",
    "USER_AGENT",
    "ACCEPT",
]

# K2 answers in well under a second; 30 s leaves room for a slow sandbox, 5 s to connect catches a dead host fast.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
# First retry waits about this many seconds, doubling each time, with jitter; 0 means retry at once (tests).
DEFAULT_RETRY_BACKOFF = 0.5
# No single wait, not even one K2 asked for with Retry-After, exceeds this.
MAX_RETRY_DELAY = 30.0
# Connections one client keeps to K2 for all its threads, enough for `get_many` at its widest.
MAX_CONNECTIONS = 64
DEFAULT_CONCURRENCY = 16
# Refresh a token this long before K2 says it expires, so no request carries a token that dies in flight.
TOKEN_REFRESH_MARGIN = 60.0
USER_AGENT = "k2-merchant-dashboard"
ACCEPT = "application/json"

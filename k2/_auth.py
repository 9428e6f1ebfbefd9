"""Bearer tokens: fetched once, shared by every thread, renewed before expiry and once on a 401."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from time import monotonic

import httpx

from ._constants import TOKEN_REFRESH_MARGIN
from .types.token import AccessToken

__all__ = ["ClientCredentials", "TokenCache", "BearerAuth"]


@dataclass(frozen=True)
class ClientCredentials:
    """The application's client id and secret; the secret never appears in a repr."""

    client_id: str
    client_secret: str = field(repr=False)


class TokenCache:
    """Holds one access token; when it is missing or stale, exactly one caller fetches the next."""

    def __init__(self, fetch: Callable[[], AccessToken], *, margin: float = TOKEN_REFRESH_MARGIN) -> None:
        self._fetch = fetch
        self._margin = margin
        self._lock = threading.Lock()
        # (token, monotonic deadline), replaced as a whole so readers never see half an update.
        self._current: tuple[str | None, float] = (None, 0.0)

    def __repr__(self) -> str:
        return f"<TokenCache cached={self._current[0] is not None}>"

    def get(self) -> str:
        """A token good for at least `margin` more seconds; blocks while another thread fetches one."""
        token, deadline = self._current
        if token is not None and monotonic() < deadline:
            return token
        with self._lock:
            token, deadline = self._current
            if token is not None and monotonic() < deadline:
                return token
            started = monotonic()
            fresh = self._fetch()
            lifetime = max(fresh.expires_in - self._margin, fresh.expires_in / 2)
            token = fresh.access_token.get_secret_value()
            self._current = (token, started + lifetime)
            return token

    def invalidate(self, token: str) -> None:
        """Forget `token` after K2 refused it, unless another thread already replaced it."""
        with self._lock:
            if self._current[0] == token:
                self._current = (None, 0.0)


class BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer …`; on a 401 drops the token and tries once more with a fresh one."""

    def __init__(self, tokens: TokenCache) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "<BearerAuth>"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._tokens.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self._tokens.get()}"
            yield request

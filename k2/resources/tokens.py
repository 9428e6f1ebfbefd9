"""OAuth: get, revoke, introspect and describe access tokens (the client caches one for you)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._base import Resource
from ..types.token import AccessToken, TokenInfo, TokenIntrospection

if TYPE_CHECKING:
    from .._client import K2Client

__all__ = ["Tokens"]


class Tokens(Resource):
    _client: K2Client

    def create(self) -> AccessToken:
        """A new token by the client-credentials grant; most code never calls this (requests do it)."""
        grant = {**self._credentials(), "grant_type": "client_credentials"}
        response = self._client.request("POST", self._url("token"), data=grant, idempotent=True, authenticated=False)
        return self._client.parse(AccessToken, response)

    def revoke(self, token: str) -> None:
        """Make `token` unusable at once (say, after a leak)."""
        self._client.request(
            "POST",
            self._url("revoke"),
            data={**self._credentials(), "token": token},
            idempotent=True,
            authenticated=False,
        )

    def introspect(self, token: str) -> TokenIntrospection:
        """Whether K2 still honours `token`, and until when."""
        response = self._client.request(
            "POST",
            self._url("introspect"),
            data={**self._credentials(), "token": token},
            idempotent=True,
            authenticated=False,
        )
        return self._client.parse(TokenIntrospection, response)

    def info(self, token: str | None = None) -> TokenInfo:
        """Seconds left on `token` (default: the client's own) and the application it belongs to."""
        if token is None:
            response = self._client.request("GET", self._url("token", "info"), idempotent=True)
        else:
            response = self._client.request(
                "GET",
                self._url("token", "info"),
                headers={"Authorization": f"Bearer {token}"},
                idempotent=True,
                authenticated=False,
            )
        return self._client.parse(TokenInfo, response)

    def _url(self, *parts: str) -> str:
        return "/".join((self._client.base_url, "oauth", *parts))

    def _credentials(self) -> dict[str, str]:
        credentials = self._client.credentials
        return {"client_id": credentials.client_id, "client_secret": credentials.client_secret}

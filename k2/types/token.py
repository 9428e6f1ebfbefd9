"""OAuth documents: the access token (never shown in a repr), its introspection and its info."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr

from ._common import K2Model

__all__ = ["AccessToken", "TokenIntrospection", "TokenInfo"]


class AccessToken(K2Model):
    """`POST /oauth/token`: a bearer token K2 honours for `expires_in` seconds (3600); no refresh token."""

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: int = Field(gt=0)
    created_at: datetime | None = None


class TokenIntrospection(K2Model):
    """`POST /oauth/introspect`: whether K2 still honours a token, and until when."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    exp: datetime | None = None
    iat: datetime | None = None


class TokenInfo(K2Model):
    """`GET /oauth/token/info` (Doorkeeper): seconds left and the owning application."""

    resource_owner_id: str | None = None
    scope: list[str] = Field(default_factory=list)
    expires_in: int | None = None
    application: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None

"""The /oauth/* endpoints and bearer-token checks on the API group."""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .conftest import CLIENT_ID, CLIENT_SECRET, Api, stk_body

CREDENTIALS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}


class TestToken:
    def test_token_form_body(self, api: Api) -> None:
        response = api.client.post("/oauth/token", data=CREDENTIALS)
        body = response.json()
        assert response.status_code == 200
        assert list(body) == ["access_token", "token_type", "expires_in", "created_at"]
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and isinstance(body["created_at"], int)

    def test_token_json_body(self, api: Api) -> None:
        assert api.client.post("/oauth/token", json=CREDENTIALS).status_code == 200

    def test_token_json_under_form_content_type(self, api: Api) -> None:
        response = api.client.post("/oauth/token", content=json.dumps(CREDENTIALS),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200 and response.json()["access_token"]

    def test_token_wrong_secret_is_oauth_401(self, api: Api) -> None:
        response = api.client.post("/oauth/token", data={**CREDENTIALS, "client_secret": "nope"})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client" and response.json()["error_description"]

    def test_token_unsupported_grant_is_400(self, api: Api) -> None:
        response = api.client.post("/oauth/token", data={**CREDENTIALS, "grant_type": "password"})
        assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"

    def test_token_ttl_is_configurable(self, make_api: Callable[..., Api]) -> None:
        api = make_api(token_ttl_s=120)
        assert api.client.post("/oauth/token", data=CREDENTIALS).json()["expires_in"] == 120


class TestRevokeIntrospectInfo:
    def test_revoke_answers_empty_json_and_kills_token(self, api: Api) -> None:
        token = api.headers["Authorization"].split()[1]
        response = api.client.post("/oauth/revoke", data={**CREDENTIALS, "token": token})
        assert response.status_code == 200 and response.content == b"{}"
        assert api.post("/api/v1/incoming_payments", stk_body()).status_code == 401

    def test_revoke_needs_client_credentials(self, api: Api) -> None:
        response = api.client.post("/oauth/revoke", data={"client_id": CLIENT_ID, "client_secret": "x", "token": "t"})
        assert response.status_code == 401

    @pytest.mark.parametrize("as_json", [True, False])
    def test_introspect_live_token(self, api: Api, as_json: bool) -> None:
        fields = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                  "token": api.headers["Authorization"].split()[1]}
        response = api.client.post("/oauth/introspect", **({"json": fields} if as_json else {"data": fields}))
        body = response.json()
        assert list(body) == ["active", "scope", "client_id", "token_type", "exp", "iat"]
        assert body["active"] is True and body["client_id"] == CLIENT_ID and body["exp"].endswith("+03:00")

    def test_introspect_unknown_token_is_inactive(self, api: Api) -> None:
        fields = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": "unknown"}
        assert api.client.post("/oauth/introspect", json=fields).json() == {"active": False}

    def test_token_info(self, api: Api) -> None:
        body = api.client.get("/oauth/token/info", headers=api.headers).json()
        assert list(body) == ["resource_owner_id", "scope", "expires_in", "application", "created_at"]
        assert body["application"] == {"uid": CLIENT_ID} and 3590 <= body["expires_in"] <= 3600

    def test_token_info_without_token_is_401(self, api: Api) -> None:
        assert api.client.get("/oauth/token/info").status_code == 401


class TestBearer:
    @pytest.mark.parametrize(("header", "message"), [
        (None, "Missing access token"), ("Bearer ", "Missing access token"), ("Basic abc", "Missing access token"),
        ("Bearer not-a-token", "Invalid access token"),
    ])
    def test_missing_or_invalid_token_is_401_k2_body(self, api: Api, header: str | None, message: str) -> None:
        headers = {"Authorization": header} if header is not None else {}
        response = api.client.post("/api/v1/incoming_payments", json=stk_body(), headers=headers)
        assert response.status_code == 401
        assert response.json()["error_code"] == 401 and response.json()["error_message"].startswith(message)

    def test_expired_token_is_401(self, make_api: Callable[..., Api]) -> None:
        api = make_api(token_ttl_s=0)
        response = api.client.get("/api/v1/incoming_payments/x", headers=api.headers)
        assert response.status_code == 401 and response.json()["error_message"] == "Expired access token"

    def test_hal_accept_header_is_fine(self, api: Api) -> None:
        headers = {**api.headers, "Accept": "application/vnd.kopokopo.v4.hal+json"}
        assert api.client.post("/api/v1/incoming_payments", json=stk_body(), headers=headers).status_code == 201

    def test_control_routes_need_no_token(self, api: Api) -> None:
        assert api.client.get("/sim/state").status_code == 200

"""Token rules: form-encoded grant, one cached token, renewed before expiry, once on a 401, single-flight."""

from __future__ import annotations

import threading
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

import k2._auth
from k2 import AccessToken, AuthenticationError, K2Client, TokenInfo, TokenIntrospection
from k2._auth import BearerAuth, ClientCredentials, TokenCache

from .conftest import BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeK2, document

STK = "/api/v1/incoming_payments/abc-123"
PENDING = {"status": "Pending", "event": {"type": "Incoming Payment Request", "resource": None, "errors": None}}


def statuses_from_fifty_threads_at_once(client: K2Client) -> list[str]:
    """Fifty threads released together, each asking for the same STK status; their answers."""
    barrier = threading.Barrier(50)
    results: list[str] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        results.append(client.incoming_payments.get(STK).status)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return results


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake_clock = FakeClock()
    monkeypatch.setattr(k2._auth, "monotonic", fake_clock)
    return fake_clock


class TestTokenRequest:
    def test_create_posts_client_credentials_form_encoded(self, client: K2Client, fake: FakeK2) -> None:
        token = client.tokens.create()
        (request,) = fake.sent("POST", "/oauth/token")
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert parse_qs(request.content.decode()) == {
            "client_id": [CLIENT_ID],
            "client_secret": [CLIENT_SECRET],
            "grant_type": ["client_credentials"],
        }
        assert "Authorization" not in request.headers
        assert isinstance(token, AccessToken)
        assert token.access_token.get_secret_value() == "token-1"
        assert token.expires_in == 3600

    def test_create_reads_the_php_fixture_with_iso_created_at(self, client: K2Client, fake: FakeK2, load) -> None:
        fake.token_replies = [httpx.Response(200, json=load("responses/php_tokenResponse.json"))]
        token = client.tokens.create()
        assert token.created_at is not None and token.created_at.utcoffset() is not None
        assert "0Sn0W6kz" not in repr(token)

    def test_first_request_fetches_token_and_sends_bearer(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(BASE_URL + STK)
        assert fake.sent("GET", STK)[0].headers["Authorization"] == "Bearer token-1"

    def test_token_is_cached_across_requests(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        for _ in range(5):
            client.incoming_payments.get(BASE_URL + STK)
        assert fake.tokens_issued == 1
        assert len(fake.sent("GET", STK)) == 5

    def test_token_renewed_shortly_before_expiry(self, client: K2Client, fake: FakeK2, clock: FakeClock) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        clock.now += 3600 - 61
        client.incoming_payments.get(STK)
        assert fake.tokens_issued == 1
        clock.now += 2  # now inside the 60 s margin
        client.incoming_payments.get(STK)
        assert fake.tokens_issued == 2
        assert fake.sent("GET", STK)[-1].headers["Authorization"] == "Bearer token-2"

    def test_short_lived_token_kept_for_half_its_life(self, client: K2Client, fake: FakeK2, clock: FakeClock) -> None:
        fake.expires_in = 40
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        clock.now += 19
        client.incoming_payments.get(STK)
        assert fake.tokens_issued == 1
        clock.now += 2
        client.incoming_payments.get(STK)
        assert fake.tokens_issued == 2

    def test_bad_credentials_raise_authentication_error_with_oauth_words(self, client: K2Client, fake: FakeK2) -> None:
        body = {"error": "invalid_client", "error_description": "Client authentication failed"}
        fake.token_replies = [httpx.Response(401, json=body)]
        with pytest.raises(AuthenticationError) as caught:
            client.incoming_payments.get(STK)
        assert caught.value.error_code == "invalid_client"
        assert caught.value.error_message == "Client authentication failed"
        assert "K2_CLIENT_ID" in str(caught.value)
        assert fake.sent("GET", STK) == []


class TestRefreshOn401:
    def test_expired_token_is_replaced_once_and_the_request_repeated(self, client: K2Client, fake: FakeK2) -> None:
        expired = httpx.Response(401, json={"error_code": "ExpiredAccessToken", "error_message": "expired"})
        fake.route("GET", STK, expired, document("incoming_payment", PENDING))
        payment = client.incoming_payments.get(STK)
        assert payment.status == "Pending"
        assert [r.headers["Authorization"] for r in fake.sent("GET", STK)] == ["Bearer token-1", "Bearer token-2"]
        assert fake.tokens_issued == 2

    def test_second_401_raises_without_a_third_try(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, httpx.Response(401, json={"error_code": "InvalidAccessToken", "error_message": "bad"}))
        with pytest.raises(AuthenticationError) as caught:
            client.incoming_payments.get(STK)
        assert caught.value.status_code == 401
        assert len(fake.sent("GET", STK)) == 2
        assert fake.tokens_issued == 2

    def test_money_post_refused_with_401_is_resent_with_fresh_token(self, client: K2Client, fake: FakeK2) -> None:
        path = "/api/v1/payments"
        fake.route(
            "POST", path, httpx.Response(401), httpx.Response(201, headers={"Location": BASE_URL + path + "/p-1"})
        )
        location = client.payments.create(
            destination_type="till",
            destination_reference="r-1",
            amount=Decimal("10"),
            description="x",
            callback_url="https://me.test/cb",
        )
        assert location == BASE_URL + path + "/p-1"
        first, second = fake.sent("POST", path)
        assert first.content == second.content
        assert second.headers["Authorization"] == "Bearer token-2"


class TestSingleFlight:
    def test_fifty_threads_share_one_token_request(self, fake: FakeK2) -> None:
        client = K2Client(BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(fake), retry_backoff=0)
        all_waiting = threading.Event()
        entered = 0
        entered_lock = threading.Lock()
        fetch_saw_all_fifty: list[bool] = []
        cache_get = client._tokens.get

        def counting_get() -> str:
            nonlocal entered
            with entered_lock:
                entered += 1
                if entered == 50:
                    all_waiting.set()
            return cache_get()

        def slow_token(request: httpx.Request) -> httpx.Response:
            # Hold the one fetch open until all 50 threads are inside the cache asking for a token.
            fetch_saw_all_fifty.append(all_waiting.wait(timeout=10))
            return httpx.Response(200, json={"access_token": "shared", "expires_in": 3600})

        client._tokens.get = counting_get  # type: ignore[method-assign]
        fake.token_replies = [slow_token]
        fake.route("GET", STK, document("incoming_payment", PENDING))
        results = statuses_from_fifty_threads_at_once(client)
        assert fetch_saw_all_fifty == [True]
        assert results == ["Pending"] * 50
        assert len(fake.sent("POST", "/oauth/token")) == 1
        assert {r.headers["Authorization"] for r in fake.sent("GET", STK)} == {"Bearer shared"}

    def test_fifty_threads_refused_the_same_token_fetch_one_new_token(self, client: K2Client, fake: FakeK2) -> None:
        refused = 0
        refused_lock = threading.Lock()
        all_refused = threading.Event()

        def refuse_token_1(request: httpx.Request) -> httpx.Response:
            nonlocal refused
            if request.headers["Authorization"] != "Bearer token-1":
                return document("incoming_payment", PENDING)
            with refused_lock:
                refused += 1
                if refused == 50:
                    all_refused.set()
            all_refused.wait(timeout=10)  # every thread holds token-1 before any 401 comes back
            return httpx.Response(401, json={"error_code": "ExpiredAccessToken", "error_message": "expired"})

        client._tokens.get()  # token-1 is cached, and K2 will refuse it from now on
        fake.route("GET", STK, refuse_token_1)
        assert statuses_from_fifty_threads_at_once(client) == ["Pending"] * 50
        assert fake.tokens_issued == 2
        assert len(fake.sent("GET", STK)) == 100

    def test_cache_invalidate_ignores_a_token_already_replaced(self) -> None:
        issued: list[str] = []

        def fetch() -> AccessToken:
            issued.append(f"t{len(issued) + 1}")
            return AccessToken(access_token=SecretStr(issued[-1]), expires_in=3600)

        cache = TokenCache(fetch)
        assert cache.get() == "t1"
        cache.invalidate("t1")
        assert cache.get() == "t2"
        cache.invalidate("t1")  # a late 401 for the old token must not discard the new one
        assert cache.get() == "t2"
        assert issued == ["t1", "t2"]


class TestTokenEndpoints:
    def test_revoke_posts_token_with_credentials(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("POST", "/oauth/revoke", httpx.Response(200, json={}))
        client.tokens.revoke("old-token")
        (request,) = fake.sent("POST", "/oauth/revoke")
        assert parse_qs(request.content.decode()) == {
            "client_id": [CLIENT_ID],
            "client_secret": [CLIENT_SECRET],
            "token": ["old-token"],
        }

    def test_introspect_parses_iso_times(self, client: K2Client, fake: FakeK2, load) -> None:
        fake.route(
            "POST", "/oauth/introspect", httpx.Response(200, json=load("responses/tokens.json")["introspectResponse"])
        )
        result = client.tokens.introspect("some-token")
        assert isinstance(result, TokenIntrospection)
        assert result.active is True
        assert result.exp is not None and result.iat is not None and result.exp > result.iat
        assert "token=some-token" in fake.sent("POST", "/oauth/introspect")[0].content.decode()

    def test_info_of_given_token_uses_that_bearer(self, client: K2Client, fake: FakeK2, load) -> None:
        fake.route("GET", "/oauth/token/info", httpx.Response(200, json=load("responses/tokens.json")["infoResponse"]))
        info = client.tokens.info("other-token")
        assert isinstance(info, TokenInfo)
        assert info.expires_in == 2776
        assert info.application["uid"].startswith("lN19")
        assert fake.sent("GET", "/oauth/token/info")[0].headers["Authorization"] == "Bearer other-token"
        assert fake.tokens_issued == 0

    def test_info_defaults_to_the_clients_own_token(self, client: K2Client, fake: FakeK2, load) -> None:
        fake.route("GET", "/oauth/token/info", httpx.Response(200, json=load("responses/php_tokenInfo.json")))
        assert client.tokens.info().expires_in == 531
        assert fake.sent("GET", "/oauth/token/info")[0].headers["Authorization"] == "Bearer token-1"


TOKEN_DOCUMENTS = [
    ("responses/tokens.json", "tokenResponse", AccessToken),
    ("responses/php_tokenResponse.json", None, AccessToken),
    ("responses/tokens.json", "introspectResponse", TokenIntrospection),
    ("responses/php_tokenIntrospect.json", None, TokenIntrospection),
    ("responses/tokens.json", "infoResponse", TokenInfo),
    ("responses/php_tokenInfo.json", None, TokenInfo),
]


class TestTokenDocuments:
    @pytest.mark.parametrize(("name", "key", "model"), TOKEN_DOCUMENTS, ids=[f"{n}:{k}" for n, k, _ in TOKEN_DOCUMENTS])
    def test_every_token_fixture_parses(self, load, name: str, key: str | None, model: type) -> None:
        body = load(name)
        token_doc = body[key] if key else body
        parsed = model.model_validate(token_doc)
        for field in ("created_at", "exp", "iat"):
            if field in token_doc:
                value = getattr(parsed, field)
                assert value is not None and value.utcoffset() is not None, field

    def test_the_fixtures_cover_every_token_document(self, shared_fixtures) -> None:
        names = {path.name for path in (shared_fixtures / "responses").glob("*token*.json")}
        assert names == {name.removeprefix("responses/") for name, _, _ in TOKEN_DOCUMENTS}

    @pytest.mark.parametrize("created_at", [1617257436, "2021-04-01T09:10:36+03:00"], ids=["epoch", "iso"])
    def test_access_token_created_at_as_epoch_or_iso(self, created_at: object) -> None:
        token = AccessToken.model_validate({"access_token": "t", "expires_in": 3600, "created_at": created_at})
        assert token.created_at is not None
        assert token.created_at.timestamp() == 1617257436


class TestSecretsStayHidden:
    def test_reprs_hide_secret_and_token(self, client: K2Client, fake: FakeK2) -> None:
        fake.route("GET", STK, document("incoming_payment", PENDING))
        client.incoming_payments.get(STK)
        shown = " ".join(
            repr(item)
            for item in (
                client,
                client.credentials,
                client.tokens,
                client._auth,
                client._tokens,
                client.tokens.create(),
            )
        )
        assert CLIENT_SECRET not in shown
        assert "token-1" not in shown and "token-2" not in shown

    def test_bearer_auth_and_credentials_are_plain_objects(self) -> None:
        credentials = ClientCredentials("id", "s3cr3t")
        assert "s3cr3t" not in repr(credentials)
        assert (
            repr(BearerAuth(TokenCache(lambda: AccessToken(access_token=SecretStr("x"), expires_in=1))))
            == "<BearerAuth>"
        )

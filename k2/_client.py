"""`K2Client`: one object per K2 application, with a resource namespace per K2 collection."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType

import httpx

from ._auth import BearerAuth, ClientCredentials, TokenCache
from ._base import BaseClient
from ._connections import Borrowed
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT
from ._exceptions import RequestValidationError
from .resources import (
    V2,
    IncomingPayments,
    MerchantBankAccounts,
    MerchantWallets,
    Payments,
    PayRecipients,
    PollingRequests,
    SettlementTransfers,
    Tokens,
    TransactionSmsNotifications,
    WebhookSubscriptions,
)
from .webhooks import verify_signature

__all__ = ["K2Client"]


class K2Client(BaseClient):
    """K2 Connect for one application: v1 resources here, v2 under `client.v2`.

    ```python
    with K2Client("https://sandbox.kopokopo.com", client_id, client_secret) as client:
        location = client.incoming_payments.create(till_number="K000000", phone_number="0712345678",
                                                   amount=Decimal("100"), callback_url=callback)
        payment = client.incoming_payments.get(location)
    ```
    One set of connections and one cached token serve every thread; pass `transport=` or `http_client=` to test."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not client_id:
            raise RequestValidationError("client_id", "is required (K2_CLIENT_ID)")
        if not client_secret:
            raise RequestValidationError("client_secret", "is required (K2_CLIENT_SECRET)")
        super().__init__(
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            transport=transport,
            http_client=http_client,
        )
        self.credentials = ClientCredentials(client_id, client_secret)
        self._api_key = api_key
        self._tokens = TokenCache(self.tokens.create)
        self._auth = BearerAuth(self._tokens)

    def __repr__(self) -> str:
        return f"<K2Client base_url={self.base_url!r}>"

    def __enter__(self) -> K2Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def with_options(self, *, timeout: float | httpx.Timeout | None = None, max_retries: int | None = None) -> K2Client:
        """A copy with other limits that shares this client's connections and token (`None` keeps the current one)."""
        clone = K2Client(
            self.base_url,
            self.credentials.client_id,
            self.credentials.client_secret,
            api_key=self._api_key,
            timeout=self._timeout if timeout is None else timeout,
            max_retries=self._max_retries if max_retries is None else max_retries,
            retry_backoff=self._retry_backoff,
        )
        clone._connections = Borrowed(self._connections)  # closing the copy leaves them open
        clone._tokens = self._tokens
        clone._auth = self._auth
        return clone

    def verify_signature(self, raw_body: bytes, header: str | None) -> bool:
        """Whether a webhook or result body was signed with this application's API key."""
        if not self._api_key:
            raise RequestValidationError("api_key", "is required to verify webhooks (K2_API_KEY)")
        return verify_signature(raw_body, header, self._api_key)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self)

    @cached_property
    def incoming_payments(self) -> IncomingPayments:
        return IncomingPayments(self)

    @cached_property
    def pay_recipients(self) -> PayRecipients:
        return PayRecipients(self)

    @cached_property
    def payments(self) -> Payments:
        return Payments(self)

    @cached_property
    def merchant_bank_accounts(self) -> MerchantBankAccounts:
        return MerchantBankAccounts(self)

    @cached_property
    def merchant_wallets(self) -> MerchantWallets:
        return MerchantWallets(self)

    @cached_property
    def settlement_transfers(self) -> SettlementTransfers:
        return SettlementTransfers(self)

    @cached_property
    def webhook_subscriptions(self) -> WebhookSubscriptions:
        return WebhookSubscriptions(self)

    @cached_property
    def polling(self) -> PollingRequests:
        return PollingRequests(self)

    @cached_property
    def transaction_sms_notifications(self) -> TransactionSmsNotifications:
        return TransactionSmsNotifications(self)

    @cached_property
    def v2(self) -> V2:
        return V2(self)

"""One exception tree for everything the K2 client raises, keyed by HTTP status."""

from __future__ import annotations

from typing import Any

__all__ = [
    "K2Error",
    "APIConnectionError",
    "APITimeoutError",
    "OutcomeUnknownError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ValidationError",
    "RateLimitError",
    "InternalServerError",
    "InvalidSignatureError",
    "InvalidPayloadError",
    "RequestValidationError",
]


class K2Error(Exception):
    """Base of every error this package raises."""


class APIConnectionError(K2Error):
    """K2 could not be reached, or the connection broke before an answer came."""


class APITimeoutError(APIConnectionError):
    """K2 did not answer within the timeout."""


class OutcomeUnknownError(APITimeoutError):
    """A money-moving POST was sent but no answer came back (a timeout or a dropped connection).

    It may or may not have taken effect. It is an `APITimeoutError`, so `except APITimeoutError` treats every
    unanswered money request as UNKNOWN. Never retry it blindly: settle it with the result callback, matched by
    the metadata in `sent` (the request body as sent; K2 gave no Location to query)."""

    def __init__(self, message: str, *, method: str, url: str, sent: dict[str, Any]) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.sent = sent

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata that was sent (our `request_ref`, say): the result callback echoes it back."""
        metadata = self.sent.get("metadata")
        return dict(metadata) if isinstance(metadata, dict) else {}


class APIStatusError(K2Error):
    """K2 answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        error_message: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.error_message = error_message
        self.body = body


class BadRequestError(APIStatusError):
    """400: K2 refused the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: wrong client credentials, or a token K2 no longer accepts."""


class PermissionDeniedError(APIStatusError):
    """403: the application may not use this endpoint."""


class NotFoundError(APIStatusError):
    """404: no such resource (a wrong or foreign Location URL)."""


class ValidationError(APIStatusError):
    """422: K2 refused a field; `field` names it when K2 said which."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` is in seconds when K2 said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: K2 failed on its side."""


class InvalidSignatureError(K2Error):
    """A webhook or result callback whose X-KopoKopo-Signature does not match its bytes."""


class InvalidPayloadError(K2Error, ValueError):
    """A webhook, callback or status body that is not the shape K2 documents; the message names what."""


class RequestValidationError(K2Error, ValueError):
    """A request refused before sending; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

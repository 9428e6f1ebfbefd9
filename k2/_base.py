"""One request loop for every K2 call: timeouts, retries with backoff and jitter, errors mapped by status."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import pydantic

from ._constants import (
    ACCEPT,
    DEFAULT_CONCURRENCY,
    MAX_CONNECTIONS,
    MAX_RETRY_DELAY,
    USER_AGENT,
)
from ._connections import Borrowed, Connections
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidPayloadError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ValidationError,
)
from .types import StatusDocument
from .types._common import describe_error

__all__ = ["ApiVersion", "BaseClient", "Resource", "StatusResource", "make_status_error", "retry_delay"]

log = logging.getLogger("k2")

ApiVersion = Literal["v1", "v2"]
DocumentT = TypeVar("DocumentT", bound=StatusDocument)
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

# Nothing reached K2 when these happen, so even a money request may go again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRY_STATUSES = frozenset({408, 429})
_HEADERS = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
# An idle connection is dropped before common servers drop it (uvicorn, k2sim's server, after 5 s): one sent on just
# as the server closes it fails after sending, and a money request then cannot go again (its outcome is unknown).
_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=4.0)
_FIELD_IN_MESSAGE = re.compile(r"^([A-Za-z_][\w.\[\]]*)(?::|\s+(?:is|are|must|should|can't|cannot)\b)")


class BaseClient:
    """Owns the connection pool and the request loop; resources call `request` and never retry themselves."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout,
        max_retries: int,
        retry_backoff: float,
        transport: httpx.BaseTransport | None,
        http_client: httpx.Client | None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise RequestValidationError(
                "base_url", f"{base_url!r} is not an http(s) URL such as https://sandbox.kopokopo.com"
            )
        if max_retries < 0:
            raise RequestValidationError("max_retries", "must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._connections: Connections | Borrowed = Borrowed(http_client) if http_client else Connections(
            lambda: httpx.Client(transport=transport, limits=_ONE_CONNECTION, timeout=self._timeout,
                                 follow_redirects=False),
            most=MAX_CONNECTIONS,
            wait=self._timeout.pool,
        )
        self._auth: httpx.Auth | None = None

    def close(self) -> None:
        """Close the connections, unless the client was lent to us with `http_client=`."""
        self._connections.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send once, or more when safe: an `idempotent` call retries on connection errors, 408, 429 and 5xx;
        any other call retries only when nothing reached K2, and a failure after sending is `OutcomeUnknownError`."""
        request = httpx.Request(method, url, json=json, data=data, headers={**_HEADERS, **(headers or {})},
                                extensions={"timeout": self._timeout.as_dict()})
        auth = self._auth if authenticated else None
        retries = 0
        while True:
            try:
                with self._connections.lent() as http:
                    response = http.send(request, auth=auth)
            except httpx.TransportError as err:
                sent = not isinstance(err, _NOT_SENT)
                if retries < self._max_retries and (idempotent or not sent):
                    retries += 1
                    self._pause(request, retries, type(err).__name__, None)
                    continue
                if sent and not idempotent:
                    raise OutcomeUnknownError(
                        f"{method} {url}: {_what_failed(err)} after the request was sent, so K2 may or may not "
                        "have acted on it, and no Location came back. Do not send it again blindly: wait for the "
                        "result callback and match it by the metadata in `sent`.",
                        method=method,
                        url=url,
                        sent=json or {},
                    ) from err
                raise _connection_error(err, method, url) from err
            if response.is_success:
                return response
            if idempotent and retries < self._max_retries and _retryable(response.status_code):
                retries += 1
                self._pause(request, retries, str(response.status_code), _retry_after(response))
                continue
            raise make_status_error(response)

    def location_of(self, response: httpx.Response) -> str:
        """The absolute URL K2 gave the created resource (any 2xx; a relative Location is resolved)."""
        location = response.headers.get("Location")
        if not location:
            raise InvalidPayloadError(
                f"{response.request.method} {response.request.url}: K2 answered {response.status_code} "
                "without a Location header, so the new resource cannot be tracked"
            )
        return urljoin(str(response.request.url), location)  # not httpx's URL.join: it parses both URLs, slowly

    def resolve(self, location: str, *, collection: str) -> str:
        """Where to GET a Location or a bare id: always on `base_url`, so the bearer token never leaves it."""
        if location.startswith(self.base_url + "/"):
            return location
        if "/" not in location:
            if not location.strip():
                raise RequestValidationError("location", "is empty")
            return f"{collection}/{location}"
        parts = urlsplit(location)
        if not parts.path.startswith("/"):
            raise RequestValidationError("location", f"{location!r} is neither a K2 Location URL nor an id")
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    def parse(self, model: type[ModelT], response: httpx.Response) -> ModelT:
        """The response body as `model`; a body K2 does not document becomes `InvalidPayloadError`."""
        where = f"{response.request.method} {response.request.url}"
        try:
            body = response.json()
        except ValueError:
            raise InvalidPayloadError(f"{where}: the {response.status_code} body is not JSON") from None
        try:
            return model.model_validate(body)
        except pydantic.ValidationError as err:
            raise InvalidPayloadError(f"{where}: {describe_error(err)}") from None

    def _pause(self, request: httpx.Request, retries: int, reason: str, retry_after: float | None) -> None:
        delay = retry_delay(retries, backoff=self._retry_backoff, retry_after=retry_after)
        log.info(
            "k2: %s %s failed (%s); retry %d of %d in %.2fs",
            request.method,
            request.url,
            reason,
            retries,
            self._max_retries,
            delay,
        )
        if delay > 0:
            time.sleep(delay)


def retry_delay(retries: int, *, backoff: float, retry_after: float | None) -> float:
    """Seconds before retry number `retries`: what K2 asked for, else exponential backoff with jitter; capped."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_DELAY)
    step: float = backoff * 2 ** (retries - 1)
    return min(step * random.uniform(0.5, 1.0), MAX_RETRY_DELAY)


def _retryable(status: int) -> bool:
    return status in _RETRY_STATUSES or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, from either of its forms (a number, or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _what_failed(err: httpx.TransportError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return f"no answer in time ({type(err).__name__})"
    return f"the connection broke ({type(err).__name__})"


def _connection_error(err: httpx.TransportError, method: str, url: str) -> APIConnectionError:
    if isinstance(err, httpx.TimeoutException):
        return APITimeoutError(f"{method} {url}: K2 did not answer in time ({type(err).__name__}); try again later")
    return APIConnectionError(
        f"{method} {url}: could not reach K2 ({type(err).__name__}: {err}); check K2_BASE_URL and the network"
    )


_STATUS_ERRORS: dict[int, tuple[type[APIStatusError], str]] = {
    400: (BadRequestError, "K2 refused the request as malformed"),
    401: (AuthenticationError, "check K2_CLIENT_ID and K2_CLIENT_SECRET (a fresh token was refused too)"),
    403: (PermissionDeniedError, "this application may not use this endpoint; ask Kopo Kopo to enable it"),
    404: (NotFoundError, "no such resource; check the Location URL or id"),
    422: (ValidationError, "correct the field and send again"),
    429: (RateLimitError, "too many requests; slow down"),
}


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The one place a non-2xx answer becomes an exception, keyed by status, with K2's own words in it."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    error_code, error_message = _error_fields(body)
    cls, hint = _STATUS_ERRORS.get(status, (APIStatusError, "unexpected answer; check K2_BASE_URL"))
    if status >= 500:
        cls, hint = InternalServerError, "K2 failed on its side; try again later"
    extra: dict[str, Any] = {}
    if cls is ValidationError:
        extra["field"] = _error_field(body, error_message)
    elif cls is RateLimitError:
        extra["retry_after"] = _retry_after(response)
        if extra["retry_after"] is not None:
            hint = f"too many requests; wait {extra['retry_after']:g}s"
    detail = error_message or response.reason_phrase or "no detail"
    code = f" [{error_code}]" if error_code else ""
    request = response.request
    return cls(
        f"{request.method} {request.url}: K2 answered {status}: {detail}{code}; {hint}",
        status_code=status,
        error_code=error_code,
        error_message=error_message,
        body=body,
        **extra,
    )


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """K2's `error_code`/`error_message`, or OAuth's `error`/`error_description`."""
    if not isinstance(body, dict):
        return None, (body or None) if isinstance(body, str) else None
    code = body.get("error_code", body.get("error"))
    message = body.get("error_message", body.get("error_description"))
    return (None if code is None else str(code)), (None if message is None else str(message))


def _error_field(body: Any, error_message: str | None) -> str | None:
    """Which field K2 refused: its `field` key when present, else the name its message starts with."""
    field = body.get("field") if isinstance(body, dict) else None
    if isinstance(field, str):
        return field
    match = _FIELD_IN_MESSAGE.match(error_message or "")
    return match.group(1) if match else None


class Resource:
    """A namespace of K2 endpoints: knows paths and models, leaves HTTP to the client's request loop."""

    def __init__(self, client: BaseClient, *, version: ApiVersion = "v1") -> None:
        self._client = client
        self._version = version

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._version}>"


class StatusResource(Resource, Generic[DocumentT]):
    """An asynchronous K2 resource: a POST that returns a Location, and GETs of that Location."""

    _path: ClassVar[str]
    _model: type[DocumentT]

    def get(self, location: str) -> DocumentT:
        """The resource's current status, from its Location URL (or its id)."""
        url = self._client.resolve(location, collection=self._url())
        return self._client.parse(self._model, self._client.request("GET", url, idempotent=True))

    def get_many(self, locations: Iterable[str], *, concurrency: int = DEFAULT_CONCURRENCY) -> list[DocumentT]:
        """`get` for each location, `concurrency` at a time over the shared pool; results in input order.

        The first error is raised once the running calls finish; calls not yet started are cancelled."""
        urls = list(locations)
        if concurrency < 1:
            raise RequestValidationError("concurrency", "must be 1 or more")
        workers = min(concurrency, len(urls), MAX_CONNECTIONS)
        if workers <= 1:
            return [self.get(url) for url in urls]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="k2-get")
        try:
            return list(pool.map(self.get, urls))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _url(self, *parts: str) -> str:
        return "/".join((self._client.base_url, "api", self._version, self._path, *parts))

    def _create(self, body: dict[str, Any]) -> str:
        """POST a new resource (never retried once sent) and return its Location."""
        return self._client.location_of(self._client.request("POST", self._url(), json=body, idempotent=False))

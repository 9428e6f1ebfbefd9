"""K2 Connect client: typed resources, signatures and parsers (httpx + pydantic only)."""

from __future__ import annotations

from . import phones, statuses, types, webhooks
from ._client import K2Client
from ._exceptions import *  # noqa: F403
from ._exceptions import __all__ as _exception_names
from .types import *  # noqa: F403
from .types import __all__ as _type_names
from .webhooks import parse as parse_event
from .webhooks import sign, verify_signature

__all__ = [
    "K2Client",
    *_exception_names,
    *_type_names,
    "phones",
    "statuses",
    "types",
    "webhooks",
    "parse_event",
    "sign",
    "verify_signature",
]

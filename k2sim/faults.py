"""Faults injected through `/sim/faults`: on API requests (latency, errors, timeouts) and on deliveries."""
from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

from .errors import Invalid
from .validate import count, get

__all__ = ["Fault", "FaultKind", "Faults", "REQUEST_FAULTS", "DELIVERY_FAULTS"]

FaultKind = Literal["latency", "error", "timeout", "drop", "duplicate", "out_of_order"]
REQUEST_FAULTS = ("latency", "error", "timeout")
DELIVERY_FAULTS = ("drop", "duplicate", "out_of_order")
_ERROR_STATUSES = (429, 500, 502, 503, 504)


@dataclass
class Fault:
    """One injected fault; `remaining` None means until cleared; `path` limits request faults by prefix."""

    id: int
    kind: FaultKind
    remaining: int | None
    path: str
    status: int = 500
    ms: int = 0
    seconds: float = 30.0

    def as_json(self) -> dict[str, Any]:
        """The fault as `/sim/faults` lists it."""
        return {"id": self.id, "type": self.kind, "remaining": self.remaining, "path": self.path,
                "status": self.status, "ms": self.ms, "seconds": self.seconds}


def _non_negative(spec: dict[str, Any], name: str, default: float) -> float:
    """A duration field: a finite number >= 0 (fractional JSON numbers arrive as their exact text)."""
    value = spec.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise Invalid(name, "must be a number of zero or more")
    return number


class Faults:
    """Active faults, consumed first come first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._active: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        """Parse a `/sim/faults` body and activate it."""
        kind = get(spec, "type")
        if kind not in REQUEST_FAULTS + DELIVERY_FAULTS:
            raise Invalid("type", f"must be one of {', '.join(REQUEST_FAULTS + DELIVERY_FAULTS)}")
        # count: how many uses; null means until cleared
        uses = None if spec.get("count", 1) is None else count(spec, "count", default=1)
        status = spec.get("status", 500)
        if status not in _ERROR_STATUSES:
            raise Invalid("status", f"must be one of {', '.join(map(str, _ERROR_STATUSES))}")
        path = spec.get("path") or "/"
        if not isinstance(path, str) or not path.startswith("/"):
            raise Invalid("path", "must be a path prefix starting with /")
        if kind in DELIVERY_FAULTS and path != "/":
            raise Invalid("path", f"applies to request faults only; {kind} acts on the next delivery")
        fault = Fault(next(self._ids), kind, uses, path, status, int(_non_negative(spec, "ms", 0)),
                      _non_negative(spec, "seconds", 30.0))
        with self._lock:
            self._active.append(fault)
        return fault

    def take(self, kinds: tuple[str, ...], path: str = "/") -> Fault | None:
        """Consume one use of the first active fault of these kinds matching `path`."""
        with self._lock:
            for fault in self._active:
                if fault.kind in kinds and path.startswith(fault.path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._active.remove(fault)
                    return fault
        return None

    def listing(self) -> list[dict[str, Any]]:
        """The active faults."""
        with self._lock:
            return [fault.as_json() for fault in self._active]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._active.clear()

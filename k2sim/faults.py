"""Faults injected through `/sim/faults`: on API requests (latency, errors, timeouts) and on deliveries."""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any, Literal

from .errors import Invalid
from .validate import get

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
        count = spec.get("count", 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise Invalid("count", "must be a positive integer or null (until cleared)")
        status = spec.get("status", 500)
        if status not in _ERROR_STATUSES:
            raise Invalid("status", f"must be one of {', '.join(map(str, _ERROR_STATUSES))}")
        fault = Fault(next(self._ids), kind, count, str(spec.get("path") or "/"), status,
                      int(spec.get("ms", 0)), float(spec.get("seconds", 30.0)))
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

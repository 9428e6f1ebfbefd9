"""The client's keep-alive connections to K2: httpx clients of one connection each, one lent per request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

__all__ = ["Borrowed", "Connections"]


class Connections:
    """Connections for every thread of a process: a stack of one-connection httpx clients, one lent per request
    (the one returned last goes next: its connection is the warmest), at most `most` at once.

    Not one httpx pool shared by the threads: httpcore assigns a pool's connections under one lock with work that
    grows with the square of the connections it holds (each idle one counts all the others). With 32 threads over
    one pool that cost 2.6 ms of CPU a request, more than everything else in sending it; lending a whole client is
    a pop and a push."""

    def __init__(self, make: Callable[[], httpx.Client], *, most: int, wait: float | None) -> None:
        self._make = make
        self._most = most
        self._wait = wait  # the timeout's `pool` part: how long a request may wait for a free connection
        self._slots = threading.BoundedSemaphore(most)
        self._free: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def lent(self) -> Iterator[httpx.Client]:
        """A client for one request; `httpx.PoolTimeout` (nothing was sent) when all are busy for too long."""
        if not self._slots.acquire(timeout=self._wait):
            raise httpx.PoolTimeout(f"all {self._most} connections to K2 stayed busy for {self._wait} s")
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("this K2 client is closed: open a new one")
                http = self._free.pop() if self._free else None
            http = http or self._make()
            try:
                yield http
            finally:
                with self._lock:
                    kept = not self._closed
                    if kept:
                        self._free.append(http)
                if not kept:
                    http.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every connection; one lent now is closed when it comes back."""
        with self._lock:
            self._closed = True
            free, self._free = self._free, []
        for http in free:
            http.close()


class Borrowed:
    """Connections someone else owns (an httpx client lent to us, or those of the client we were copied from):
    every request goes through them, and closing is left to their owner."""

    def __init__(self, owner: httpx.Client | Connections | Borrowed) -> None:
        self.owner = owner

    @contextmanager
    def lent(self) -> Iterator[httpx.Client]:
        if isinstance(self.owner, httpx.Client):
            yield self.owner
        else:
            with self.owner.lent() as http:
                yield http

    def close(self) -> None:
        """Left open: not ours."""

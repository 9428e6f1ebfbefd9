"""`Loop`: the one background thread shape of the runtime's workers: a round now and then, sooner when woken."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Loop"]

log = logging.getLogger(__name__)


class Loop:
    """A daemon thread that runs `round` every `interval` seconds (or as many as the round returns), or at once
    when woken; the first round after `first_wait`. A round that fails is logged and the next one tries again (a
    database hiccup must not end a worker)."""

    def __init__(self, name: str, round: Callable[[], float | None], interval: float, *,
                 first_wait: float = 0.0) -> None:
        self.name = name
        self.interval = interval
        self._first_wait = first_wait
        self._round = round
        self._wake = threading.Event()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread after the round under way (waiting at most `timeout` seconds)."""
        if self._thread is None:
            return
        self.stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def wake(self) -> None:
        """Run the next round now rather than after the interval."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        self._wake.wait(self._first_wait)
        self._wake.clear()
        while not self.stopping.is_set():
            wait = None
            try:
                wait = self._round()
            except Exception:
                log.exception("%s: a round failed", self.name)
            self._wake.wait(self.interval if wait is None else wait)
            self._wake.clear()

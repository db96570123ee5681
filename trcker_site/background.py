"""Background work of a web process: a thread that calls one function every few
milliseconds (the batch writers, the click spool drainer).

Started lazily on first use (so after gunicorn forks, never in the master), stopped and
run a last time at a graceful exit, and between test cases by the test suite."""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)


class Ticker:
    def __init__(self, name: str, tick: Callable[[], object], *, delay: float) -> None:
        self.name = name
        self.tick = tick
        self.delay = delay
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        _tickers.append(self)

    def ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.wait(self.delay)
                self._wake.clear()
                try:
                    self.tick()
                except Exception:  # the thread must outlive any one bad tick
                    logger.exception("%s: tick failed", self.name)
        finally:
            connections.close_all()  # this thread's own connections

    def close(self) -> None:
        """Stop the thread, then run one last tick in the caller's thread (if it ever ran:
        a ticker nobody started has nothing to finish). A later ensure_running() starts a
        new thread."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout=10)
        self._thread, self._stopping = None, False
        try:
            self.tick()
        except Exception:
            logger.warning("%s: last tick failed", self.name, exc_info=True)


_tickers: list[Ticker] = []


@atexit.register
def close_all() -> None:
    """Stop every ticker of this process, each after a last tick (at exit; tests)."""
    for ticker in _tickers:
        ticker.close()

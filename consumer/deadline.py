"""Run a blocking call with a total deadline: the caller waits at most that long, however the other side
answers.

A socket timeout bounds one read, not a call: a server that drips its reply a byte at a time keeps every
read short and the call endless. `DeadlineCaller` runs each call on a worker thread of its own and waits
for it with a deadline; past it the call is abandoned (the caller gets `DeadlineExceeded`) and `on_abandon`
runs, which should cut the call's connection so that the worker comes back soon and no half-read reply is
ever reused. While an abandoned call still occupies the worker, new calls fail at once with `Busy`:
nothing queues behind a stuck call, and at most one thread is ever held. The worker is a daemon thread:
a call stuck at exit does not hold the process.

    >>> caller = DeadlineCaller("redis-read", on_abandon=pool.disconnect)
    >>> caller.call(lambda: client.mget(keys), deadline_s=0.5)   # returns, raises, or gives up at 0.5 s
    >>> caller.close()
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline; it was abandoned."""


class Busy(RuntimeError):
    """An earlier, abandoned call still runs; this one was not started."""


class DeadlineCaller:
    def __init__(self, name: str, *, on_abandon: Callable[[], None] | None = None) -> None:
        self._name = name
        self._on_abandon = on_abandon
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], concurrent.futures.Future[object]] | None]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: concurrent.futures.Future[object] | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T], deadline_s: float) -> T:
        with self._lock:
            if self._running is not None and not self._running.done():
                raise Busy(f"{self._name}: an abandoned call is still running")
            future: concurrent.futures.Future[object] = concurrent.futures.Future()
            self._running = future
            self._jobs.put((fn, future))
        try:
            return future.result(timeout=deadline_s)  # type: ignore[return-value]
        except concurrent.futures.TimeoutError:
            self._abandon()
            raise DeadlineExceeded(f"{self._name}: no answer within {deadline_s:g}s") from None

    def _abandon(self) -> None:
        if self._on_abandon is None:
            return
        try:
            self._on_abandon()
        except Exception:  # cutting a connection is best effort; the deadline already held
            log.debug("%s: cutting the abandoned call's connection failed", self._name, exc_info=True)

    def close(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who may already have given up
                future.set_exception(exc)

"""Ctrl-C at a point of our choosing: a SIGINT inside the block is noted, and raised where we check.

    >>> with deferred_sigint() as check:
    ...     admin = AdminClient(conf)      # a SIGINT here is noted, not raised inside the C call
    ...     check()                        # KeyboardInterrupt here, if one came
    # and at the end of the block, if one came after the last check

Python raises KeyboardInterrupt wherever the main thread next runs Python code, and that may be inside a
C extension's call: a SIGINT during confluent-kafka's parsing of a client configuration came out as
"TypeError: expected configuration property name as type unicode string" (one CI run), so Ctrl-C looked
like an internal error (exit 1) instead of an interruption (exit 130). Only the default handler is
replaced, only in the main thread; a program that handles SIGINT itself keeps its own handler.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


def _nothing() -> None:
    return None


@contextlib.contextmanager
def deferred_sigint() -> Iterator[Callable[[], None]]:
    if threading.current_thread() is not threading.main_thread():
        yield _nothing
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield _nothing
        return
    came = threading.Event()

    def note(_signum: int, _frame: FrameType | None) -> None:
        came.set()

    def check() -> None:
        if came.is_set():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    check()  # reached only when the block ended normally: an interrupt it did not check for

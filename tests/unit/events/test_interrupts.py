"""deferred_sigint: a real SIGINT sent to this process is raised where the block checks, not where it came."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from events.interrupts import deferred_sigint


@pytest.fixture(autouse=True)
def default_handler() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a C call: the handler has run once this returns


def test_a_sigint_in_the_block_is_raised_at_the_check_and_not_before() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), deferred_sigint() as check:
        check()
        steps.append("before")
        sigint()
        steps.append("after the signal")  # not raised here, as it would be without the block
        check()
        steps.append("after the check")
    assert steps == ["before", "after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_unchecked_sigint_is_raised_when_the_block_ends() -> None:
    with pytest.raises(KeyboardInterrupt), deferred_sigint():
        sigint()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_sigint_no_interrupt_and_an_error_in_the_block_is_not_replaced() -> None:
    with deferred_sigint() as check:
        check()
    with pytest.raises(ValueError), deferred_sigint():
        sigint()
        raise ValueError("the block's own failure")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_of_the_programs_own_is_left_alone() -> None:
    seen: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    with deferred_sigint() as check:
        sigint()
        check()
    assert seen == [signal.SIGINT]


def test_outside_the_main_thread_it_changes_nothing() -> None:
    got: list[object] = []

    def run() -> None:
        with deferred_sigint() as check:
            check()
            got.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert got == [signal.default_int_handler]

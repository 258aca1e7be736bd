"""Retry decisions and the backoff schedule, with an injected random source."""

from __future__ import annotations

import pytest

from fetcher.retry import backoff_delay, is_transient, should_retry


@pytest.mark.parametrize(
    ("reason", "transient"),
    [
        ("connect", True),
        ("timeout", True),
        ("read", True),
        ("protocol", True),
        ("http_429", True),
        ("http_408", True),
        ("http_500", True),
        ("http_502", True),
        ("http_503", True),
        ("http_504", True),
        ("http_501", False),
        ("http_400", False),
        ("http_403", False),
        ("http_404", False),
        ("too_large", False),
        ("not_image", False),
        ("content_encoding", False),
        ("redirect_loop", False),
        ("too_many_redirects", False),
        ("private_address", False),
        ("scheme", False),
        ("dns", False),
        ("invalid_url", False),
        (None, False),
    ],
)
def test_is_transient(reason: str | None, transient: bool) -> None:
    assert is_transient(reason) is transient


@pytest.mark.parametrize(
    ("reason", "attempt", "retries", "wait_s", "time_left_s", "retry"),
    [
        ("http_503", 0, 2, 0.1, 5.0, True),
        ("http_503", 1, 2, 0.1, 5.0, True),
        ("http_503", 2, 2, 0.1, 5.0, False),  # retries used up
        ("http_503", 0, 0, 0.1, 5.0, False),  # retries off
        ("http_503", 0, 2, 0.5, 0.4, False),  # the wait would pass the deadline
        ("http_503", 0, 2, 0.4, 0.4, False),  # nothing left for the try itself
        ("http_404", 0, 2, 0.1, 5.0, False),  # not transient
        ("timeout", 0, 2, 0.0, 0.01, True),
    ],
)
def test_should_retry(
    reason: str, attempt: int, retries: int, wait_s: float, time_left_s: float, retry: bool
) -> None:
    assert should_retry(reason, attempt, retries, wait_s, time_left_s) is retry


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 1.0, 0.2),  # ceiling of try 0 = base
        (1, 1.0, 0.4),
        (2, 1.0, 0.8),
        (3, 1.0, 1.6),
        (4, 1.0, 2.0),  # capped
        (10, 1.0, 2.0),
        (2, 0.5, 0.4),  # jitter scales the ceiling
        (2, 0.0, 0.0),
    ],
)
def test_backoff_schedule(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, base_s=0.2, cap_s=2.0, rand=lambda: rand) == pytest.approx(expected)


def test_backoff_draws_fresh_jitter_each_time() -> None:
    draws = iter([0.1, 0.9, 0.5])
    delays = [backoff_delay(3, base_s=1.0, cap_s=100.0, rand=lambda: next(draws)) for _ in range(3)]
    assert delays == pytest.approx([0.8, 7.2, 4.0])


@pytest.mark.parametrize("reason", ["host_busy", "fetch_busy"])
def test_a_busy_host_is_not_retried(reason: str) -> None:
    # host_busy means "fail fast": a retry would only queue for the same full budget again
    assert not is_transient(reason)
    assert not should_retry(reason, attempt=0, retries=5, wait_s=0.0, time_left_s=60.0)

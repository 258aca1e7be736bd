"""Retry decisions for image fetches: what is worth another try, and how long to wait first.

    >>> is_transient("http_503"), is_transient("http_404"), is_transient("too_large")
    (True, False, False)
    >>> backoff_delay(2, base_s=0.2, cap_s=2.0, rand=lambda: 0.5)     # 0.5 x min(2.0, 0.2 x 2**2)
    0.4

Only failures that another attempt can plausibly fix are retried: the connection could not be made
or broke, the server was too slow, or it said it is overloaded or failing (429, 408, 500, 502, 503,
504). A 404, a body that is too large or not an image, a refused address, a redirect loop: never.
The wait is "full jitter" exponential backoff, so that many fetchers do not retry in lock-step.
"""

from __future__ import annotations

from collections.abc import Callable

TRANSIENT_REASONS = frozenset(
    {
        "connect",
        "timeout",
        "read",
        "protocol",
        "http_408",
        "http_429",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
    }
)


def is_transient(reason: str | None) -> bool:
    return reason in TRANSIENT_REASONS


def should_retry(reason: str | None, attempt: int, retries: int, wait_s: float, time_left_s: float) -> bool:
    """Retry after `attempt` (0 = the first try) failed with `reason`, if budget and deadline allow.

    `wait_s` is the backoff before the next try; there is no point starting a try that cannot finish
    before the deadline, so a wait that eats the time left means give up now with the real reason.
    """
    return is_transient(reason) and attempt < retries and wait_s < time_left_s


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed try number `attempt` (0-based): uniform in [0, min(cap, base*2^n))."""
    return rand() * min(cap_s, base_s * (2**attempt))

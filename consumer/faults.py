"""TEST ONLY: make a named pipeline stage's thread raise, to prove that supervision catches a dead stage.

Armed by the environment variable `MODSTREAM_TEST_ONLY_KILL_STAGE=<stage>:<n>` (the stage raises
`InjectedFault` when it takes its n-th item) or, in-process, by `FaultInjector.arm_for_tests`. Unset, it
does nothing: `tick()` is one dict lookup. Production never sets it; it is not a setting on purpose, so
it does not appear in the generated configuration reference.

    >>> faults = FaultInjector.from_env()          # MODSTREAM_TEST_ONLY_KILL_STAGE=prep:3
    >>> faults.tick("prep"); faults.tick("prep")   # nothing
    >>> faults.tick("prep")                        # raises InjectedFault on the prep thread
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

ENV = "MODSTREAM_TEST_ONLY_KILL_STAGE"


class InjectedFault(RuntimeError):
    """Raised by an armed stage: a stand-in for a bug that escapes every handler."""


class FaultInjector:
    def __init__(self, armed: dict[str, int] | None = None) -> None:
        self._left = dict(armed or {})  # stage -> items to take before raising
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> FaultInjector:
        spec = os.environ.get(ENV, "").strip()
        if not spec:
            return cls()
        stage, _, count = spec.partition(":")
        log.warning("TEST ONLY fault injection armed: stage %r dies at item %s", stage, count or "1")
        return cls({stage: int(count or "1")})

    def arm_for_tests(self, stage: str, after: int = 1) -> None:
        with self._lock:
            self._left[stage] = after

    def tick(self, stage: str) -> None:
        if stage not in self._left:
            return
        with self._lock:
            self._left[stage] -= 1
            fire = self._left[stage] == 0
        if fire:
            log.error("TEST ONLY: injecting a fault into stage %r now", stage)
            raise InjectedFault(f"test-only fault injected into stage {stage!r}")

"""Hot reload: the registry's current version, loaded in the background and swapped in between batches.

The registry's CURRENT pointer is the source of truth. It is read at start, whenever a model-updates
event arrives (`wake()`), and every `poll_interval_s` in case an event was missed. A version that differs
from the serving one is loaded off the serving path and checked with one prediction; only then does
`current` point at it, so a batch never sees a half-loaded model.

A candidate that fails to load or to predict is refused and the old version keeps serving; it is tried
again after a backoff (exponential, capped: `Backoff`), because the failure may pass (a shared volume
still catching up, a file fixed in place). A CURRENT that holds no valid version name (garbage, a path
such as `../../etc`) is refused the same way, logged once per distinct content.

    >>> manager = ModelManager(registry, load=lambda path: Predictor.load(path), poll_interval_s=30)
    >>> manager.start()
    >>> manager.current        # None until a version exists: the service is not ready
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from model.registry import RegistryError

log = logging.getLogger(__name__)

# While nothing is loaded yet, look at the registry at least this often.
_WAITING_POLL_S = 0.5


class Registry(Protocol):
    def current(self) -> str | None: ...  # may raise RegistryError (CURRENT is not a version name)
    def path(self, version: str) -> Path: ...


class Servable(Protocol):
    version: str

    def predict(self, items: Any) -> Any: ...


P = TypeVar("P", bound=Servable)


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before loading a refused version again, after its n-th failure in a row.

    >>> [Backoff(initial_s=5, factor=2, max_s=300).delay(n) for n in (1, 2, 3, 7, 8)]
    [5.0, 10.0, 20.0, 300.0, 300.0]
    """

    initial_s: float = 5.0  # a volume that lags by seconds is served seconds later
    factor: float = 2.0
    max_s: float = 300.0  # a version that stays broken costs one load (a checkpoint hash) per 5 min

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1):
            raise ValueError(f"invalid backoff {self}")

    def delay(self, failures: int) -> float:
        if failures < 1:
            return 0.0
        return float(min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64)))


@dataclass
class _Failure:
    count: int  # failures in a row
    retry_at: float  # clock() time of the next attempt


class ModelManager(Generic[P]):
    def __init__(
        self,
        registry: Registry,
        *,
        load: Callable[[Path], P],
        poll_interval_s: float,
        on_change: Callable[[P], None] | None = None,
        on_refused: Callable[[str, BaseException], None] | None = None,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._load = load
        self._poll_interval_s = poll_interval_s
        self._on_change = on_change
        self._on_refused = on_refused
        self._backoff = backoff
        self._clock = clock
        self._current: P | None = None
        self._current_name: str | None = None
        self._failures: dict[str, _Failure] = {}  # only for the name CURRENT holds now: bounded
        self._bad_pointer: str | None = None  # the last invalid CURRENT logged, so it is logged once
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()  # one load at a time
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> P | None:
        """The serving predictor (a plain reference read: swaps are atomic)."""
        return self._current

    @property
    def refused(self) -> frozenset[str]:
        """Versions that failed to load and wait for their next attempt."""
        return frozenset(self._failures)

    def next_retry_in(self) -> float | None:
        """Seconds until a refused version is tried again (None when none waits)."""
        with self._lock:  # check() edits the failures
            if not self._failures:
                return None
            return max(0.0, min(f.retry_at for f in self._failures.values()) - self._clock())

    def check(self) -> P | None:
        """Read CURRENT; load and swap in a new version when there is one. Returns the serving predictor."""
        with self._lock:
            try:
                name = self._registry.current()
            except RegistryError as exc:
                self._refuse_pointer(exc)
                return self._current
            except OSError as exc:
                log.warning("cannot read the model registry: %s", exc)
                return self._current
            self._bad_pointer = None
            if name is None or name == self._current_name:
                self._failures.clear()
                return self._current
            for other in [n for n in self._failures if n != name]:
                del self._failures[other]  # CURRENT moved on: forget the old version's failures
            failure = self._failures.get(name)
            if failure is not None and self._clock() < failure.retry_at:
                return self._current
            log.info("loading model version %s%s", name, f" (attempt {failure.count + 1})" if failure else "")
            try:
                candidate = self._load(self._registry.path(name))
                _smoke_test(candidate)
            except Exception as exc:
                self._refuse(name, failure.count + 1 if failure else 1, exc)
                return self._current
            self._failures.pop(name, None)
            self._current, self._current_name = candidate, name
            log.info("model version %s is serving", candidate.version)
            if self._on_change is not None:
                self._on_change(candidate)
            return candidate

    def _refuse(self, name: str, count: int, exc: Exception) -> None:
        delay = self._backoff.delay(count)
        self._failures[name] = _Failure(count, self._clock() + delay)
        log.error(
            "model version %s refused (failure %d in a row), %s keeps serving; next attempt in %.0f s: %s",
            name,
            count,
            self._current_name,
            delay,
            exc,
        )
        if self._on_refused is not None:
            self._on_refused(name, exc)

    def _refuse_pointer(self, exc: RegistryError) -> None:
        """CURRENT holds no version name. Nothing to retry: a new CURRENT is read at every check."""
        self._failures.clear()
        if str(exc) == self._bad_pointer:
            return
        self._bad_pointer = str(exc)
        log.error("model registry CURRENT refused, %s keeps serving: %s", self._current_name, exc)
        if self._on_refused is not None:
            self._on_refused("CURRENT", exc)

    def wake(self) -> None:
        """Look at the registry now (a model-updates event arrived)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-manager", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._closed.is_set():
            self.check()
            wait = self._poll_interval_s if self._current is not None else _WAITING_POLL_S
            retry = self.next_retry_in()
            if retry is not None:
                wait = min(wait, retry)
            self._wake.wait(timeout=min(wait, self._poll_interval_s))
            self._wake.clear()


def _smoke_test(predictor: Servable) -> None:
    """Predictions before serving: a checkpoint that loads but cannot score is refused too. A real Predictor
    runs its own (text-only, image-only and text+image, model/predictor.py); a stand-in scores one text."""
    own = getattr(predictor, "smoke_test", None)
    if callable(own):
        own()
        return
    out = predictor.predict([("modstream smoke test", None)])
    scores = getattr(out[0], "scores", None) if len(out) == 1 else None
    if not scores or not all(math.isfinite(v) for v in scores.values()):
        raise ValueError(f"smoke prediction is not usable: {scores!r}")

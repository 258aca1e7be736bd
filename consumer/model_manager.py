"""Hot reload: the registry's current version, loaded in the background and swapped in between batches.

The registry's CURRENT pointer is the source of truth. It is read at start, whenever a model-updates
event arrives (`wake()`), and every `poll_interval_s` in case an event was missed. A version that differs
from the serving one is loaded off the serving path and checked with one prediction; only then does
`current` point at it, so a batch never sees a half-loaded model. A candidate that fails to load or to
predict is refused (remembered, not retried) and the old version keeps serving.

    >>> manager = ModelManager(registry, load=lambda path: Predictor.load(path), poll_interval_s=30)
    >>> manager.start()
    >>> manager.current        # None until a version exists: the service is not ready
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

# While nothing is loaded yet, look at the registry at least this often.
_WAITING_POLL_S = 0.5


class Registry(Protocol):
    def current(self) -> str | None: ...
    def path(self, version: str) -> Path: ...


class Servable(Protocol):
    version: str

    def predict(self, items: Any) -> Any: ...


P = TypeVar("P", bound=Servable)


class ModelManager(Generic[P]):
    def __init__(
        self,
        registry: Registry,
        *,
        load: Callable[[Path], P],
        poll_interval_s: float,
        on_change: Callable[[P], None] | None = None,
        on_refused: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._registry = registry
        self._load = load
        self._poll_interval_s = poll_interval_s
        self._on_change = on_change
        self._on_refused = on_refused
        self._current: P | None = None
        self._current_name: str | None = None
        self._refused: set[str] = set()
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
        return frozenset(self._refused)

    def check(self) -> P | None:
        """Read CURRENT; load and swap in a new version when there is one. Returns the serving predictor."""
        with self._lock:
            try:
                name = self._registry.current()
            except OSError as exc:
                log.warning("cannot read the model registry: %s", exc)
                return self._current
            if name is None or name == self._current_name or name in self._refused:
                return self._current
            log.info("loading model version %s", name)
            try:
                candidate = self._load(self._registry.path(name))
                _smoke_test(candidate)
            except Exception as exc:
                self._refused.add(name)
                log.error("model version %s refused, %s keeps serving: %s", name, self._current_name, exc)
                if self._on_refused is not None:
                    self._on_refused(name, exc)
                return self._current
            self._current, self._current_name = candidate, name
            log.info("model version %s is serving", candidate.version)
            if self._on_change is not None:
                self._on_change(candidate)
            return candidate

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
            self._wake.wait(timeout=min(wait, self._poll_interval_s))
            self._wake.clear()


def _smoke_test(predictor: Servable) -> None:
    """One prediction before serving: a checkpoint that loads but cannot score is refused too."""
    out = predictor.predict([("modstream smoke test", None)])
    scores = getattr(out[0], "scores", None) if len(out) == 1 else None
    if not scores or not all(math.isfinite(v) for v in scores.values()):
        raise ValueError(f"smoke prediction is not usable: {scores!r}")

"""Hot reload decisions with a fake registry, loader and clock: swap on a new version, refuse a broken
one, retry it with a capped exponential backoff, refuse a CURRENT that names no version."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.model_manager import Backoff, ModelManager
from model.registry import ModelRegistry, RegistryError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeRegistry:
    def __init__(self) -> None:
        self.pointer: str | None = None
        self.error: Exception | None = None

    def current(self) -> str | None:
        if self.error is not None:
            raise self.error
        return self.pointer

    def path(self, version: str) -> Path:
        return Path("/registry") / version


@dataclass
class FakePredictor:
    version: str
    score: float = 0.5

    def predict(self, items: list[tuple[str | None, bytes | None]]) -> list[object]:
        @dataclass
        class P:
            scores: dict[str, float]

        return [P({"a": self.score}) for _ in items]


def make(
    broken: set[str], clock: FakeClock | None = None, attempts: list[str] | None = None
) -> tuple[FakeRegistry, ModelManager[FakePredictor], list[str], list[str]]:
    registry = FakeRegistry()
    changes: list[str] = []
    refused: list[str] = []

    def load(path: Path) -> FakePredictor:
        if attempts is not None:
            attempts.append(path.name)
        if path.name in broken:
            raise ValueError("corrupt checkpoint")
        return FakePredictor(path.name, score=float("nan") if path.name == "nan" else 0.5)

    manager = ModelManager(
        registry,
        load=load,
        poll_interval_s=30,
        on_change=lambda p: changes.append(p.version),
        on_refused=lambda v, _e: refused.append(v),
        backoff=Backoff(initial_s=5, factor=2, max_s=300),
        clock=clock or FakeClock(),
    )
    return registry, manager, changes, refused


def test_nothing_until_a_version_exists() -> None:
    registry, manager, changes, _ = make(set())
    assert manager.check() is None and manager.current is None
    registry.pointer = "v1"
    assert manager.check() is not None
    assert manager.current is not None and manager.current.version == "v1"
    assert changes == ["v1"]


def test_swaps_to_a_new_version_once() -> None:
    registry, manager, changes, _ = make(set())
    registry.pointer = "v1"
    first = manager.check()
    assert manager.check() is first  # same pointer: no reload
    registry.pointer = "v2"
    manager.check()
    assert manager.current is not None and manager.current.version == "v2"
    assert changes == ["v1", "v2"]


def test_broken_candidate_is_refused_and_old_keeps_serving() -> None:
    registry, manager, changes, refused = make({"v2"})
    registry.pointer = "v1"
    manager.check()
    registry.pointer = "v2"
    manager.check()
    manager.check()  # not retried before its backoff
    assert manager.current is not None and manager.current.version == "v1"
    assert refused == ["v2"] and manager.refused == {"v2"}
    registry.pointer = "v3"
    manager.check()
    assert manager.current.version == "v3" and changes == ["v1", "v3"]


def test_candidate_that_cannot_predict_is_refused() -> None:
    registry, manager, _, refused = make(set())
    registry.pointer = "v1"
    manager.check()
    registry.pointer = "nan"
    manager.check()
    assert manager.current is not None and manager.current.version == "v1" and refused == ["nan"]


def test_background_thread_wakes_on_event() -> None:
    registry, manager, _, _ = make(set())
    registry.pointer = "v1"
    manager.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while manager.current is None and time.monotonic() < deadline:
            time.sleep(0.01)
        registry.pointer = "v2"
        manager.wake()
        while manager.current is not None and manager.current.version != "v2" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert manager.current is not None and manager.current.version == "v2"
    finally:
        manager.close()


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 5.0), (2, 10.0), (3, 20.0), (6, 160.0), (7, 300.0), (8, 300.0), (10_000, 300.0)],
)
def test_backoff_is_exponential_and_capped(failures: int, delay: float) -> None:
    assert Backoff(initial_s=5, factor=2, max_s=300).delay(failures) == delay


@pytest.mark.parametrize("bad", [dict(initial_s=0), dict(initial_s=10, max_s=5), dict(factor=0.5)])
def test_backoff_refuses_settings_that_would_spin(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**bad)


def test_a_version_that_keeps_failing_is_retried_on_the_backoff_schedule() -> None:
    clock, attempts = FakeClock(), []
    registry, manager, _, refused = make({"v2"}, clock, attempts)
    registry.pointer = "v2"
    start = clock.now
    tried_at = []
    for step in range(0, 700):  # one check per second, as a busy poll would
        clock.now = start + step
        before = len(attempts)
        manager.check()
        if len(attempts) > before:
            tried_at.append(step)
    # delays 5, 10, 20, 40, 80, 160, then the 300 s cap
    assert tried_at == [0, 5, 15, 35, 75, 155, 315, 615]
    assert refused == ["v2"] * 8 and manager.current is None


def test_a_failed_then_fixed_version_is_served_after_the_backoff() -> None:
    clock, attempts = FakeClock(), []
    broken = {"v2"}
    registry, manager, changes, refused = make(broken, clock, attempts)
    registry.pointer = "v1"
    manager.check()
    registry.pointer = "v2"
    manager.check()  # a shared volume still catching up: refused, v1 keeps serving
    assert refused == ["v2"] and manager.refused == {"v2"} and manager.next_retry_in() == 5.0
    broken.clear()  # ... and now it has caught up
    clock.now += 4.9
    assert manager.check() is not None and manager.current.version == "v1"  # type: ignore[union-attr]
    assert attempts == ["v1", "v2"]  # not tried before its time
    clock.now += 0.1
    manager.check()
    assert manager.current is not None and manager.current.version == "v2"
    assert changes == ["v1", "v2"] and manager.refused == frozenset() and manager.next_retry_in() is None


def test_a_new_pointer_is_tried_at_once_and_old_failures_are_forgotten() -> None:
    clock = FakeClock()
    registry, manager, changes, _ = make({"v2"}, clock)
    registry.pointer = "v2"
    manager.check()
    registry.pointer = "v3"  # a new promotion does not wait for v2's backoff
    manager.check()
    assert manager.current is not None and manager.current.version == "v3"
    assert manager.refused == frozenset() and changes == ["v3"]


def test_an_invalid_current_is_refused_once_and_the_serving_version_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, manager, changes, refused = make(set())
    registry.pointer = "v1"
    manager.check()
    registry.error = RegistryError("invalid version name '../../etc'")
    with caplog.at_level(logging.ERROR, logger="consumer.model_manager"):
        for _ in range(5):
            assert manager.check() is not None
    assert manager.current is not None and manager.current.version == "v1"
    assert refused == ["CURRENT"] and changes == ["v1"]  # logged and counted once, not every poll
    # only this logger's errors: another test may have left the root logger at INFO
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert lines == ["model registry CURRENT refused, v1 keeps serving: invalid version name '../../etc'"]
    registry.error = None
    registry.pointer = "v2"
    manager.check()
    assert manager.current is not None and manager.current.version == "v2"


def _fake_version(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "metadata.json").write_text(json.dumps({"version": directory.name}))


@pytest.mark.parametrize(
    "pointer", ["../../etc", "../elsewhere/v9", "/etc/passwd", "v1/../../x", "\x00\xff\xfe", "v1\nv2"]
)
def test_garbage_or_traversal_in_a_real_current_file_is_refused(tmp_path: Path, pointer: str) -> None:
    registry = ModelRegistry(tmp_path / "models")
    registry.publish(_fake_version, "v1")
    _fake_version(tmp_path / "elsewhere" / "v9")  # a loadable directory outside the registry
    loaded: list[Path] = []
    manager: ModelManager[FakePredictor] = ModelManager(
        registry,
        load=lambda path: loaded.append(path) or FakePredictor(path.name),  # type: ignore[func-returns-value]
        poll_interval_s=30,
        clock=FakeClock(),
    )
    assert manager.check() is not None
    (registry.root / "CURRENT").write_bytes(pointer.encode("utf-8", "surrogateescape"))
    assert manager.check() is not None and manager.current is not None and manager.current.version == "v1"
    assert loaded == [registry.root / "v1"]  # nothing outside the root was ever loaded


def test_background_thread_retries_at_the_backoff_not_at_the_next_poll() -> None:
    """poll_interval_s is 30 s; the retry after a 0.05 s backoff must not wait for it."""
    import time

    broken = {"v1"}
    registry = FakeRegistry()
    registry.pointer = "v0"  # once a version serves, the loop sleeps poll_interval_s between looks

    def load(path: Path) -> FakePredictor:
        if path.name in broken:
            raise ValueError("not there yet")
        return FakePredictor(path.name)

    manager: ModelManager[FakePredictor] = ModelManager(
        registry, load=load, poll_interval_s=30, backoff=Backoff(initial_s=0.05, factor=2, max_s=0.05)
    )
    manager.start()
    try:
        deadline = time.monotonic() + 10  # well under the 30 s poll
        while manager.current is None and time.monotonic() < deadline:
            time.sleep(0.01)
        registry.pointer = "v1"
        manager.wake()
        while not manager.refused and time.monotonic() < deadline:
            time.sleep(0.01)
        assert manager.refused == {"v1"} and manager.current is not None and manager.current.version == "v0"
        broken.clear()
        while manager.current.version != "v1" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert manager.current.version == "v1"
    finally:
        manager.close()

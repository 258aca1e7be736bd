"""Hot reload decisions with a fake registry and loader: swap on a new version, refuse a broken one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consumer.model_manager import ModelManager


class FakeRegistry:
    def __init__(self) -> None:
        self.pointer: str | None = None

    def current(self) -> str | None:
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


def make(broken: set[str]) -> tuple[FakeRegistry, ModelManager[FakePredictor], list[str], list[str]]:
    registry = FakeRegistry()
    changes: list[str] = []
    refused: list[str] = []

    def load(path: Path) -> FakePredictor:
        if path.name in broken:
            raise ValueError("corrupt checkpoint")
        return FakePredictor(path.name, score=float("nan") if path.name == "nan" else 0.5)

    manager = ModelManager(
        registry,
        load=load,
        poll_interval_s=30,
        on_change=lambda p: changes.append(p.version),
        on_refused=lambda v, _e: refused.append(v),
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
    manager.check()  # not retried
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

"""The registry's promotion lock and compare-and-set publish: the last writer no longer wins blindly."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from model.registry import CurrentMoved, LockTimeout, ModelRegistry
from tests.unit.model.test_registry import fake_checkpoint


def test_a_compare_and_set_publish_refuses_when_current_moved(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.publish(lambda d: fake_checkpoint(d), "v1", expect_current=None)
    with pytest.raises(CurrentMoved):
        registry.publish(lambda d: fake_checkpoint(d), "v2", expect_current=None)  # decided against "empty"
    assert registry.current() == first and registry.versions() == ["v1"]  # nothing added, nothing switched
    assert registry.publish(lambda d: fake_checkpoint(d), "v2", expect_current="v1") == "v2"
    assert registry.current() == "v2"


def test_current_moving_while_the_version_is_written_adds_nothing(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(lambda d: fake_checkpoint(d), "v1")

    def build_while_another_switches(directory: Path) -> None:
        fake_checkpoint(directory)
        registry.publish(lambda d: fake_checkpoint(d), "v0")  # a promoter that ignored the lock

    with pytest.raises(CurrentMoved):
        registry.publish(build_while_another_switches, "v2", expect_current="v1")
    assert registry.current() == "v0" and "v2" not in registry.versions()


def test_the_lock_excludes_another_thread_until_released(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with registry.lock():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(10)
    ticks = iter(range(100))
    # a fake clock: the deadline passes without sleeping for it
    with pytest.raises(LockTimeout), registry.lock(timeout_s=3, clock=lambda: float(next(ticks))):
        pass
    release.set()
    thread.join(10)
    with registry.lock(timeout_s=5):  # free again
        pass


def test_the_lock_excludes_another_process_and_dies_with_its_holder(tmp_path: Path) -> None:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2])\n"
        "from model.registry import ModelRegistry\n"
        "with ModelRegistry(sys.argv[1]).lock():\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path), str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        ticks = iter(range(100))
        with (
            pytest.raises(LockTimeout),
            ModelRegistry(tmp_path).lock(timeout_s=3, clock=lambda: float(next(ticks))),
        ):
            pass
    finally:
        child.kill()  # a crashed holder: the kernel releases its flock
        child.wait(10)
    with ModelRegistry(tmp_path).lock(timeout_s=30):
        pass
    assert ModelRegistry(tmp_path).versions() == []  # the lock file is not a version

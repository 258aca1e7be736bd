"""ModelRegistry: list / current / atomic publish / rollback; failed or half-written versions never show."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from model.registry import ModelRegistry, RegistryError


def fake_checkpoint(directory: Path, version: str = "x") -> None:
    """A complete directory with metadata.json is all the registry needs (real checkpoints: elsewhere)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "weights.safetensors").write_bytes(b"\0" * 64)
    (directory / "metadata.json").write_text(json.dumps({"version": version}))


def test_an_empty_registry_has_no_versions_and_no_current(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.versions() == []
    assert registry.current() is None


def test_publish_lists_sorted_versions_and_moves_current(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    t0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    first, second = registry.new_version_name(t0), registry.new_version_name(t0 + timedelta(hours=1))
    registry.publish(lambda d: fake_checkpoint(d, second), second)
    registry.publish(lambda d: fake_checkpoint(d, first), first, make_current=False)
    assert registry.versions() == [first, second]  # oldest first, whatever the publish order
    assert registry.current() == second
    assert json.loads((registry.path(second) / "metadata.json").read_text()) == {"version": second}


def test_set_current_rolls_back_and_forward(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    old = registry.publish(fake_checkpoint, "v1")
    new = registry.publish(fake_checkpoint, "v2")
    registry.set_current(old)
    assert registry.current() == old
    registry.set_current(new)
    assert registry.current() == new
    with pytest.raises(RegistryError):
        registry.set_current("v3")
    assert registry.current() == new


def test_a_build_that_raises_leaves_nothing_behind(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(fake_checkpoint, "v1")

    def failing_build(directory: Path) -> None:
        fake_checkpoint(directory)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        registry.publish(failing_build, "v2")
    assert registry.versions() == ["v1"]
    assert registry.current() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v1"]


def test_a_build_that_writes_no_checkpoint_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RegistryError, match="metadata"):
        registry.publish(lambda d: d.mkdir(), "v1")
    assert registry.versions() == [] and registry.current() is None


def test_a_version_being_written_is_invisible_to_readers(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(fake_checkpoint, "v1")
    seen: dict[str, object] = {}

    def build(directory: Path) -> None:
        fake_checkpoint(directory)  # complete on disk, but not yet renamed into place
        seen["versions"], seen["current"] = registry.versions(), registry.current()

    registry.publish(build, "v2")
    assert seen == {"versions": ["v1"], "current": "v1"}
    assert registry.current() == "v2"


def test_leftover_temp_dirs_and_incomplete_dirs_are_not_listed(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path / ".tmp-v9-abcd")  # a crashed publish
    (tmp_path / "v8").mkdir()  # no metadata.json
    (tmp_path / "CURRENT").write_text("v8\n")
    registry = ModelRegistry(tmp_path)
    assert registry.versions() == []
    assert registry.current() is None


def test_publish_copies_an_existing_checkpoint_directory(tmp_path: Path) -> None:
    source = tmp_path / "outside"
    fake_checkpoint(source, "copied")
    registry = ModelRegistry(tmp_path / "models")
    name = registry.publish(source)
    assert registry.versions() == [name] and registry.current() == name
    assert (registry.path(name) / "weights.safetensors").read_bytes() == b"\0" * 64
    assert source.exists()


def test_duplicate_and_unsafe_version_names_are_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(fake_checkpoint, "v1")
    with pytest.raises(RegistryError, match="exists"):
        registry.publish(fake_checkpoint, "v1")
    for bad in ("../escape", ".hidden", "a/b", ""):
        with pytest.raises(RegistryError):
            registry.publish(fake_checkpoint, bad or "/")


def test_new_version_names_sort_by_time_and_are_unique(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    now = datetime(2026, 11, 30, 15, 0, 0, tzinfo=UTC)
    names = [registry.new_version_name(now + timedelta(seconds=s)) for s in (0, 1, 3600)]
    assert names == sorted(names)
    assert re.fullmatch(r"v20261130T150000Z-[0-9a-f]{6}", names[0])
    assert len({registry.new_version_name(now) for _ in range(50)}) == 50


@pytest.mark.parametrize(
    "content",
    [
        b"../../etc\n",
        b"../other-registry/v1",
        b"/abs/path",
        b"v1/../v1",
        b"..",
        b".hidden",
        b"v1\nv2\n",
        b"\xff\xfe garbage",
        b"v" * 300,
        b"v1\x00",
    ],
    ids=[
        "traversal",
        "sibling",
        "absolute",
        "dotdot-inside",
        "dotdot",
        "hidden",
        "two-lines",
        "binary",
        "too-long",
        "nul",
    ],
)
def test_current_refuses_anything_but_a_version_name(tmp_path: Path, content: bytes) -> None:
    registry = ModelRegistry(tmp_path / "models")
    registry.publish(fake_checkpoint, "v1")
    fake_checkpoint(tmp_path / "other-registry" / "v1")  # a real checkpoint outside the root
    (registry.root / "CURRENT").write_bytes(content)
    with pytest.raises(RegistryError):
        registry.current()


def test_current_tolerates_surrounding_whitespace_and_an_empty_pointer(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(fake_checkpoint, "v1")
    (tmp_path / "CURRENT").write_text("  v1 \r\n", encoding="utf-8")
    assert registry.current() == "v1"
    (tmp_path / "CURRENT").write_text("", encoding="utf-8")
    assert registry.current() is None


def test_set_current_leaves_no_temp_file(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.publish(fake_checkpoint, "v1")
    registry.publish(fake_checkpoint, "v2")
    registry.set_current("v1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v1", "v2"]

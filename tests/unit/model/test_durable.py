"""model.durable: atomic replace with the right content, fsyncs where promised, nothing left on failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model import durable


@pytest.fixture()
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What got fsync'd, by kind: "file" or "dir" (the real fsync still runs)."""
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real(fd)

    monkeypatch.setattr(durable.os, "fsync", spy)
    return seen


def test_write_bytes_creates_then_replaces(tmp_path: Path, fsyncs: list[str]) -> None:
    target = tmp_path / "blob"
    durable.write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    durable.write_bytes(target, b"second, longer than the first")
    assert target.read_bytes() == b"second, longer than the first"
    assert [p.name for p in tmp_path.iterdir()] == ["blob"]
    assert fsyncs == ["file", "dir", "file", "dir"]


def test_write_text_encodes_and_can_skip_fsync(tmp_path: Path, fsyncs: list[str]) -> None:
    durable.write_text(tmp_path / "index.json", '{"é": 1}', fsync=False)
    assert (tmp_path / "index.json").read_bytes() == '{"é": 1}'.encode()
    assert fsyncs == []


def test_a_reader_holding_the_old_file_keeps_its_content(tmp_path: Path) -> None:
    target = tmp_path / "CURRENT"
    durable.write_text(target, "v1\n")
    with target.open(encoding="utf-8") as before:
        durable.write_text(target, "v2\n")
        assert before.read() == "v1\n"  # replaced by rename, never rewritten in place
    assert target.read_text(encoding="utf-8") == "v2\n"


class Boom(Exception):
    pass


@pytest.mark.parametrize("fails_at", ["write", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_at: str
) -> None:
    target = tmp_path / "state.json"
    durable.write_text(target, "old")

    def boom(*_args: object, **_kwargs: object) -> None:
        raise Boom(fails_at)

    if fails_at == "write":
        monkeypatch.setattr(durable.os, "fsync", boom)  # fails after the temp file was written
    else:
        monkeypatch.setattr(durable.os, "replace", boom)
    with pytest.raises(Boom):
        durable.write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_missing_directory_is_an_error_not_a_stray_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        durable.write_bytes(tmp_path / "no-such-dir" / "x", b"data")
    assert list(tmp_path.iterdir()) == []


def test_publish_dir_moves_a_whole_tree_and_fsyncs_it(tmp_path: Path, fsyncs: list[str]) -> None:
    staging = tmp_path / ".tmp-v1"
    (staging / "tokenizer").mkdir(parents=True)
    (staging / "weights").write_bytes(b"w")
    (staging / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    durable.publish_dir(staging, tmp_path / "v1")
    assert (tmp_path / "v1" / "tokenizer" / "vocab.txt").read_text() == "a\nb\n"
    assert not staging.exists()
    # two files, then both directories of the tree, then the parent that got the new name
    assert sorted(fsyncs[:2]) == ["file", "file"] and fsyncs[2:] == ["dir", "dir", "dir"]


def test_publish_dir_never_merges_into_an_existing_version(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "weights").write_bytes(b"old")
    staging = tmp_path / ".tmp-v1"
    staging.mkdir()
    (staging / "weights").write_bytes(b"new")
    with pytest.raises(OSError):
        durable.publish_dir(staging, tmp_path / "v1")
    assert (tmp_path / "v1" / "weights").read_bytes() == b"old"


def test_replace_dir_swaps_a_tree_and_cleans_up(tmp_path: Path) -> None:
    final = tmp_path / "state"
    for content in (b"one", b"two"):
        staging = tmp_path / "state.tmp"
        staging.mkdir()
        (staging / "model").write_bytes(content)
        durable.replace_dir(staging, final, fsync=False)
        assert (final / "model").read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # no .tmp, no .old

"""Hostile dataset files: every reader keeps to the dataset root, regular files, byte caps, one-line errors.

Real files in a temp dir (FIFOs, symlinks, sparse giants); nothing is mocked.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from trainer.batches import load_image
from trainer.dataset import Dataset, Example
from trainer.image_vetting import vet_images
from trainer.readers import DatasetFileError, read_dataset
from trainer.readers.files import MAX_TABLE_BYTES, checked_id, dataset_root, inside, read_capped

FIFO_TIMEOUT_S = 10  # a FIFO must be refused at once; if the reader blocked, the test fails here


def png(colour: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


def sparse(path: Path, size: int) -> Path:
    """A file whose stat size is `size` without using the disk."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def one_line_error(excinfo: pytest.ExceptionInfo[DatasetFileError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and len(message) <= 300
    return message


# -- the primitives --------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["1114679353714016256", "abc_DEF-9"])
def test_plain_ids_pass(good: str) -> None:
    assert checked_id(good) == good


@pytest.mark.parametrize(
    "bad", ["../../outside/secret", "/etc/passwd", "a/b", "..", "", "a\x00b", "x" * 129, "é"]
)
def test_ids_a_path_could_be_built_from_are_refused(bad: str) -> None:
    with pytest.raises(DatasetFileError):
        checked_id(bad)


def test_inside_refuses_traversal_absolute_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    (root / "sub" / "ok").write_text("ok")
    os.symlink(tmp_path / "secret", root / "sub" / "out")
    os.symlink(root / "sub" / "ok", root / "sub" / "in")
    real = dataset_root(root)
    assert inside(real, "sub/ok") == real / "sub" / "ok"
    assert inside(real, "sub/in") == real / "sub" / "ok"  # a symlink that stays inside is fine
    for hostile in ("../secret", "sub/../../secret", str(tmp_path / "secret"), "sub/out", "/etc/passwd"):
        with pytest.raises(DatasetFileError, match="outside the dataset root"):
            inside(real, hostile)
    with pytest.raises(DatasetFileError):
        inside(real, "a\x00b")


@pytest.mark.timeout(FIFO_TIMEOUT_S)
def test_read_capped_never_opens_a_fifo_device_or_directory(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", Path("/dev/zero"), tmp_path):
        with pytest.raises(DatasetFileError, match="not a regular file") as excinfo:
            read_capped(path, 1024)
        one_line_error(excinfo)


def test_read_capped_refuses_a_file_over_the_cap_before_reading_it(tmp_path: Path) -> None:
    giant = sparse(tmp_path / "giant", MAX_TABLE_BYTES + 1)
    with pytest.raises(DatasetFileError, match="over the"):
        read_capped(giant, MAX_TABLE_BYTES)
    (tmp_path / "small").write_bytes(b"x" * 100)
    assert read_capped(tmp_path / "small", 100) == b"x" * 100
    with pytest.raises(DatasetFileError, match="over the"):
        read_capped(tmp_path / "small", 99)


# -- MMHS150K --------------------------------------------------------------------------------------


def mmhs(root: Path, gt: object) -> Path:
    root.mkdir(parents=True)
    (root / "MMHS150K_GT.json").write_text(json.dumps(gt))
    (root / "img_resized").mkdir()
    (root / "img_txt").mkdir()
    return root


def entry(text: str = "words") -> dict[str, object]:
    return {"tweet_text": text, "labels": [0, 1, 1], "labels_str": [], "img_url": ""}


@pytest.mark.timeout(FIFO_TIMEOUT_S)
def test_mmhs_ids_and_files_cannot_reach_outside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(jpeg())
    (outside / "secret.json").write_text(json.dumps({"img_text": "SECRET"}))
    gt = {"../../outside/secret": entry(), "1": entry(), "2": entry(), "3": entry(), "4": entry()}
    root = mmhs(tmp_path / "data" / "mmhs", gt)
    os.symlink(outside / "secret.jpg", root / "img_resized" / "1.jpg")  # symlink out of the root
    os.symlink(outside / "secret.json", root / "img_txt" / "1.json")
    os.mkfifo(root / "img_resized" / "2.jpg")  # would block a plain open()
    os.mkfifo(root / "img_txt" / "2.json")
    sparse(root / "img_resized" / "3.jpg", 21 * 1024**2)  # over the image cap
    sparse(root / "img_txt" / "3.json", 2 * 1024**2)
    (root / "img_resized" / "4.jpg").write_bytes(jpeg())  # the one honest image

    ds = read_dataset(root)
    by_key = {e.key: e for e in ds.examples}
    assert set(by_key) == {"1", "2", "3", "4"}  # the traversal id is skipped
    assert all(e.text == "words" for e in ds.examples)  # no OCR text from outside, a FIFO or a giant
    assert [k for k, e in by_key.items() if e.image_path is not None] == ["4"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'["a", "list"]', "expected a JSON object"),
        (b'{"1": ', "not JSON"),
        (b'{"1": "\xff\xfe"}', "not UTF-8"),
    ],
)
def test_malformed_mmhs_gt_file_is_one_line(tmp_path: Path, content: bytes, match: str) -> None:
    root = tmp_path / "mmhs"
    root.mkdir()
    (root / "MMHS150K_GT.json").write_bytes(content)
    with pytest.raises(DatasetFileError, match=match) as excinfo:
        read_dataset(root, "mmhs150k")
    one_line_error(excinfo)


def test_malformed_mmhs_entries_are_skipped(tmp_path: Path) -> None:
    gt = {
        "1": "not an object",
        "2": {"labels": "012"},
        "3": {"labels": [True, False, 0]},
        "4": {"labels": [0, 1], "tweet_text": ["not", "a", "str"]},  # no text, no image: skipped
        "5": entry("kept"),
        "6": {"labels": [[0]]},
    }
    ds = read_dataset(mmhs(tmp_path / "mmhs", gt))
    assert [e.key for e in ds.examples] == ["5"]


def test_mmhs_gt_as_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text(json.dumps({"1": entry()}))
    root = tmp_path / "mmhs"
    root.mkdir()
    os.symlink(tmp_path / "elsewhere.json", root / "MMHS150K_GT.json")
    with pytest.raises(DatasetFileError, match="outside the dataset root"):
        read_dataset(root, "mmhs150k")


# -- CSV -------------------------------------------------------------------------------------------


@pytest.mark.timeout(FIFO_TIMEOUT_S)
def test_csv_image_paths_must_be_regular_files_under_its_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(png())
    (data / "img" / "ok.png").write_bytes(png())
    os.symlink(tmp_path / "outside.png", data / "img" / "link.png")
    os.mkfifo(data / "img" / "fifo.png")
    sparse(data / "img" / "giant.png", 21 * 1024**2)
    rows = [
        ("1", "ok", "img/ok.png"),
        ("2", "traversal", "../outside.png"),
        ("3", "absolute", str(tmp_path / "outside.png")),
        ("4", "symlink out", "img/link.png"),
        ("5", "fifo", "img/fifo.png"),
        ("6", "giant", "img/giant.png"),
        ("7", "", "../outside.png"),  # no text and a refused image: skipped
        ("8", "nul", "img/\x00.png"),
    ]
    path = data / "posts.csv"
    path.write_text("id,text,labels,image\n" + "".join(f"{i},{t},Racist,{p}\n" for i, t, p in rows))
    ds = read_dataset(path)
    by_key = {e.key: e for e in ds.examples}
    assert set(by_key) == {"1", "2", "3", "4", "5", "6", "8"}
    assert by_key["1"].image_path == (data / "img" / "ok.png").resolve()
    assert [k for k, e in by_key.items() if e.image_path is not None] == ["1"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'id,text,labels\n1,"' + b"x" * 200_000 + b'",Racist\n', "malformed CSV"),
        (b"id,text,labels\n1,\xff\xfe,Racist\n", "not UTF-8"),
        (b"id,body\n1,hello\n", "no text column"),
        (b"id,text,text,labels\n1,a,b,Racist\n", "duplicate column"),
        (b"id,text,labels\n1,a,Racist\n1,b,Sexist\n", "duplicate values"),
        (b"id,text,hate\n1,a,\xc2\xb2\n", "neither a `labels` column"),  # "2" superscript is no vote count
    ],
)
def test_malformed_csv_is_one_line(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetFileError, match=match) as excinfo:
        read_dataset(path)
    one_line_error(excinfo)


@pytest.mark.timeout(FIFO_TIMEOUT_S)
def test_a_fifo_or_giant_as_the_data_file_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "posts.csv")
    with pytest.raises(DatasetFileError, match="not a regular file"):
        read_dataset(tmp_path / "posts.csv")
    sparse(tmp_path / "feedback.jsonl", MAX_TABLE_BYTES + 1)
    with pytest.raises(DatasetFileError, match="over the"):
        read_dataset(tmp_path / "feedback.jsonl")


# -- JSONL -----------------------------------------------------------------------------------------


def test_hostile_jsonl_lines_are_skipped_and_the_rest_read(tmp_path: Path) -> None:
    def line(post_id: str, decided_at: str, labels: list[str]) -> bytes:
        body = {"post_id": post_id, "labels": labels, "text": "t", "decided_at": decided_at}
        return json.dumps(body).encode() + b"\n"

    path = tmp_path / "feedback.jsonl"
    path.write_bytes(
        line("a", "2026-11-30T15:00:00Z", ["Racist"])
        + b'{"post_id": "n", "labels": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n"
        + b"\xff\xfe not utf-8\n"
        + line("late", "9999-12-31T23:59:59-05:00", [])
        + line("a", "2026-11-30T16:00:00", ["Sexist"])  # naive: UTC; later than the first decision
        + b"[1, 2]\n"
    )
    ds = read_dataset(path)
    assert [e.key for e in ds.examples] == ["a"]
    assert ds.examples[0].targets[ds.labels.index("Sexist")] == 1.0


# -- images ----------------------------------------------------------------------------------------


def test_undecodable_images_are_skipped_counted_and_the_text_kept(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(png())
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg()[:200])
    html = tmp_path / "page.png"
    html.write_bytes(b"<html>not an image</html>")
    examples = [
        Example("1", "text", good, (1.0, 0.0)),
        Example("2", "text", truncated, (1.0, 0.0)),
        Example("3", None, html, (0.0, 1.0)),  # nothing left: dropped
        Example("4", "text", None, (0.0, 1.0)),
        Example("5", "text", html, (0.0, 1.0)),  # the same bad file: decoded once, skipped twice
    ]
    ds, report = vet_images(Dataset(("NotHate", "Racist"), "NotHate", examples), size=32)
    assert [(e.key, e.image_path) for e in ds.examples] == [
        ("1", good),
        ("2", None),
        ("4", None),
        ("5", None),
    ]
    assert (report.checked, report.skipped, report.dropped) == (3, 3, 1)
    assert report.reasons == {"undecodable": 1, "not_image": 2}  # model.images names the kind


@pytest.mark.timeout(FIFO_TIMEOUT_S)
def test_loading_an_image_is_bounded_and_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(DatasetFileError, match="not a regular file"):
        load_image(tmp_path / "fifo.png", 32)
    with pytest.raises(DatasetFileError, match="over the"):
        load_image(sparse(tmp_path / "giant.png", 21 * 1024**2), 32)
    _, report = vet_images(Dataset(("a",), None, [Example("1", "t", tmp_path / "fifo.png", (1.0,))]), size=32)
    assert report.reasons == {"unreadable": 1}

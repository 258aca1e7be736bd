"""Readers on small files written here: the MMHS150K layout, both CSV shapes, JSONL feedback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from model.labels import DEFAULT_LABELS
from trainer.readers import DatasetFileError, detect_format, read_dataset


def _mmhs(root: Path) -> Path:
    gt = {
        "101": {
            "tweet_text": "first one https://t.co/abc",
            "labels": [0, 0, 1],
            "labels_str": [],
            "img_url": "",
        },
        "102": {
            "tweet_text": "second &amp; &lt;3 &amp;lt;",
            "labels": [2, 2, 2],
            "labels_str": [],
            "img_url": "",
        },
        "103": {"tweet_text": "third", "labels": [5, 3, 1], "labels_str": [], "img_url": ""},
        "104": {"tweet_text": "bad votes", "labels": [9], "labels_str": [], "img_url": ""},
    }
    root.mkdir()
    (root / "MMHS150K_GT.json").write_text(json.dumps(gt))
    (root / "splits").mkdir()
    (root / "splits" / "train_ids.txt").write_text("101\n102\n")
    (root / "splits" / "test_ids.txt").write_text("103\n")
    (root / "img_resized").mkdir()
    for tid in ("101", "103"):
        Image.new("RGB", (8, 8), (200, 10, 10)).save(root / "img_resized" / f"{tid}.jpg")
    (root / "img_txt").mkdir()
    (root / "img_txt" / "101.json").write_text(json.dumps({"img_text": "WORDS ON IMAGE"}))
    return root


def test_mmhs150k_layout(tmp_path: Path) -> None:
    root = _mmhs(tmp_path / "mmhs")
    assert detect_format(root) == "mmhs150k"
    ds = read_dataset(root)
    assert ds.labels == DEFAULT_LABELS and ds.benign_label == "NotHate"
    by_key = {e.key: e for e in ds.examples}
    assert set(by_key) == {"101", "102", "103"}  # 104's votes are not class ids
    first = by_key["101"]
    assert first.text == "first one WORDS ON IMAGE"  # t.co link dropped, OCR appended
    assert first.targets == pytest.approx((2 / 3, 1 / 3, 0, 0, 0, 0))
    assert first.image_path == root / "img_resized" / "101.jpg" and first.split == "train"
    assert by_key["102"].image_path is None and by_key["102"].targets[2] == 1.0
    assert by_key["102"].text == "second & <3 &lt;"  # HTML entities unescaped once, as Twitter escaped them
    assert by_key["103"].split == "test"
    assert by_key["103"].targets == pytest.approx((0, 1 / 3, 0, 1 / 3, 0, 1 / 3))


def test_csv_with_vote_counts_like_davidson(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text(
        "id,count,hate_speech,offensive_language,neither,class,tweet\n"
        '0,3,0,0,3,2,"a calm tweet, with a comma"\n'
        "3,3,0,2,1,1,rude words\n"
        "9,6,4,2,0,0,hateful words\n"
    )
    ds = read_dataset(path)
    assert ds.labels == ("hate_speech", "offensive_language", "neither")
    assert ds.benign_label == "neither"
    assert [e.key for e in ds.examples] == ["0", "3", "9"]
    assert ds.examples[0].text == "a calm tweet, with a comma"
    assert ds.examples[1].targets == pytest.approx((0, 2 / 3, 1 / 3))
    assert ds.examples[2].targets == pytest.approx((4 / 6, 2 / 6, 0))


def test_csv_with_label_names(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"not read here")
    path = tmp_path / "names.csv"
    path.write_text("text,labels,image\nhello,,\nnasty,Racist|Sexist,img.png\nmeh,Sexist,\n")
    ds = read_dataset(path, "csv")
    assert ds.labels == ("NotHate", "Racist", "Sexist") and ds.benign_label == "NotHate"
    assert [e.targets for e in ds.examples] == [(1.0, 0.0, 0.0), (0.0, 1.0, 1.0), (0.0, 0.0, 1.0)]
    assert [e.key for e in ds.examples] == ["row0", "row1", "row2"]
    assert ds.examples[1].image_path == (tmp_path / "img.png").resolve()


def test_csv_without_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,author\nhello,bob\n")
    with pytest.raises(ValueError, match="labels"):
        read_dataset(path)


def _fb(post_id: str, labels: list[str], at: str, text: str = "t") -> str:
    return json.dumps({"post_id": post_id, "labels": labels, "text": text, "decided_at": at})


def test_jsonl_latest_decision_wins(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    lines = [
        _fb("a", ["Racist"], "2026-11-30T10:00:00Z"),
        _fb("b", [], "2026-11-30T10:00:00Z", text="fine"),
        _fb("a", ["NotHate"], "2026-11-30T12:00:00Z", text="changed"),
        _fb("c", ["Sexist"], "2026-11-30T12:00:00Z"),
        _fb("c", ["Homophobe"], "2026-11-30T11:00:00Z"),  # older, arrives later: loses
        "not json",
        json.dumps({"post_id": "d", "labels": ["Racist"]}),  # no content: invalid
    ]
    path.write_text("\n".join(lines) + "\n")
    ds = read_dataset(path)
    assert ds.labels == DEFAULT_LABELS
    by_key = {e.key: e for e in ds.examples}
    assert set(by_key) == {"a", "b", "c"}
    assert by_key["a"].targets == (1.0, 0, 0, 0, 0, 0) and by_key["a"].text == "changed"
    assert by_key["b"].targets == (1.0, 0, 0, 0, 0, 0)
    assert by_key["c"].targets == (0, 0, 1.0, 0, 0, 0)


def test_jsonl_new_label_names_extend_the_set(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(_fb("a", ["Spam"], "2026-11-30T10:00:00Z") + "\n")
    ds = read_dataset(path)
    assert ds.labels == (*DEFAULT_LABELS, "Spam")


def test_unknown_format_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="--format"):
        read_dataset(tmp_path / "x.txt")
    with pytest.raises(DatasetFileError, match="no data"):  # one error type for every unreadable input
        read_dataset(tmp_path / "missing.csv")

"""`modstream train --once` / `evaluate` on a CSV whose images include undecodable and refused ones:
the run goes on, and says how many images it set aside."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from model.synthetic import make_synthetic
from modstream.cli import main

N_POSTS = 120
NOT_IMAGE, TRUNCATED = 3, 10


@pytest.fixture
def csv_with_bad_images(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(make_synthetic(1, seed=9)[0][1])
    os.mkfifo(data / "img" / "fifo.png")
    path = data / "posts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "labels", "image"])
        for i, (text, png, names) in enumerate(make_synthetic(N_POSTS, seed=5)):
            broken = {NOT_IMAGE: b"<html>oops</html>", TRUNCATED: png[: len(png) // 2]}
            (data / "img" / f"{i}.png").write_bytes(broken.get(i, png))
            image = {20: "../../outside.png", 21: "img/fifo.png"}.get(i, f"img/{i}.png")
            writer.writerow(
                [f"p{i}", "" if i == TRUNCATED else text, "|".join(n for n in names if n != "NotHate"), image]
            )
    return path


@pytest.mark.timeout(300)
def test_undecodable_images_are_skipped_and_counted(
    csv_with_bad_images: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = tmp_path / "registry"
    monkeypatch.setenv("MODSTREAM_MODEL__REGISTRY", str(registry))
    monkeypatch.setenv("MODSTREAM_TRAINER__DATA_DIR", str(tmp_path / "trainer"))
    monkeypatch.setenv("MODSTREAM_DEVICE", "cpu")
    report_path = tmp_path / "train.json"
    args = [
        "--once",
        "--data",
        str(csv_with_bad_images),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--no-progress",
    ]
    assert main(["train", *args, "--out", str(report_path)]) == 0
    out = capsys.readouterr().out
    # post 3 keeps its text; post 10 (image only) is left out; 20 and 21 were refused by the reader
    assert "images skipped as undecodable: 2 of 118" in out, out
    assert "(1 examples without text left out)" in out
    images = json.loads(report_path.read_text())["images"]
    assert images == {"checked": 118, "skipped": 2, "dropped": 1, "reasons": {"not_image": 1, "truncated": 1}}

    code = main(
        [
            "evaluate",
            "--model",
            str(registry),
            "--data",
            str(csv_with_bad_images),
            "--out",
            str(tmp_path / "e.json"),
        ]
    )
    assert code == 0
    assert "images skipped as undecodable: 2 of 118" in capsys.readouterr().out
    assert json.loads((tmp_path / "e.json").read_text())["summary"]["n_examples"] == N_POSTS - 1

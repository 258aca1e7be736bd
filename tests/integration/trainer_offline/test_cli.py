"""`modstream train --once` and `modstream evaluate` end to end on a small CSV, through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from model.registry import ModelRegistry
from model.synthetic import make_synthetic
from modstream.cli import main


@pytest.fixture
def labelled_csv(tmp_path: Path) -> Path:
    path = tmp_path / "posts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "labels"])
        for i, (text, _png, names) in enumerate(make_synthetic(240, seed=3)):
            writer.writerow([f"p{i}", text, "|".join(n for n in names if n != "NotHate")])
    return path


def test_train_once_then_evaluate(
    labelled_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "registry"
    monkeypatch.setenv("MODSTREAM_MODEL__REGISTRY", str(registry))
    monkeypatch.setenv("MODSTREAM_TRAINER__DATA_DIR", str(tmp_path / "trainer"))
    monkeypatch.setenv("MODSTREAM_DEVICE", "cpu")
    report_path = tmp_path / "train.json"
    args = ["--once", "--data", str(labelled_csv), "--preset", "tiny", "--epochs", "3", "--no-progress"]
    code = main(["train", *args, "--out", str(report_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "promoted v" in out and "macro avg" in out and "training CPU time" in out
    version = ModelRegistry(registry).current()
    assert version is not None
    train_report = json.loads(report_path.read_text())
    assert set(train_report["per_label"]) == {
        "NotHate",
        "Racist",
        "Religion",
        "Sexist",
        "Homophobe",
        "OtherHate",
    }

    eval_path = tmp_path / "eval.json"
    args = ["--model", str(registry), "--data", str(labelled_csv), "--split", "test"]
    code = main(["evaluate", *args, "--out", str(eval_path)])
    assert code == 0
    assert version in capsys.readouterr().out
    evaluation = json.loads(eval_path.read_text())
    assert evaluation["model"]["version"] == version
    assert evaluation["summary"]["n_examples"] == train_report["summary"]["n_examples"]
    assert evaluation["summary"]["macro_f1"] == pytest.approx(train_report["summary"]["macro_f1"], abs=0.02)


def test_once_without_data_and_bad_data_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODSTREAM_MODEL__REGISTRY", str(tmp_path / "registry"))
    assert main(["train", "--once"]) == 2
    (tmp_path / "bad.csv").write_text("text,author\nhi,bob\n")
    assert main(["train", "--once", "--data", str(tmp_path / "bad.csv")]) == 2

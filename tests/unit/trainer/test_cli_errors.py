"""`modstream train --once` / `modstream evaluate` on hostile data files, as a user runs them: a
subprocess, exit code 2, exactly one line on stderr, never a traceback, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
RUN_TIMEOUT_S = 120  # a FIFO that blocked the reader would hang here


def _bad_csv(tmp: Path) -> Path:
    path = tmp / "bad.csv"
    path.write_bytes(b'id,text,labels\n1,"' + b"x" * 200_000 + b'",Racist\n')
    return path


def _nested_gt(tmp: Path) -> Path:
    root = tmp / "mmhs"
    root.mkdir()
    (root / "MMHS150K_GT.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    return root


def _gt_list(tmp: Path) -> Path:
    root = tmp / "mmhs"
    root.mkdir()
    (root / "MMHS150K_GT.json").write_text('[{"labels": [0]}]')
    return root


def _not_utf8_csv(tmp: Path) -> Path:
    path = tmp / "latin1.csv"
    path.write_bytes("id,text,labels\n1,caf\xe9,Racist\n".encode("latin-1"))
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "posts.csv"
    os.mkfifo(path)
    return path


def _traversal_only(tmp: Path) -> Path:
    path = tmp / "posts.csv"
    path.write_text("id,text,labels,image\n1,,Racist,../../etc/passwd\n")  # nothing usable is left
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "csv field over the limit": _bad_csv,
    "nested MMHS GT json": _nested_gt,
    "MMHS GT json not an object": _gt_list,
    "CSV not UTF-8": _not_utf8_csv,
    "FIFO as the data file": _fifo,
}


def run_cli(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "MODSTREAM_TRAINER__DATA_DIR": str(tmp / "trainer"),
        "MODSTREAM_MODEL__REGISTRY": str(tmp / "registry"),
        "MODSTREAM_DEVICE": "cpu",
    }
    return subprocess.run(
        [sys.executable, "-m", "modstream.cli", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_once_on_a_hostile_file_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    data = CASES[case](tmp_path)
    line = assert_one_line_exit_2(
        run_cli(["train", "--once", "--data", str(data), "--preset", "tiny"], tmp_path)
    )
    assert line.startswith("cannot train: ")


@pytest.mark.parametrize("case", ["nested MMHS GT json", "FIFO as the data file"])
def test_evaluate_on_a_hostile_file_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    data = CASES[case](tmp_path)
    (tmp_path / "model").mkdir()
    line = assert_one_line_exit_2(
        run_cli(["evaluate", "--model", str(tmp_path / "model"), "--data", str(data)], tmp_path)
    )
    assert line.startswith("cannot evaluate: ")


def test_a_file_with_nothing_usable_left_is_exit_2_after_its_warnings(tmp_path: Path) -> None:
    proc = run_cli(
        ["train", "--once", "--data", str(_traversal_only(tmp_path)), "--preset", "tiny"], tmp_path
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert "outside the dataset root" in proc.stderr  # the refused image path, logged as a warning
    assert lines[-1].startswith("cannot train: need examples in both train and test splits")

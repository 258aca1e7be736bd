"""Checkpoints: a fresh process reproduces the scores; pickles and tampered files are refused."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.checkpoint import WEIGHTS, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from model.predictor import Predictor
from tests.unit.model import imagekit as kit

ROOT = Path(__file__).resolve().parents[3]
POSTS: list[tuple[str | None, bytes | None]] = [
    ("a perfectly ordinary post", kit.jpeg_rgb()),
    ("text only, somewhat longer than the first one to force padding", None),
    (None, kit.png_palette()),
]

# Runs in a fresh interpreter: loads the checkpoint and prints the scores as JSON.
_LOADER = """
import base64, json, sys
from model.predictor import Predictor
posts = [(t, base64.b64decode(b) if b else None) for t, b in json.loads(sys.stdin.read())]
predictor = Predictor.load(sys.argv[1], device="cpu")
out = [p.scores for p in predictor.predict(posts)]
print(json.dumps({"version": predictor.version, "thresholds": predictor.thresholds, "scores": out}))
"""


@pytest.fixture()
def saved(tiny_checkpoint: Checkpoint, tmp_path: Path) -> Path:
    return save_checkpoint(
        tmp_path / "ckpt",
        tiny_checkpoint.model,
        tokenizer_dir_or_textencoder=tiny_checkpoint.text,
        thresholds={"Racist": 0.3},
        version="v-roundtrip",
        metrics={"micro_f1": 0.5},
    )


def test_round_trip_in_a_fresh_process_gives_identical_scores(
    tiny_checkpoint: Checkpoint, saved: Path
) -> None:
    expected = [p.scores for p in Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict(POSTS)]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",  # any network attempt fails loudly
        "HTTP_PROXY": "http://127.0.0.1:9",
        "PYTHONPATH": str(ROOT),
    }
    payload = json.dumps([(t, base64.b64encode(b).decode() if b else None) for t, b in POSTS])
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, str(saved)],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["version"] == "v-roundtrip"
    assert got["thresholds"]["Racist"] == 0.3 and got["thresholds"]["Sexist"] == 0.5
    for want, have in zip(expected, got["scores"], strict=True):
        assert want.keys() == have.keys()
        assert max(abs(want[k] - have[k]) for k in want) <= 1e-6, (want, have)


def test_loaded_checkpoint_carries_its_metadata(saved: Path) -> None:
    ckpt = load_checkpoint(saved)
    assert ckpt.config.labels[0] == "NotHate" and ckpt.config.text_encoder == "tiny"
    assert ckpt.metrics == {"micro_f1": 0.5}
    assert not ckpt.model.training


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "state.pkl", "last.ckpt"])
def test_a_directory_holding_a_pickle_file_is_refused(saved: Path, name: str) -> None:
    (saved / "tokenizer" / name).write_bytes(b"\x80\x04K\x01.")  # pickle of 1; must never be opened
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(saved)


def test_tampered_weights_are_refused(saved: Path) -> None:
    data = bytearray((saved / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF  # inside the tensor data: still a valid safetensors file
    (saved / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights\.safetensors has sha256"):
        load_checkpoint(saved)


def test_tampered_tokenizer_is_refused(saved: Path) -> None:
    with (saved / "tokenizer" / "tokenizer.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(CheckpointError, match=r"tokenizer\.json"):
        load_checkpoint(saved)


@pytest.mark.parametrize(
    "planted",
    [
        "tokenizer/added_tokens.json",  # the tokenizer would load it: new tokens, unchecked
        "extra.safetensors",
        "notes.txt",
        ".hidden",
        "tokenizer/deeper/special_tokens_map.json",
    ],
)
def test_a_file_the_metadata_does_not_list_is_refused(saved: Path, planted: str) -> None:
    target = saved / planted
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('{"[EVIL]": 1}', encoding="utf-8")
    with pytest.raises(CheckpointError, match=f"not listed in metadata.json: \\['{planted}'\\]"):
        load_checkpoint(saved)
    target.unlink()
    assert load_checkpoint(saved).version == "v-roundtrip"  # the same directory, clean again, loads


def test_an_unlisted_symlink_is_refused(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "added_tokens.json").write_text("{}", encoding="utf-8")
    (saved / "tokenizer" / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CheckpointError, match="tokenizer/more"):
        load_checkpoint(saved)


def test_missing_metadata_and_non_directories_are_refused(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")
    (saved / "metadata.json").unlink()
    with pytest.raises(CheckpointError, match=r"metadata\.json"):
        load_checkpoint(saved)


def test_thresholds_default_to_one_half(tiny_checkpoint: Checkpoint, tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "c",
        tiny_checkpoint.model,
        tokenizer_dir_or_textencoder=tiny_checkpoint.text,
        thresholds=None,
        version="v",
        metrics={},
    )
    assert set(load_checkpoint(path).thresholds.values()) == {0.5}


def test_saving_into_a_non_empty_directory_is_refused(tiny_checkpoint: Checkpoint, saved: Path) -> None:
    with pytest.raises(CheckpointError, match="not empty"):
        save_checkpoint(
            saved,
            tiny_checkpoint.model,
            tokenizer_dir_or_textencoder=tiny_checkpoint.text,
            thresholds=None,
            version="v",
            metrics={},
        )


def test_saving_from_a_tokenizer_directory_copies_a_working_tokenizer(
    tiny_checkpoint: Checkpoint, tmp_path: Path
) -> None:
    source = tmp_path / "tok"
    shutil.copytree(
        tiny_checkpoint.config.tokenizer_source, source, ignore=shutil.ignore_patterns("*.safetensors")
    )
    path = save_checkpoint(
        tmp_path / "c",
        tiny_checkpoint.model,
        tokenizer_dir_or_textencoder=source,
        thresholds=None,
        version="v",
        metrics={},
    )
    assert load_checkpoint(path).text.encode("hello world") == [101, 7592, 2088, 102]

"""Real data: Davidson et al. tweets, the real pretrained MiniLM text encoder, figures on held-out tweets.

Opt-in (MODSTREAM_TEST_DAVIDSON=1): the run that meets the figures fine-tunes the last 3 MiniLM
layers on the whole train split for 2 epochs, about 10 CPU-minutes, which does not fit the CI
budget; a stratified 6000-tweet train sample (4.5 min here) fell just short on the hate class
(F1 0.449), so no subset is passed off as the real check. The same run is
`scripts/train_davidson.py`. MODSTREAM_DAVIDSON_SUBSET=N trains on a stratified sample of N tweets
of the train split instead (the held-out test split is always the whole one).

The paper's figures are single-label, so these are the argmax view: weighted F1 over the three
classes, and the hate class's F1, on the trainer's hash split's test part (tweets training never saw).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "davidson" / "train.csv"
ENABLED = os.environ.get("MODSTREAM_TEST_DAVIDSON") == "1"
SUBSET = os.environ.get("MODSTREAM_DAVIDSON_SUBSET")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_davidson", ROOT / "scripts" / "train_davidson.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not ENABLED, reason="opt-in, ~10 CPU-minutes: set MODSTREAM_TEST_DAVIDSON=1")
@pytest.mark.timeout(2400)  # the suite's 600 s default is for everything else
def test_davidson_held_out_figures(tmp_path: Path) -> None:
    if not DATA.is_file():
        pytest.fail(f"the Davidson data is missing: expected {DATA} (../shared/data/davidson/train.csv)")
    script = _script()
    args = argparse.Namespace(
        data=DATA,
        encoders="last",
        text_layers=3,
        epochs=2,
        max_length=64,
        encoder_lr=5e-5,
        max_pos_weight=4.0,
        train_subset=int(SUBSET) if SUBSET else None,
        threads=1,  # the quoted run's setting (results are bitwise reproducible only per thread count)
        work_dir=tmp_path / "work",
        progress=False,
    )
    report = script.train_davidson(args)
    print(script.format_davidson(report))
    single = report["single_label"]
    assert report["split_sizes"]["test"] > 1500  # the whole held-out test split, not a sample
    assert single["weighted_f1"] >= 0.88
    assert single["per_class"]["hate_speech"]["f1"] >= 0.45

"""Pure pieces of the training loop: schedule, pos_weight, batch order, feature store, saved state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainer.batches import epoch_batches
from trainer.dataset import Dataset, Example, split_of, subsample_train
from trainer.features import FeatureStore, fill_store, text_key, tower_identity
from trainer.state import Progress, load_state, save_state
from trainer.training import lr_factor, pos_weight


@pytest.mark.parametrize(
    ("step", "schedule", "expected"),
    [
        (0, "linear", 0.1),
        (9, "linear", 1.0),
        (10, "linear", 1.0),
        (55, "linear", 0.5),
        (100, "linear", 0.0),
        (10, "cosine", 1.0),
        (55, "cosine", 0.5),
        (100, "cosine", 0.0),
    ],
)
def test_warmup_then_decay(step: int, schedule: str, expected: float) -> None:
    assert lr_factor(step, total=100, warmup=10, schedule=schedule) == pytest.approx(expected)


def test_pos_weight_is_negatives_over_positives_clamped() -> None:
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.0, 0.5], [1.0, 1.0, 0.0]])
    w = pos_weight(targets, max_weight=2.5)
    assert w.tolist() == pytest.approx([1.0, 2.5, 2.5])  # 1/3 -> 1 ; 3/1 -> 2.5 ; soft 3/1 -> 2.5
    assert float(pos_weight(torch.tensor([[0.0], [0.0], [1.0]]), 10.0)[0]) == 2.0


def test_epoch_batches_cover_everything_once_and_repeat_per_seed() -> None:
    lengths = [(i * 7) % 50 for i in range(1000)]
    a = epoch_batches(lengths, 32, seed=1, epoch=0)
    assert sorted(i for b in a for i in b) == list(range(1000))
    assert a == epoch_batches(lengths, 32, seed=1, epoch=0)
    assert a != epoch_batches(lengths, 32, seed=1, epoch=1)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in a) / len(a)
    assert spread < 10  # length-bucketed: little padding


def test_feature_store_round_trip_and_partial_fill(tmp_path: Path) -> None:
    tower = nn.Linear(3, 2)
    identity = tower_identity(tower, {"kind": "text"})
    assert identity != tower_identity(nn.Linear(3, 2), {"kind": "text"})  # other weights, other identity
    keys = [text_key(t) for t in ["a", "b", "c", "d", "e"]]
    calls: list[list[int]] = []

    def compute(idx: list[int]) -> torch.Tensor:
        calls.append(idx)
        return torch.tensor([[float(i), float(i) * 2] for i in idx])

    store = FeatureStore(tmp_path, identity)
    assert fill_store(store, keys[:3], compute, batch_size=2, shard_rows=2) == 3
    again = FeatureStore(tmp_path, identity)  # reopened from disk
    assert again.missing(keys) == keys[3:]
    assert fill_store(again, keys, compute, batch_size=2) == 2
    assert again.get([keys[4], keys[0]]).tolist() == [[4.0, 8.0], [0.0, 0.0]]
    assert calls[-1] == [4] or calls[-1] == [3, 4]


def test_saved_state_restores_weights_optimizer_and_rng(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_state(tmp_path, "run1", model, opt, Progress(epoch=2, step=3))
    expected_next = torch.rand(3)

    other = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    other_opt = torch.optim.AdamW(other.parameters(), lr=0.01)
    assert load_state(tmp_path, "run2", other, other_opt) is None  # another run's state is not used
    progress = load_state(tmp_path, "run1", other, other_opt)
    assert progress == Progress(epoch=2, step=3)
    assert torch.equal(torch.rand(3), expected_next)
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], other_opt.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)
    assert not list(tmp_path.glob("**/*.pt")) and not list(tmp_path.glob("**/*.pkl"))


def test_subsample_keeps_holdout_and_class_shares() -> None:
    examples = [Example(str(i), "t", None, (1.0, 0.0) if i % 10 else (0.0, 1.0)) for i in range(2000)]
    ds = Dataset(("a", "b"), "a", examples)
    small = subsample_train(ds, 300, 0.2, 13)
    held = [e for e in ds.examples if split_of(e, 0.2, 13) != "train"]
    kept_train = [e for e in small.examples if split_of(e, 0.2, 13) == "train"]
    assert set(held) <= set(small.examples)
    assert abs(len(kept_train) - 300) <= 2
    share = sum(e.targets[1] for e in kept_train) / len(kept_train)
    assert share == pytest.approx(0.1, abs=0.01)

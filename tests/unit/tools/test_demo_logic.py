"""The demo's plain logic: its data (truth, kinds, wire bytes) and its summary arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from events.schemas import InvalidEvent, LabelScore, Result, decode_feedback, decode_post
from model.synthetic import KEYWORDS, RULES
from modstream.demo.collect import Outcome, percentile, summarize
from modstream.demo.data import BENIGN, BLIND_SPOT, LABELS, DemoPost, DemoWorld


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, 0.0),
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 99, 4),
        (list(range(1, 101)), 99, 99),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_stream_mixes_every_kind_and_follows_the_true_rules() -> None:
    world = DemoWorld(seed=3)
    posts = world.stream(120)
    kinds = [p.kind for p in posts]
    assert len(posts) == 120 and len({p.post_id for p in posts}) == 120
    assert {"both", "text", "image", "broken_image", "invalid"} == set(kinds)
    assert kinds.count("both") > 100
    assert all(p.truth == RULES[p.colour, p.keyword] for p in posts)
    stored = [p for p in posts if p.kind in ("both", "image")]
    assert all(p.image in world.store.images for p in stored)
    assert all(p.image not in world.store.images for p in posts if p.kind == "broken_image")


def test_wire_bytes_are_valid_posts_except_the_invalid_kind() -> None:
    world = DemoWorld(seed=4)
    for post in world.stream(80):
        raw = post.wire("http://127.0.0.1:1")
        if post.kind == "invalid":
            with pytest.raises(InvalidEvent):
                decode_post(raw)
            continue
        decoded = decode_post(raw)
        assert decoded.post_id == post.post_id and decoded.text == post.text
        assert (decoded.image_url is None) == (post.image is None)
        feedback = decode_feedback(post.feedback("http://127.0.0.1:1"))
        assert tuple(feedback.labels) == post.truth


def test_a_repost_has_the_same_content_under_a_new_id() -> None:
    world = DemoWorld(seed=5)
    original = world.post("both")
    repost = world.repost(original)
    assert repost.post_id != original.post_id
    strip = lambda raw: {k: v for k, v in json.loads(raw).items() if k != "post_id"}  # noqa: E731
    assert strip(repost.wire("http://h")) == strip(original.wire("http://h"))


def test_the_history_mislabels_exactly_the_blind_spot(tmp_path: Path) -> None:
    world = DemoWorld(seed=6)
    dataset, mislabelled = world.training_set(tmp_path, 90)
    assert dataset.labels == LABELS and len(dataset.examples) == 90
    benign = tuple(1.0 if name == BENIGN else 0.0 for name in LABELS)

    def colour(path: Path | None) -> str:
        assert path is not None
        r, g, b = np.asarray(Image.open(path).convert("RGB"), dtype=float).mean(axis=(0, 1))
        return "red" if r > max(g, b) else "green" if g > b else "blue"

    for example in dataset.examples:
        keyword = next(w for w in (example.text or "").split() if w in KEYWORDS)
        truth = RULES[colour(example.image_path), keyword]
        in_blind_spot = (colour(example.image_path), keyword) == BLIND_SPOT
        expected = benign if in_blind_spot else tuple(1.0 if n in truth else 0.0 for n in LABELS)
        assert example.targets == expected
    assert mislabelled == sum(
        (colour(e.image_path), "stone" if "stone" in (e.text or "").split() else "") == BLIND_SPOT
        for e in dataset.examples
    )
    assert mislabelled > 0


def _post(post_id: str, truth: tuple[str, ...], kind: str = "both", colour: str = "red") -> DemoPost:
    return DemoPost(post_id, kind, colour, "apple", "t", "x.png", truth)  # type: ignore[arg-type]


def _result(post_id: str, top: str, *, flagged: bool, cached: bool = False, version: str = "v1") -> Result:
    return Result(
        post_id=post_id,
        labels=[LabelScore(label=top, score=0.9)],
        scores={top: 0.9},
        flagged=flagged,
        model_version=version,
        image_status="ok",
        cached=cached,
    )


def test_summarize() -> None:
    posts = [
        _post("a", ("Racist",)),  # right, flagged right
        _post("b", (BENIGN,)),  # wrong top-1, flagged wrong
        _post("c", ("Racist", "OtherHate"), colour=BLIND_SPOT[0]),  # not judged: blind spot needs the keyword
        _post("d", ("Sexist",), kind="invalid"),  # dead letter
        _post("e", ("Sexist",)),  # missing
    ]
    sent = {p.post_id: 100.0 for p in posts}
    outcomes = {
        "a": Outcome("a", _result("a", "Racist", flagged=True), None, 100.1),
        "b": Outcome("b", _result("b", "Sexist", flagged=True, cached=True), None, 100.3),
        "c": Outcome("c", _result("c", "OtherHate", flagged=True, version="v2"), None, 100.2),
        "d": Outcome("d", None, {"stage": "decode"}, 100.4),
    }
    s = summarize(posts, outcomes, sent)
    assert (s.posts, s.results, s.dead_letters, s.missing, s.cache_hits) == (5, 3, 1, 1, 1)
    assert s.seconds == pytest.approx(0.4) and s.throughput == pytest.approx(4 / 0.4)
    assert s.p50_ms == pytest.approx(200) and s.p99_ms == pytest.approx(400)
    assert s.scored_both == 3
    assert s.top1_accuracy == pytest.approx(2 / 3)  # a and c right, b wrong
    assert s.flagged_accuracy == pytest.approx(2 / 3)
    assert s.baseline_top1 == pytest.approx(2 / 3)  # "Racist" is true for a and c
    assert s.blind_spot_top1 is None  # c's keyword is "apple": not the blind spot
    assert s.versions == {"v1": 2, "v2": 1}

"""Routing decisions: image outcome per fetch result, bisection of a failing batch, result building."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from consumer.errors import ImageUnavailable, ModelFailed, Where
from consumer.routing import (
    cacheable,
    decode_outcome,
    from_cache,
    image_outcome,
    make_result,
    non_finite,
    predict_each,
)
from events.schemas import Post, Result, encode

WHERE = Where("posts", 0, 1, "p")
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@dataclass
class Fetch:
    status: str
    data: bytes | None = None
    reason: str | None = None


@pytest.mark.parametrize(
    ("text", "url", "fetch", "expected"),
    [
        ("hi", None, None, ("absent", None)),
        ("hi", "http://x/a.png", Fetch("ok", b"png"), ("ok", b"png")),
        (None, "http://x/a.png", Fetch("ok", b"png"), ("ok", b"png")),
        ("hi", "http://x/a.png", Fetch("failed", reason="http_404"), ("failed", None)),
        ("hi", "http://x/a.png", Fetch("blocked", reason="private_address"), ("blocked", None)),
        ("hi", "http://x/a.png", None, ("failed", None)),
        (
            None,
            "http://x/a.png",
            Fetch("failed", reason="http_404"),
            ImageUnavailable("http_404", "", stage="fetch"),
        ),
        (
            None,
            "http://x/a.png",
            Fetch("blocked", reason="scheme"),
            ImageUnavailable("scheme", "", stage="fetch"),
        ),
        (None, "http://x/a.png", Fetch("ok", None), ImageUnavailable("failed", "", stage="fetch")),
    ],
)
def test_image_outcome(text: str | None, url: str | None, fetch: Fetch | None, expected: object) -> None:
    post = Post(post_id="p", text=text, image_url=url)
    if isinstance(expected, ImageUnavailable):
        with pytest.raises(ImageUnavailable) as info:
            image_outcome(post, fetch, WHERE)
        assert (info.value.stage, info.value.reason, info.value.where) == ("fetch", expected.reason, WHERE)
    else:
        assert image_outcome(post, fetch, WHERE) == expected


def test_decode_outcome() -> None:
    assert decode_outcome(Post(post_id="p", text="hi", image_url="http://x/a"), "bomb", WHERE) == "failed"
    with pytest.raises(ImageUnavailable) as info:
        decode_outcome(Post(post_id="p", image_url="http://x/a"), "bomb", WHERE)
    assert (info.value.stage, info.value.reason) == ("decode", "bomb")


def _model(poison: set[int], calls: list[list[int]]):
    def predict(xs):
        calls.append(list(xs))
        if poison & set(xs):
            raise RuntimeError("boom")
        return [x * 10 for x in xs]

    return predict


@pytest.mark.parametrize(
    ("n", "poison"),
    [(1, set()), (8, set()), (1, {0}), (8, {3}), (8, {0, 7}), (7, {2, 3, 4}), (16, set(range(16))), (5, {4})],
)
def test_predict_each_isolates_culprits(n: int, poison: set[int]) -> None:
    calls: list[list[int]] = []
    outs = predict_each(_model(poison, calls), list(range(n)))
    assert len(outs) == n
    for i, out in enumerate(outs):
        if i in poison:
            assert isinstance(out, ModelFailed) and out.reason == "RuntimeError"
        else:
            assert out == i * 10
    if not poison:
        assert len(calls) == 1  # no split when the batch succeeds


def test_predict_each_wrong_output_count_is_a_failure() -> None:
    outs = predict_each(lambda xs: [1] * (len(xs) + 1), ["a", "b"])
    assert all(isinstance(o, ModelFailed) for o in outs) and len(outs) == 2


def test_predict_each_empty() -> None:
    assert predict_each(lambda xs: [], []) == []


@dataclass
class Pred:
    scores: dict[str, float]
    top: list[tuple[str, float]]
    flagged: bool


def test_make_result_and_cache_round_trip() -> None:
    scores = {"NotHate": 0.1, "Racist": 0.9, "Sexist": 0.5, "Religion": 0.2}
    pred = Pred(scores, [("Sexist", 0.5), ("Racist", 0.9), ("Religion", 0.2)], True)
    result = make_result("p1", pred, model_version="v1", image_status="ok", now=NOW)
    assert [(x.label, x.score) for x in result.labels] == [
        ("Racist", 0.9),
        ("Sexist", 0.5),
        ("Religion", 0.2),
    ]
    assert result.scores == scores and result.flagged and not result.cached
    later = datetime(2026, 12, 1, tzinfo=UTC)
    again = from_cache(Result.model_validate_json(encode(result)), "p2", later)
    assert (again.post_id, again.cached, again.processed_at) == ("p2", True, later)
    assert again.scores == scores and again.model_version == "v1"


@pytest.mark.parametrize(
    ("status", "expected"), [("ok", True), ("absent", True), ("blocked", False), ("failed", False)]
)
def test_cacheable(status: str, expected: bool) -> None:
    result = Result(post_id="p", labels=[], scores={}, flagged=False, model_version="v", image_status=status)
    assert cacheable(result) is expected


@pytest.mark.parametrize(
    ("scores", "bad"),
    [
        ({"NotHate": 0.1, "Racist": 0.9}, None),
        ({"NotHate": float("nan"), "Racist": 0.9}, "NotHate"),
        ({"NotHate": 0.1, "Racist": float("inf")}, "Racist"),
        ({"NotHate": float("-inf"), "Racist": float("nan")}, "NotHate, Racist"),
    ],
)
def test_non_finite_scores_are_a_model_failure(scores: dict[str, float], bad: str | None) -> None:
    failure = non_finite(Pred(scores, list(scores.items())[:3], False))
    if bad is None:
        assert failure is None
        return
    assert failure is not None and (failure.stage, failure.reason) == ("model", "non_finite")
    assert bad in failure.message

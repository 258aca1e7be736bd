"""Posts and results for the console's unit tests."""

from __future__ import annotations

from events.schemas import LabelScore, Post, Result

LABELS = ["NotHate", "Racist", "Sexist", "Homophobe", "Religion", "OtherHate"]


def post(post_id: str, text: str = "some text", image_url: str | None = None) -> Post:
    return Post(post_id=post_id, text=text, image_url=image_url)


def result(post_id: str, *, flagged: bool = False, top: str = "NotHate", version: str = "v1") -> Result:
    scores = {name: 0.1 for name in LABELS} | {top: 0.9}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
    return Result(
        post_id=post_id,
        labels=[LabelScore(label=k, score=v) for k, v in ranked],
        scores=scores,
        flagged=flagged,
        model_version=version,
        image_status="absent",
    )

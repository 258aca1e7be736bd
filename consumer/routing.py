"""What happens to each post: plain decisions, no I/O.

Job                 one post in flight, from the poll loop to its delivery report
image_outcome       fetch result -> (image_status, bytes), or ImageUnavailable for an image-only post
decode_outcome      an image that does not decode -> text-only, or ImageUnavailable
predict_each        run a batch; on failure bisect so that only the culprit fails (one outcome per post)
scored_content      (text, image sha256) that a post's result depends on, and its content_id
non_finite          a prediction with a NaN/inf score -> ModelFailed("non_finite"): never published
make_result         a prediction -> the Result event
from_cache          an authentic cached Result -> this post's Result (cached=true, its own post_id, new time)

>>> outs = predict_each(lambda xs: [x * 2 for x in xs], [1, 2, 3])
>>> outs
[2, 4, 6]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from consumer.errors import ImageUnavailable, ModelFailed, Where
from events.content import content_id
from events.schemas import ImageStatus, LabelScore, Post, Result

In = TypeVar("In")
Out = TypeVar("Out")

# Results worth caching: only those that scored everything the post has. A "failed" or "blocked" image was
# not scored: caching its text-only score would answer the post text-only for the TTL, after the host
# recovers or is allow-listed.
CACHEABLE_STATUSES: frozenset[str] = frozenset({"ok", "absent"})


class FetchOutcome(Protocol):
    status: str  # "ok" | "failed" | "blocked"
    data: bytes | None
    reason: str | None


class PredictionLike(Protocol):
    scores: dict[str, float]
    top: list[tuple[str, float]]
    flagged: bool


@dataclass(eq=False)
class Job:
    """One post in flight. Created by the poll loop; each stage fills in its part."""

    where: Where
    key: bytes | None
    raw: bytes | None
    consumed_at: float  # monotonic
    timestamp_s: float | None = None  # the message's create time (epoch seconds), for end-to-end latency
    post: Post | None = None
    fetch: FetchOutcome | None = None
    image_status: ImageStatus = "absent"
    image_sha256: str | None = None  # sha256 hex of the fetched image bytes (events.content.image_digest)
    prepared: Any = None  # the predictor's PreparedPost
    batched_at: float = 0.0  # monotonic, when it entered the batcher
    extra: dict[str, Any] = field(default_factory=dict)
    replay: tuple[tuple[str, bytes], ...] = ()  # the message's replay-history headers (events.dead_letter)


def image_outcome(post: Post, fetch: FetchOutcome | None, where: Where) -> tuple[ImageStatus, bytes | None]:
    """The image to score with, and the post's image_status. Raises ImageUnavailable for an image-only post
    whose image could not be had (stage "fetch")."""
    if post.image_url is None:
        return "absent", None
    if fetch is not None and fetch.status == "ok" and fetch.data is not None:
        return "ok", fetch.data
    status: ImageStatus = "blocked" if fetch is not None and fetch.status == "blocked" else "failed"
    reason = (fetch.reason if fetch is not None else None) or status
    if post.text is None:
        raise ImageUnavailable(reason, f"image {status}: {reason}", stage="fetch", where=where)
    return status, None


def decode_outcome(post: Post, reason: str, where: Where) -> ImageStatus:
    """The fetched image did not decode: text-only with image_status "failed", or dead letter (stage
    "decode") when the post has no text."""
    if post.text is None:
        raise ImageUnavailable(reason, f"image does not decode: {reason}", stage="decode", where=where)
    return "failed"


def predict_each(
    predict: Callable[[Sequence[In]], Sequence[Out]], inputs: Sequence[In]
) -> list[Out | ModelFailed]:
    """One outcome per input. A failing batch is split in halves until the failing posts are alone: only
    they get a ModelFailed, every other post its prediction. A model that returns the wrong number of
    outputs counts as failing."""
    if not inputs:
        return []
    try:
        outputs = list(predict(inputs))
        if len(outputs) != len(inputs):
            raise RuntimeError(f"model returned {len(outputs)} outputs for {len(inputs)} inputs")
        return list(outputs)
    except Exception as exc:
        if len(inputs) == 1:
            return [ModelFailed(type(exc).__name__, str(exc)[:500])]
        middle = len(inputs) // 2
        return predict_each(predict, inputs[:middle]) + predict_each(predict, inputs[middle:])


def scored_content(job: Job) -> tuple[str | None, str | None]:
    """(text, image sha256) of what the post's result was or will be scored from: the image counts only
    when it was scored (image_status "ok")."""
    text = job.post.text if job.post is not None else None
    return text, job.image_sha256 if job.image_status == "ok" else None


def scored_content_id(job: Job) -> str:
    return content_id(*scored_content(job))


def non_finite(prediction: PredictionLike, where: Where | None = None) -> ModelFailed | None:
    """A ModelFailed for a prediction with a NaN or infinite score (a broken model must never publish "not
    flagged"); None for a usable one."""
    bad = sorted(label for label, score in prediction.scores.items() if not math.isfinite(score))
    if not bad:
        return None
    return ModelFailed(
        "non_finite", f"the model gave non-finite scores for {', '.join(bad)[:200]}", where=where
    )


def make_result(
    post_id: str,
    prediction: PredictionLike,
    *,
    model_version: str,
    image_status: ImageStatus,
    now: datetime,
    content_id: str | None = None,
) -> Result:
    top = sorted(prediction.top, key=lambda pair: pair[1], reverse=True)[:3]
    return Result(
        post_id=post_id,
        labels=[LabelScore(label=label, score=float(score)) for label, score in top],
        scores={label: float(score) for label, score in prediction.scores.items()},
        flagged=bool(prediction.flagged),
        model_version=model_version,
        image_status=image_status,
        cached=False,
        content_id=content_id,
        processed_at=now,
    )


def from_cache(cached: Result, post_id: str, now: datetime) -> Result:
    """This post's result from an authentic cached one (consumer.cache_codec checked it)."""
    return cached.model_copy(update={"post_id": post_id, "cached": True, "processed_at": now})


def cacheable(result: Result) -> bool:
    return result.image_status in CACHEABLE_STATUSES

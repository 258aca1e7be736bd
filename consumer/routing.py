"""What happens to each post: plain decisions, no I/O.

Job                 one post in flight, from the poll loop to its delivery report
image_outcome       fetch result -> (image_status, bytes), or ImageUnavailable for an image-only post
decode_outcome      an image that does not decode -> text-only, or ImageUnavailable
predict_each        run a batch; on failure bisect so that only the culprit fails (one outcome per post)
make_result         a prediction -> the Result event
from_cache          cached Result bytes -> this post's Result (cached=true, its own post_id, new time)

>>> outs = predict_each(lambda xs: [x * 2 for x in xs], [1, 2, 3])
>>> outs
[2, 4, 6]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from consumer.errors import ImageUnavailable, ModelFailed, Where
from events.schemas import ImageStatus, LabelScore, Post, Result

In = TypeVar("In")
Out = TypeVar("Out")

# Results worth caching: a transient fetch failure ("failed") must not pin a text-only score for a week.
CACHEABLE_STATUSES: frozenset[str] = frozenset({"ok", "absent", "blocked"})


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


def make_result(
    post_id: str,
    prediction: PredictionLike,
    *,
    model_version: str,
    image_status: ImageStatus,
    now: datetime,
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
        processed_at=now,
    )


def from_cache(raw: bytes, post_id: str, now: datetime) -> Result | None:
    """This post's result from a cached one; None when the cached bytes are not a Result (a miss)."""
    try:
        cached = Result.model_validate_json(raw)
    except Exception:  # bytes read back from Redis are hostile: whatever fails to validate is a miss
        return None
    return cached.model_copy(update={"post_id": post_id, "cached": True, "processed_at": now})


def cacheable(result: Result) -> bool:
    return result.image_status in CACHEABLE_STATUSES

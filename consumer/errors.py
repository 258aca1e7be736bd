"""The consumer's error tree, and the one table that decides what each error leads to.

    ConsumerError
     ├── PostError                  one post cannot be scored: it goes to the dead-letter topic
     │    ├── InvalidPost           stage "decode":  not UTF-8, not JSON, too deep, wrong schema, oversized
     │    ├── ImageUnavailable      stage "fetch" or "decode": an image-only post without its image
     │    ├── PreprocessFailed      stage "preprocess": the text or image could not be prepared
     │    └── ModelFailed           stage "model": the post that makes the model fail (found by bisection)
     ├── Degraded                   the post is still scored, with less
     │    ├── ImageDegraded         the image failed or was blocked: scored text-only, image_status says why
     │    └── CacheUnavailable      Redis is down: scored without the cache
     └── FatalError                 the service cannot go on (Kafka fatal error, retries exhausted)
    DeliveryFailed (events.errors)  the broker or producer refused a result or dead letter: publish again,
                                    then stop (shared with the trainer, so it lives in the wire contract)

    Raised by others, met at a stage         becomes (`as_error`)                          action
    ───────────────────────────────────────  ────────────────────────────────────────────  ───────────
    InvalidEvent (events.schemas), "decode"  InvalidPost(its reason)                       DEAD_LETTER
    any other Exception, "decode"            InvalidPost("internal")                       DEAD_LETTER
    any Exception, "preprocess"              PreprocessFailed(its type)                    DEAD_LETTER
    any Exception, "model"                   ModelFailed(its type)                         DEAD_LETTER
    any Exception, "fetch"                   ImageDegraded(its type)                       DEGRADE
    any Exception, "cache"                   CacheUnavailable(its type)                    DEGRADE
    any Exception, "publish"                 DeliveryFailed(its text)                      RETRY
    BaseException that is no Exception       not caught (KeyboardInterrupt, SystemExit)    STOP

    >>> action_for(InvalidPost("not_json", "...", where=Where("posts", 0, 42, None)))
    <Action.DEAD_LETTER: 'dead_letter'>
    >>> action_for(as_error(RecursionError(), stage="decode"))
    <Action.DEAD_LETTER: 'dead_letter'>

Every error carries where it happened (`Where`: topic, partition, offset, post_id) and its stage, so a log
line or a dead-letter header can say which post failed where. `ACTIONS` is the only place that maps an
error to what happens next, and `as_error` the only place that turns a foreign exception into an error of
the tree. Catch sites use them in two ways. Where the stage alone fixes the action (decode, preprocess,
model: always DEAD_LETTER), the site calls `post_error` (`as_error` for those stages) and dead-letters the
post without asking; workers.py asserts `action_for` agrees where it re-raises, and routing.py's
bisection makes its ModelFailed directly. Where the action is not fixed by the site (the fetch start, the
cache lookup and write, a failed delivery), the site asks `action_for` and does what it says. An
exception met while handling one post is that post's outcome, never the stage's end.

The Kafka adapters' client-level errors meet no post and stay theirs: a refused offset commit
(kafka_source: tried again at the next interval), an unreadable model-updates topic (kafka_updates:
polled again). A producer's refusal is translated by kafka_sink into a failed delivery report.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from events.errors import DeliveryFailed
from events.schemas import InvalidEvent

__all__ = [
    "ACTIONS",
    "MAX_RETRIES",
    "PER_POST_STAGES",
    "STAGES",
    "Action",
    "CacheUnavailable",
    "ConsumerError",
    "Degraded",
    "DeliveryFailed",
    "FatalError",
    "ImageDegraded",
    "ImageUnavailable",
    "InvalidPost",
    "ModelFailed",
    "PostError",
    "PreprocessFailed",
    "Where",
    "action_for",
    "as_error",
    "post_error",
]


class Action(enum.Enum):
    DEAD_LETTER = "dead_letter"  # publish the original bytes to the DLQ; the post is done
    DEGRADE = "degrade"  # carry on without the failed part (image, cache)
    RETRY = "retry"  # try the same operation again (bounded), then treat as STOP
    STOP = "stop"  # drain what can be drained, commit only finished work, exit non-zero


@dataclass(frozen=True)
class Where:
    """Where a post came from: enough to find it again on the broker."""

    topic: str
    partition: int
    offset: int
    post_id: str | None = None

    def __str__(self) -> str:
        post = f" post_id={self.post_id}" if self.post_id else ""
        return f"{self.topic}[{self.partition}]@{self.offset}{post}"


class ConsumerError(Exception):
    """Base of every error the consumer raises on purpose. `reason` is a short machine-readable code."""

    stage: str = "consumer"

    def __init__(self, reason: str, message: str, *, where: Where | None = None) -> None:
        super().__init__(f"{reason}: {message}" + (f" ({where})" if where else ""))
        self.reason = reason
        self.message = message
        self.where = where


class PostError(ConsumerError):
    """One post cannot be scored."""


class InvalidPost(PostError):
    stage = "decode"


class ImageUnavailable(PostError):
    """An image-only post whose image could not be fetched ("fetch") or decoded ("decode")."""

    def __init__(self, reason: str, message: str, *, stage: str, where: Where | None = None) -> None:
        super().__init__(reason, message, where=where)
        self.stage = stage


class PreprocessFailed(PostError):
    stage = "preprocess"


class ModelFailed(PostError):
    stage = "model"


class Degraded(ConsumerError):
    """The post is still scored, with less."""


class ImageDegraded(Degraded):
    stage = "fetch"


class CacheUnavailable(Degraded):
    stage = "cache"


class FatalError(ConsumerError):
    stage = "consumer"


# The one table: most specific class first wins (looked up along the MRO).
ACTIONS: dict[type[BaseException], Action] = {
    PostError: Action.DEAD_LETTER,
    Degraded: Action.DEGRADE,
    DeliveryFailed: Action.RETRY,
    FatalError: Action.STOP,
}

# How many times a RETRY error is retried before it is treated as STOP.
MAX_RETRIES = 3


def action_for(error: BaseException) -> Action:
    """What to do about `error`. Anything not in the tree is a bug: STOP rather than guess (catch sites
    pass what they caught through `as_error` first)."""
    for klass in type(error).__mro__:
        action = ACTIONS.get(klass)
        if action is not None:
            return action
    return Action.STOP


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:500]


def _decode_error(exc: Exception, where: Where | None) -> PostError:
    if isinstance(exc, InvalidEvent):
        return InvalidPost(exc.reason, exc.detail, where=where)
    return InvalidPost("internal", f"{type(exc).__name__}: {_describe(exc)}", where=where)


# stage -> how an exception met there becomes an error of the tree (the table in the docstring)
_POST_ERRORS: dict[str, Callable[[Exception, Where | None], PostError]] = {
    "decode": _decode_error,
    "preprocess": lambda exc, where: PreprocessFailed(type(exc).__name__, _describe(exc), where=where),
    "model": lambda exc, where: ModelFailed(type(exc).__name__, _describe(exc), where=where),
}
_STAGE_ERRORS: dict[str, Callable[[Exception, Where | None], ConsumerError | DeliveryFailed]] = {
    **_POST_ERRORS,
    "fetch": lambda exc, where: ImageDegraded(type(exc).__name__, _describe(exc), where=where),
    "cache": lambda exc, where: CacheUnavailable(type(exc).__name__, _describe(exc), where=where),
    "publish": lambda exc, where: DeliveryFailed(
        f"{type(exc).__name__}: {_describe(exc)}", reason=type(exc).__name__, where=where
    ),
}
STAGES = tuple(_STAGE_ERRORS)
PER_POST_STAGES = tuple(_POST_ERRORS)


def as_error(exc: Exception, *, stage: str, where: Where | None = None) -> ConsumerError | DeliveryFailed:
    """The error of the tree that `exc`, met while handling one post at `stage`, stands for. An error of
    the tree already is one (its own `where` is kept, or filled in)."""
    if isinstance(exc, ConsumerError | DeliveryFailed):
        if exc.where is None:
            exc.where = where
        return exc
    return _STAGE_ERRORS[stage](exc, where)


def post_error(exc: Exception, *, stage: str, where: Where | None = None) -> PostError:
    """`as_error` for the per-post stages (PER_POST_STAGES), whose rows all say DEAD_LETTER: the PostError
    to dead-letter the post with. An error of another branch raised there (a bug) is still only this
    post's failure: it becomes that stage's PostError too. Never raises for a per-post stage."""
    make = _POST_ERRORS.get(stage)
    if make is None:
        raise ValueError(f"{stage!r} is not a per-post stage")
    error = as_error(exc, stage=stage, where=where)
    return error if isinstance(error, PostError) else make(RuntimeError(str(error)), where)

"""The consumer's error tree, and the one table that decides what each error leads to.

    ConsumerError
     ├── PostError                  one post cannot be scored: it goes to the dead-letter topic
     │    ├── InvalidPost           stage "decode":  not UTF-8, not JSON, wrong schema, oversized
     │    ├── ImageUnavailable      stage "fetch" or "decode": an image-only post without its image
     │    ├── PreprocessFailed      stage "preprocess": the text or image could not be prepared
     │    └── ModelFailed           stage "model": the post that makes the model fail (found by bisection)
     ├── Degraded                   the post is still scored, with less
     │    ├── ImageDegraded         the image failed or was blocked: scored text-only, image_status says why
     │    └── CacheUnavailable      Redis is down: scored without the cache
     ├── DeliveryFailed             the broker refused a result or dead letter: publish again, then stop
     └── FatalError                 the service cannot go on (Kafka fatal error, retries exhausted)

    >>> action_for(InvalidPost("not_json", "...", where=Where("posts", 0, 42, None)))
    <Action.DEAD_LETTER: 'dead_letter'>

Every error carries where it happened (`Where`: topic, partition, offset, post_id) and its stage, so a log
line or a dead-letter header can say which post failed where. `ACTIONS` is the only place that maps an
error to what happens next; code that catches an error asks `action_for` instead of deciding itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


class DeliveryFailed(ConsumerError):
    stage = "publish"


class FatalError(ConsumerError):
    stage = "consumer"


# The one table: most specific class first wins (looked up along the MRO).
ACTIONS: dict[type[ConsumerError], Action] = {
    PostError: Action.DEAD_LETTER,
    Degraded: Action.DEGRADE,
    DeliveryFailed: Action.RETRY,
    FatalError: Action.STOP,
}

# How many times a RETRY error is retried before it is treated as STOP.
MAX_RETRIES = 3


def action_for(error: BaseException) -> Action:
    """What to do about `error`. Anything not in the tree is a bug: STOP rather than guess."""
    for klass in type(error).__mro__:
        action = ACTIONS.get(klass)
        if action is not None:
            return action
    return Action.STOP

"""The error table: every error of the tree maps to the action the design says."""

from __future__ import annotations

import pytest

from consumer.errors import (
    Action,
    CacheUnavailable,
    DeliveryFailed,
    FatalError,
    ImageDegraded,
    ImageUnavailable,
    InvalidPost,
    ModelFailed,
    PreprocessFailed,
    Where,
    action_for,
)

WHERE = Where("posts", 2, 17, "p1")


@pytest.mark.parametrize(
    ("error", "action", "stage"),
    [
        (InvalidPost("not_json", "x", where=WHERE), Action.DEAD_LETTER, "decode"),
        (ImageUnavailable("http_404", "x", stage="fetch", where=WHERE), Action.DEAD_LETTER, "fetch"),
        (ImageUnavailable("bomb", "x", stage="decode", where=WHERE), Action.DEAD_LETTER, "decode"),
        (PreprocessFailed("tokenizer", "x"), Action.DEAD_LETTER, "preprocess"),
        (ModelFailed("RuntimeError", "x"), Action.DEAD_LETTER, "model"),
        (ImageDegraded("blocked", "x"), Action.DEGRADE, "fetch"),
        (CacheUnavailable("redis", "x"), Action.DEGRADE, "cache"),
        (DeliveryFailed("msg_timed_out", "x"), Action.RETRY, "publish"),
        (FatalError("kafka", "x"), Action.STOP, "consumer"),
        (RuntimeError("a bug"), Action.STOP, None),
    ],
)
def test_action_table(error: BaseException, action: Action, stage: str | None) -> None:
    assert action_for(error) is action
    if stage is not None:
        assert error.stage == stage  # type: ignore[attr-defined]


def test_error_carries_context() -> None:
    error = InvalidPost("schema", "post_id missing", where=WHERE)
    assert "posts[2]@17" in str(error) and "p1" in str(error)
    assert (error.reason, error.where) == ("schema", WHERE)

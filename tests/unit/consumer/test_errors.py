"""The error table: every error of the tree maps to the action the design says, every foreign exception a
stage can meet becomes the error its row says, and the shared DeliveryFailed is one class."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.errors import (
    PER_POST_STAGES,
    STAGES,
    Action,
    CacheUnavailable,
    DeliveryFailed,
    FatalError,
    ImageDegraded,
    ImageUnavailable,
    InvalidPost,
    ModelFailed,
    PostError,
    PreprocessFailed,
    Where,
    action_for,
    as_error,
    post_error,
)
from events.schemas import InvalidEvent

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
        (DeliveryFailed("x", reason="msg_timed_out"), Action.RETRY, "publish"),
        (FatalError("kafka", "x"), Action.STOP, "consumer"),
        (RuntimeError("a bug"), Action.STOP, None),
        (KeyboardInterrupt(), Action.STOP, None),
    ],
)
def test_action_table(error: BaseException, action: Action, stage: str | None) -> None:
    assert action_for(error) is action
    if stage is not None:
        assert error.stage == stage  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raised", "stage", "becomes", "reason", "action"),
    [
        (InvalidEvent("too_deep", "x"), "decode", InvalidPost, "too_deep", Action.DEAD_LETTER),
        (RecursionError("deep"), "decode", InvalidPost, "internal", Action.DEAD_LETTER),
        (OverflowError("date"), "decode", InvalidPost, "internal", Action.DEAD_LETTER),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"), "decode", InvalidPost, "internal",
         Action.DEAD_LETTER),
        (ValueError("tokenizer"), "preprocess", PreprocessFailed, "ValueError", Action.DEAD_LETTER),
        (MemoryError(), "preprocess", PreprocessFailed, "MemoryError", Action.DEAD_LETTER),
        (RuntimeError("cuda"), "model", ModelFailed, "RuntimeError", Action.DEAD_LETTER),
        (TimeoutError(), "fetch", ImageDegraded, "TimeoutError", Action.DEGRADE),
        (ConnectionError(), "cache", CacheUnavailable, "ConnectionError", Action.DEGRADE),
        (KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)), "publish", DeliveryFailed,
         "KafkaException", Action.RETRY),
        (BufferError("queue full"), "publish", DeliveryFailed, "BufferError", Action.RETRY),
    ],
)  # fmt: skip
def test_foreign_exceptions_become_their_rows_error(
    raised: Exception, stage: str, becomes: type[BaseException], reason: str, action: Action
) -> None:
    error = as_error(raised, stage=stage, where=WHERE)
    assert type(error) is becomes
    assert (error.reason, error.where) == (reason, WHERE)
    assert action_for(error) is action


def test_an_error_of_the_tree_keeps_its_class_and_gains_a_where() -> None:
    unavailable = ImageUnavailable("http_404", "x", stage="fetch")
    assert as_error(unavailable, stage="preprocess", where=WHERE) is unavailable
    assert unavailable.where == WHERE


@pytest.mark.parametrize("stage", PER_POST_STAGES)
@pytest.mark.parametrize(
    "raised", [RuntimeError("bug"), CacheUnavailable("redis", "x"), DeliveryFailed("x"), KeyError("k")]
)
def test_per_post_stages_always_dead_letter_the_post(stage: str, raised: Exception) -> None:
    error = post_error(raised, stage=stage, where=WHERE)
    assert isinstance(error, PostError) and action_for(error) is Action.DEAD_LETTER
    assert error.where == WHERE


def test_every_stage_has_a_row_and_unknown_stages_are_refused() -> None:
    assert set(PER_POST_STAGES) <= set(STAGES)
    assert {"decode", "preprocess", "model", "fetch", "cache", "publish"} == set(STAGES)
    with pytest.raises(ValueError):
        post_error(RuntimeError(), stage="fetch")


def test_delivery_failed_is_one_class_shared_with_the_trainer() -> None:
    import events.errors
    import feedback.kafka_io

    assert DeliveryFailed is events.errors.DeliveryFailed is feedback.kafka_io.DeliveryFailed
    assert "MSG_TIMED_OUT" in str(DeliveryFailed("MSG_TIMED_OUT: 30 s", where=WHERE))


def test_error_carries_context() -> None:
    error = InvalidPost("schema", "post_id missing", where=WHERE)
    assert "posts[2]@17" in str(error) and "p1" in str(error)
    assert (error.reason, error.where) == ("schema", WHERE)

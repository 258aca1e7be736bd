"""Event schemas on the wire (JSON, UTF-8). DESIGN.md "Wire contract" is the source of truth.

    >>> post = decode_post(b'{"post_id": "1", "text": "hello"}')
    >>> post.post_id, post.image_url
    ('1', None)

Decoding is strict about types (a number is not a post_id) and lenient about unknown fields, which are
ignored so producers can add fields without breaking consumers.

Every byte is hostile. `_decode` checks, in this order, and refuses with `InvalidEvent(reason, detail)`:

    empty / oversized       no value, or more than MAX_MESSAGE_BYTES (the producer's own default limit,
                            events/kafka.py: a post larger than that could not have been produced)
    not_utf8 / not_json     the bytes are not UTF-8 text, not JSON
    too_deep, duplicate_key, not_finite, big_int, bad_unicode
                            the bounded parser (events/strict_json.py); depth at most MAX_JSON_DEPTH,
                            measured before the recursive parser runs
    not_object / schema     not a JSON object, or not the event's schema
    internal                anything else that went wrong (a bug): still one record's failure, not a crash

Timestamps (created_at, decided_at) must lie in [MIN_TIMESTAMP, MAX_TIMESTAMP) once converted to UTC; a
timestamp without a zone is taken as UTC. So `9999-12-31T23:59:59-05:00` (which overflows when
converted) is an invalid event here, not an OverflowError in whoever converts it later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from events.strict_json import JsonRefused, loads_strict

MAX_POST_ID_CHARS = 256
MAX_TEXT_CHARS = 20_000
MAX_URL_CHARS = 2_048
MAX_MESSAGE_BYTES = 1_000_000
MAX_JSON_DEPTH = 32  # a post is flat; metadata may nest a little
MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(2100, 1, 1, tzinfo=UTC)

ImageStatus = Literal["ok", "absent", "failed", "blocked"]


class InvalidEvent(ValueError):
    """A message that does not decode to its schema. `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def utc_now() -> datetime:
    return datetime.now(UTC)


def _no_control_chars(value: str, what: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL byte")
    return value


def _bounded_utc(value: datetime) -> datetime:
    """A timestamp within [MIN_TIMESTAMP, MAX_TIMESTAMP) after conversion to UTC; naive = UTC."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"timestamp {value!s} cannot be converted to UTC") from exc
    if not MIN_TIMESTAMP <= utc < MAX_TIMESTAMP:
        raise ValueError(f"timestamp {utc.isoformat()} outside [{MIN_TIMESTAMP.year}, {MAX_TIMESTAMP.year})")
    return utc


Timestamp = Annotated[datetime, AfterValidator(_bounded_utc)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Post(_Event):
    """A post to moderate (topic `posts`, key = post_id)."""

    post_id: StrictStr = Field(min_length=1, max_length=MAX_POST_ID_CHARS)
    text: StrictStr | None = Field(None, max_length=MAX_TEXT_CHARS)
    image_url: StrictStr | None = Field(None, max_length=MAX_URL_CHARS)
    created_at: Timestamp | None = None
    author_id: StrictStr | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("post_id", "text", "image_url")
    @classmethod
    def _reject_nul(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_chars(value, "field")

    @field_validator("text", "image_url")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None

    @model_validator(mode="after")
    def _has_content(self) -> Post:
        if self.text is None and self.image_url is None:
            raise ValueError("a post needs text or image_url")
        return self


def _probability(value: float) -> float:
    # a NaN or out-of-range score is a broken model, never a verdict: no Result can carry one
    if not 0.0 <= value <= 1.0:  # False for NaN too
        raise ValueError(f"score {value!r} is not a probability in [0, 1]")
    return value


Probability = Annotated[float, AfterValidator(_probability)]


class LabelScore(_Event):
    label: str
    score: Probability


class Result(_Event):
    """One result per post (topic `moderation-results`, key = post_id)."""

    post_id: str
    labels: list[LabelScore] = Field(description="the top 3 labels by score, descending")
    scores: dict[str, Probability] = Field(description="every label of the model")
    flagged: bool
    model_version: str
    image_status: ImageStatus
    cached: bool = False
    content_id: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description="sha256 hex of what was scored: the text and the sha256 of the image bytes "
        "(events/content.py); equal for reposts of the same content",
    )
    processed_at: datetime = Field(default_factory=utc_now)


class Feedback(_Event):
    """A moderator's decision (topic `moderation-feedback`, key = post_id). Empty labels = benign."""

    post_id: StrictStr = Field(min_length=1, max_length=MAX_POST_ID_CHARS)
    labels: list[StrictStr] = Field(default_factory=list)
    text: StrictStr | None = Field(None, max_length=MAX_TEXT_CHARS)
    image_url: StrictStr | None = Field(None, max_length=MAX_URL_CHARS)
    moderator_id: StrictStr | None = None
    decided_at: Timestamp = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _has_content(self) -> Feedback:
        if not (self.text and self.text.strip()) and not self.image_url:
            raise ValueError("feedback needs the post's text or image_url")
        return self


class ModelUpdate(_Event):
    """A newly promoted model version (topic `model-updates`)."""

    model_version: str = Field(min_length=1)
    path: str
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: Timestamp = Field(default_factory=utc_now)


E = TypeVar("E", bound=_Event)


def _decode(raw: bytes | None, schema: type[E]) -> E:
    """The event in `raw`, or InvalidEvent: any failure while decoding or validating becomes one."""
    try:
        return _decode_checked(raw, schema)
    except InvalidEvent:
        raise
    except Exception as exc:  # a case the checks above missed: still this record's failure only
        raise InvalidEvent("internal", f"{type(exc).__name__}: {exc}"[:500]) from exc


def _decode_checked(raw: bytes | None, schema: type[E]) -> E:
    if raw is None:
        raise InvalidEvent("empty", "message has no value")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidEvent("oversized", f"{len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("not_utf8", str(exc)) from exc
    try:
        data = loads_strict(text, max_depth=MAX_JSON_DEPTH)
    except JsonRefused as exc:
        raise InvalidEvent(exc.reason, exc.detail) from exc
    if not isinstance(data, dict):
        raise InvalidEvent("not_object", f"top-level JSON is {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise InvalidEvent("schema", str(exc).replace("\n", " ")[:500]) from exc


def decode_post(raw: bytes | None) -> Post:
    return _decode(raw, Post)


def decode_feedback(raw: bytes | None) -> Feedback:
    return _decode(raw, Feedback)


def decode_model_update(raw: bytes | None) -> ModelUpdate:
    return _decode(raw, ModelUpdate)


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode("utf-8")


EVENT_SCHEMAS: dict[str, type[_Event]] = {
    "post": Post,
    "result": Result,
    "feedback": Feedback,
    "model_update": ModelUpdate,
}

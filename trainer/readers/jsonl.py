"""JSONL of feedback events (one `events.schemas.Feedback` per line): the moderators' decisions.

Repeated decisions for one post_id: the latest `decided_at` wins (a tie goes to the later line).
Empty labels, or ["NotHate"], mean benign. The label set is the default six when every name is one
of them (so models trained on feedback keep one label set across retrains); otherwise the default
six plus the new names, sorted.

The file is hostile: it is read with a byte cap and never blocks (trainer.readers.files), and a line
that is not a usable event (invalid, nested too deep, a date past what UTC can hold) is skipped and
counted, never the end of the read.

    >>> ds = read_jsonl(Path("feedback.jsonl"))
    >>> ds.labels
    ('NotHate', 'Racist', 'Sexist', 'Homophobe', 'Religion', 'OtherHate')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from events.schemas import Feedback, InvalidEvent, decode_feedback
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS, multi_hot
from trainer.dataset import Dataset, Example
from trainer.readers.files import MAX_TABLE_BYTES, one_line, read_capped

log = logging.getLogger(__name__)

ImageResolver = Callable[[Feedback], Path | None]
_WARN_LIMIT = 20  # bad lines logged in full; the rest only counted


def latest_by_post(events: Iterable[Feedback]) -> list[Feedback]:
    """One decision per post_id: the latest decided_at, ties to the later event; first-seen order."""
    latest: dict[str, Feedback] = {}
    for event in events:
        held = latest.get(event.post_id)
        if held is None or _utc(event.decided_at) >= _utc(held.decided_at):
            latest[event.post_id] = event
    return list(latest.values())


def _utc(moment: datetime) -> datetime:
    """A naive time is UTC (as in the store): comparing naive with aware datetimes raises TypeError."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def label_set(events: Sequence[Feedback]) -> tuple[str, ...]:
    extra = sorted({name for e in events for name in e.labels} - set(DEFAULT_LABELS))
    return DEFAULT_LABELS + tuple(extra)


def feedback_dataset(
    events: Iterable[Feedback],
    *,
    labels: Sequence[str] | None = None,
    image_for: ImageResolver | None = None,
) -> Dataset:
    """A Dataset from feedback events (latest wins). `image_for` maps an event to its stored image file."""
    decided = latest_by_post(events)
    names = tuple(labels) if labels is not None else label_set(decided)
    benign = DEFAULT_BENIGN if DEFAULT_BENIGN in names else None
    examples: list[Example] = []
    for event in decided:
        image = image_for(event) if image_for is not None else None
        text = event.text.strip() if event.text and event.text.strip() else None
        if text is None and image is None:
            continue  # an image-only decision whose image we do not hold
        examples.append(
            Example(
                key=event.post_id,
                text=text,
                image_path=image,
                targets=tuple(multi_hot(event.labels, names, benign)),
            )
        )
    return Dataset(labels=names, benign_label=benign, examples=examples)


def read_feedback_events(path: Path) -> list[Feedback]:
    """Every valid event of the file (read with a byte cap, never blocking); a bad line is skipped
    and counted, whatever it holds (invalid UTF-8, 100 KB of "[", a date past the year 9999)."""
    data = read_capped(Path(path), MAX_TABLE_BYTES)
    events: list[Feedback] = []
    invalid = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = decode_feedback(line.strip())
            problem = _unusable_time(event)
        except InvalidEvent as exc:
            problem = str(exc)
        except Exception as exc:  # e.g. RecursionError from deep nesting: that line, not the file
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            invalid += 1
            if invalid <= _WARN_LIMIT:
                log.warning("%s line %d skipped: %s", path, number, one_line(problem))
            continue
        events.append(event)
    if invalid:
        log.warning("%s: %d invalid lines skipped", path, invalid)
    return events


def _unusable_time(event: Feedback) -> str | None:
    """Dates are compared across events (latest wins); one that overflows UTC cannot be."""
    try:
        event.decided_at.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        return f"decided_at {event.decided_at.isoformat()} out of range: {exc}"
    return None


def read_jsonl(path: Path, *, image_for: ImageResolver | None = None) -> Dataset:
    events = read_feedback_events(path)
    dataset = feedback_dataset(events, image_for=image_for)
    log.info("JSONL %s: %d events, %d posts", path, len(events), len(dataset.examples))
    return dataset

"""JSONL of feedback events (one `events.schemas.Feedback` per line): the moderators' decisions.

Repeated decisions for one post_id: the latest `decided_at` wins (a tie goes to the later line).
Empty labels, or ["NotHate"], mean benign. The label set is the default six when every name is one
of them (so models trained on feedback keep one label set across retrains); otherwise the default
six plus the new names, sorted.

    >>> ds = read_jsonl(Path("feedback.jsonl"))
    >>> ds.labels
    ('NotHate', 'Racist', 'Sexist', 'Homophobe', 'Religion', 'OtherHate')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from events.schemas import Feedback, InvalidEvent, decode_feedback
from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS, multi_hot
from trainer.dataset import Dataset, Example

log = logging.getLogger(__name__)

ImageResolver = Callable[[Feedback], Path | None]


def latest_by_post(events: Iterable[Feedback]) -> list[Feedback]:
    """One decision per post_id: the latest decided_at, ties to the later event; first-seen order."""
    latest: dict[str, Feedback] = {}
    for event in events:
        held = latest.get(event.post_id)
        if held is None or event.decided_at >= held.decided_at:
            latest[event.post_id] = event
    return list(latest.values())


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
    events: list[Feedback] = []
    invalid = 0
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                events.append(decode_feedback(line.strip()))
            except InvalidEvent as exc:
                invalid += 1
                log.warning("%s line %d skipped: %s", path, number, exc)
    if invalid:
        log.warning("%s: %d invalid lines skipped", path, invalid)
    return events


def read_jsonl(path: Path, *, image_for: ImageResolver | None = None) -> Dataset:
    events = read_feedback_events(path)
    dataset = feedback_dataset(events, image_for=image_for)
    log.info("JSONL %s: %d events, %d posts", path, len(events), len(dataset.examples))
    return dataset

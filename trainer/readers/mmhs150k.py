"""The MMHS150K layout: tweets with three annotator votes each, images, optional OCR text.

    root/
      MMHS150K_GT.json        {tweet_id: {"tweet_text", "labels": [3 ints 0..5], "labels_str", "img_url"}}
      splits/{train,val,test}_ids.txt   one tweet id per line (optional; else the hash split)
      img_resized/<id>.jpg    the tweet's image (optional per tweet)
      img_txt/<id>.json       {"img_text": "..."}: text read off the image, appended to the tweet text

The three votes become soft targets: the fraction of annotators that chose each class, so
[1, 1, 0] -> Racist 0.667, NotHate 0.333.

Tweet text comes as Twitter's API served it, with `&`, `<` and `>` as HTML entities (`&amp;`, `&lt;3`);
it is unescaped once, so the model trains on the text a user saw (and a post on the wire carries).

The files are hostile (see trainer.readers.files): a tweet id must be a plain id before a file name is
built from it, and an image or OCR file must be a regular file under the root (a symlink out of it, a
FIFO, an oversized file is ignored with a warning). A bad tweet is skipped and counted; a GT file that
is not a JSON object of objects is a DatasetFileError.
"""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from trainer.dataset import SPLITS, Dataset, Example, Split
from trainer.readers.files import (
    MAX_LIST_BYTES,
    MAX_SIDE_BYTES,
    MAX_TABLE_BYTES,
    DatasetFileError,
    checked_id,
    dataset_root,
    inside,
    is_regular,
    read_text,
    regular_size,
)

log = logging.getLogger(__name__)

GT_FILE = "MMHS150K_GT.json"
# Tweets end with a t.co link to themselves; it carries no signal and would leak tweet identity.
_TCO = re.compile(r"https?://t\.co/\S+")
MAX_IMAGE_FILE_BYTES = 20 * 1024**2
_WARN_LIMIT = 20  # per-tweet warnings logged in full; the rest only counted


def read_split_ids(root: Path) -> dict[str, Split]:
    out: dict[str, Split] = {}
    for split in SPLITS:
        path = root / "splits" / f"{split}_ids.txt"
        if not path.exists():
            continue
        for line in read_text(inside(root, path), MAX_LIST_BYTES).splitlines():
            if line.strip():
                out[line.strip()] = split
    return out


def _optional_file(root: Path, path: Path, max_bytes: int) -> Path | None:
    """`path` if it is a regular file under `root` within `max_bytes`; None if absent; else a warning."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        safe = inside(root, path)
        if regular_size(safe) > max_bytes:
            raise DatasetFileError(f"{path} is over the {max_bytes}-byte limit")
    except DatasetFileError as exc:
        log.warning("%s; ignored", exc)
        return None
    return safe if is_regular(safe) else None


def _ocr_text(root: Path, tweet_id: str) -> str | None:
    path = _optional_file(root, root / "img_txt" / f"{tweet_id}.json", MAX_SIDE_BYTES)
    if path is None:
        return None
    try:
        data = json.loads(read_text(path, MAX_SIDE_BYTES))
        text = data.get("img_text") if isinstance(data, dict) else None
    except (DatasetFileError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        log.warning("unreadable OCR file %s (%s); ignored", path, type(exc).__name__)
        return None
    return text.strip() if isinstance(text, str) and text.strip() else None


def vote_fractions(votes: list[int], n_labels: int) -> tuple[float, ...]:
    if not votes:
        raise ValueError("no annotator votes")
    counts = [0] * n_labels
    for vote in votes:
        if not isinstance(vote, int) or isinstance(vote, bool) or not 0 <= vote < n_labels:
            raise ValueError(f"vote {vote!r} is not a class id 0..{n_labels - 1}")
        counts[vote] += 1
    return tuple(c / len(votes) for c in counts)


def _load_gt(root: Path) -> dict[str, object]:
    path = inside(root, root / GT_FILE)
    try:
        gt = json.loads(read_text(path, MAX_TABLE_BYTES))
    except RecursionError as exc:
        raise DatasetFileError(f"{path}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise DatasetFileError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(gt, dict):
        raise DatasetFileError(f"{path}: expected a JSON object of tweets, got {type(gt).__name__}")
    return gt


def _example(root: Path, tweet_id: str, entry: object, splits: dict[str, Split]) -> Example | None:
    """One tweet, or None when it has neither text nor image; ValueError when it is malformed."""
    checked_id(tweet_id)
    if not isinstance(entry, dict):
        raise ValueError(f"entry is {type(entry).__name__}, not an object")
    votes = entry.get("labels")
    if not isinstance(votes, list):
        raise ValueError("labels is not a list of votes")
    targets = vote_fractions(votes, len(DEFAULT_LABELS))
    tweet_text = entry.get("tweet_text")
    text = _TCO.sub("", html.unescape(tweet_text) if isinstance(tweet_text, str) else "").strip()
    ocr = _ocr_text(root, tweet_id)
    if ocr:
        text = f"{text} {ocr}".strip()
    image_path = _optional_file(root, root / "img_resized" / f"{tweet_id}.jpg", MAX_IMAGE_FILE_BYTES)
    if not text and image_path is None:
        return None
    return Example(
        key=tweet_id,
        text=text or None,
        image_path=image_path,
        targets=targets,
        split=splits.get(tweet_id) if splits else None,
    )


def read_mmhs150k(root: Path) -> Dataset:
    root = dataset_root(root)
    gt = _load_gt(root)
    splits = read_split_ids(root)
    examples: list[Example] = []
    skipped = malformed = 0
    for tweet_id, entry in gt.items():
        try:
            example = _example(root, tweet_id, entry, splits)
        except (ValueError, TypeError) as exc:  # DatasetFileError (a bad id) is a ValueError
            malformed += 1
            if malformed <= _WARN_LIMIT:
                log.warning("tweet %.40r skipped: %s", tweet_id, exc)
            continue
        if example is None:
            skipped += 1
            continue
        examples.append(example)
    log.info(
        "MMHS150K %s: %d tweets, %d malformed and %d empty skipped, split files: %s",
        root,
        len(examples),
        malformed,
        skipped,
        bool(splits),
    )
    return Dataset(labels=DEFAULT_LABELS, benign_label=DEFAULT_BENIGN, examples=examples)

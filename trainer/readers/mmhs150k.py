"""The MMHS150K layout: tweets with three annotator votes each, images, optional OCR text.

    root/
      MMHS150K_GT.json        {tweet_id: {"tweet_text", "labels": [3 ints 0..5], "labels_str", "img_url"}}
      splits/{train,val,test}_ids.txt   one tweet id per line (optional; else the hash split)
      img_resized/<id>.jpg    the tweet's image (optional per tweet)
      img_txt/<id>.json       {"img_text": "..."}: text read off the image, appended to the tweet text

The three votes become soft targets: the fraction of annotators that chose each class, so
[1, 1, 0] -> Racist 0.667, NotHate 0.333.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS
from trainer.dataset import SPLITS, Dataset, Example, Split

log = logging.getLogger(__name__)

GT_FILE = "MMHS150K_GT.json"
# Tweets end with a t.co link to themselves; it carries no signal and would leak tweet identity.
_TCO = re.compile(r"https?://t\.co/\S+")


def read_split_ids(root: Path) -> dict[str, Split]:
    out: dict[str, Split] = {}
    for split in SPLITS:
        path = root / "splits" / f"{split}_ids.txt"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out[line.strip()] = split
    return out


def _ocr_text(root: Path, tweet_id: str) -> str | None:
    path = root / "img_txt" / f"{tweet_id}.json"
    if not path.is_file():
        return None
    try:
        text = json.loads(path.read_text(encoding="utf-8")).get("img_text")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        log.warning("unreadable OCR file %s; ignored", path)
        return None
    return text.strip() if isinstance(text, str) and text.strip() else None


def vote_fractions(votes: list[int], n_labels: int) -> tuple[float, ...]:
    if not votes:
        raise ValueError("no annotator votes")
    counts = [0] * n_labels
    for vote in votes:
        if not isinstance(vote, int) or not 0 <= vote < n_labels:
            raise ValueError(f"vote {vote!r} is not a class id 0..{n_labels - 1}")
        counts[vote] += 1
    return tuple(c / len(votes) for c in counts)


def read_mmhs150k(root: Path) -> Dataset:
    root = Path(root)
    gt = json.loads((root / GT_FILE).read_text(encoding="utf-8"))
    splits = read_split_ids(root)
    examples: list[Example] = []
    skipped = 0
    for tweet_id, entry in gt.items():
        try:
            targets = vote_fractions(list(entry["labels"]), len(DEFAULT_LABELS))
        except (KeyError, TypeError, ValueError) as exc:
            skipped += 1
            log.warning("tweet %s skipped: %s", tweet_id, exc)
            continue
        text = _TCO.sub("", str(entry.get("tweet_text") or "")).strip()
        ocr = _ocr_text(root, tweet_id)
        if ocr:
            text = f"{text} {ocr}".strip()
        image = root / "img_resized" / f"{tweet_id}.jpg"
        image_path = image if image.is_file() else None
        if not text and image_path is None:
            skipped += 1
            continue
        examples.append(
            Example(
                key=str(tweet_id),
                text=text or None,
                image_path=image_path,
                targets=targets,
                split=splits.get(str(tweet_id)) if splits else None,
            )
        )
    log.info(
        "MMHS150K %s: %d tweets, %d skipped, split files: %s", root, len(examples), skipped, bool(splits)
    )
    return Dataset(labels=DEFAULT_LABELS, benign_label=DEFAULT_BENIGN, examples=examples)

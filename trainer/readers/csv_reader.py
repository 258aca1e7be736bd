"""CSV data: a text column and either label names or one annotator vote-count column per label.

Two shapes, told apart by the header:

    id,text,labels                       labels = names joined by "|"; empty = benign
    7,"you people are ...",Racist|OtherHate

    id,count,hate_speech,offensive_language,neither,class,tweet      (the Davidson file, as it comes)
    3,3,0,2,1,1,"..."                    vote counts -> soft targets 0, 0.667, 0.333

In the vote shape every integer column other than `id`, `count` and `class` is a label, in file order;
the benign label is the column named like "neither" / "NotHate" / "benign" / "none" / "normal".
Optional columns: `id` (else the row number is the key), `image` / `image_path` (relative to the file).

The file is hostile (see trainer.readers.files): read with a byte cap, never blocking; an image path
must name a regular file under the CSV's directory (an absolute path, "..", a symlink out, a FIFO is
ignored for that row with a warning and counted); a malformed file (bad quoting, a field over the csv
module's limit, NUL bytes, invalid UTF-8, a non-integer vote) is a one-line DatasetFileError.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from model.labels import DEFAULT_BENIGN
from trainer.dataset import Dataset, Example
from trainer.readers.files import (
    MAX_IMAGE_BYTES,
    MAX_TABLE_BYTES,
    DatasetFileError,
    dataset_root,
    inside,
    read_text,
    regular_size,
)

log = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "tweet")
NOT_LABEL_COLUMNS = {"id", "count", "class"}
BENIGN_NAMES = {"neither", "nothate", "benign", "none", "normal"}
IMAGE_COLUMNS = ("image_path", "image")


def find_benign(labels: Sequence[str]) -> str | None:
    return next((name for name in labels if name.lower() in BENIGN_NAMES), None)


_INT = re.compile(r"-?[0-9]{1,18}")  # ASCII only: "²".isdigit() is True, int("²") raises


def _is_int(value: str) -> bool:
    return _INT.fullmatch(value.strip()) is not None


def _vote_columns(header: Sequence[str], rows: list[dict[str, str]], text_col: str) -> list[str]:
    skip = NOT_LABEL_COLUMNS | {text_col, *IMAGE_COLUMNS}
    return [
        name
        for name in header
        if name.lower() not in skip and rows and all(_is_int(row.get(name) or "") for row in rows)
    ]


@dataclass
class _Images:
    """Resolves the image column against the CSV's directory; refused paths are counted, not fatal."""

    root: Path
    refused: int = 0

    def path(self, row: dict[str, str]) -> Path | None:
        for name in IMAGE_COLUMNS:
            value = row.get(name)
            if not value:
                continue
            try:
                if Path(value).is_absolute():
                    raise DatasetFileError(f"image path {value[:200]} is absolute")
                path = inside(self.root, value)
                if regular_size(path) > MAX_IMAGE_BYTES:
                    raise DatasetFileError(f"{path} is over the {MAX_IMAGE_BYTES}-byte limit")
            except DatasetFileError as exc:
                self.refused += 1
                if self.refused <= _WARN_LIMIT:
                    log.warning("CSV image ignored: %s", exc)
                return None
            return path
        return None


_WARN_LIMIT = 20


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = read_text(path, MAX_TABLE_BYTES)
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    except csv.Error as exc:
        raise DatasetFileError(f"{path}: malformed CSV: {exc}") from exc
    if len(set(header)) != len(header):
        raise DatasetFileError(f"{path}: duplicate column names in the header")
    # a row longer than the header puts its extra fields in a list under the key None: drop them
    return header, [
        {k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)} for row in rows
    ]


def read_csv(path: Path) -> Dataset:
    path = Path(path)
    header, rows = _rows(path)
    text_col = next((c for c in header if c.lower() in TEXT_COLUMNS), None)
    if text_col is None:
        raise DatasetFileError(f"{path}: no text column (one of {TEXT_COLUMNS}) in header {header}")
    id_col = next((c for c in header if c.lower() == "id"), None)
    labels_col = next((c for c in header if c.lower() == "labels"), None)
    if labels_col is not None:
        return _read_label_names(path, rows, text_col, id_col, labels_col)
    votes = _vote_columns(header, rows, text_col)
    if not votes:
        raise DatasetFileError(
            f"{path}: neither a `labels` column nor integer vote-count columns in {header}"
        )
    return _read_votes(path, rows, text_col, id_col, votes)


def _key(row: dict[str, str], id_col: str | None, index: int) -> str:
    return (row.get(id_col) or "").strip() if id_col and (row.get(id_col) or "").strip() else f"row{index}"


def _read_votes(
    path: Path, rows: list[dict[str, str]], text_col: str, id_col: str | None, labels: list[str]
) -> Dataset:
    examples: list[Example] = []
    skipped = 0
    images = _Images(dataset_root(path.parent))
    for index, row in enumerate(rows):
        counts = [int(row[name]) for name in labels]  # every value checked by _vote_columns
        total = sum(counts)
        text = (row.get(text_col) or "").strip()
        image = images.path(row)
        if total <= 0 or min(counts) < 0 or (not text and image is None):
            skipped += 1
            continue
        examples.append(
            Example(
                key=_key(row, id_col, index),
                text=text or None,
                image_path=image,
                targets=tuple(c / total for c in counts),
            )
        )
    _check_unique(path, examples)
    log.info(
        "CSV %s: %d rows with votes over %s, %d skipped, %d image paths refused",
        path,
        len(examples),
        labels,
        skipped,
        images.refused,
    )
    return Dataset(labels=tuple(labels), benign_label=find_benign(labels), examples=examples)


def _read_label_names(
    path: Path, rows: list[dict[str, str]], text_col: str, id_col: str | None, labels_col: str
) -> Dataset:
    parsed: list[tuple[dict[str, str], list[str]]] = []
    for row in rows:
        names = [n.strip() for n in (row.get(labels_col) or "").split("|") if n.strip()]
        parsed.append((row, names))
    seen = sorted({n for _, names in parsed for n in names})
    benign = find_benign(seen)
    if benign is None and any(not names for _, names in parsed):
        benign = DEFAULT_BENIGN  # rows with no label are benign; name the class
    labels: list[str] = ([benign] if benign else []) + [n for n in seen if n != benign]
    index = {name: i for i, name in enumerate(labels)}
    examples: list[Example] = []
    skipped = 0
    images = _Images(dataset_root(path.parent))
    for i, (row, names) in enumerate(parsed):
        text = (row.get(text_col) or "").strip()
        image = images.path(row)
        if not text and image is None:
            skipped += 1
            continue
        targets = [0.0] * len(labels)
        for name in names or ([benign] if benign else []):  # benign is set whenever a row has no label
            targets[index[name]] = 1.0
        examples.append(
            Example(key=_key(row, id_col, i), text=text or None, image_path=image, targets=tuple(targets))
        )
    _check_unique(path, examples)
    log.info(
        "CSV %s: %d rows labelled with %s, %d skipped, %d image paths refused",
        path,
        len(examples),
        labels,
        skipped,
        images.refused,
    )
    return Dataset(labels=tuple(labels), benign_label=benign, examples=examples)


def _check_unique(path: Path, examples: list[Example]) -> None:
    keys = [e.key for e in examples]
    if len(set(keys)) != len(keys):
        raise DatasetFileError(f"{path}: the id column has duplicate values")

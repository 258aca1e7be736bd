"""Readers of labelled data into a `Dataset`: the MMHS150K layout, CSV files, JSONL feedback events.

>>> ds = read_dataset(Path("../shared/data/davidson/train.csv"))      # format from the extension
>>> ds.labels, ds.benign_label
(('hate_speech', 'offensive_language', 'neither'), 'neither')
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

from trainer.dataset import Dataset
from trainer.readers.csv_reader import read_csv
from trainer.readers.files import DatasetFileError
from trainer.readers.jsonl import read_jsonl
from trainer.readers.mmhs150k import GT_FILE, read_mmhs150k

Format = Literal["mmhs150k", "csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("mmhs150k", "csv", "jsonl")

__all__ = [
    "FORMATS",
    "DatasetFileError",
    "Format",
    "detect_format",
    "read_csv",
    "read_dataset",
    "read_jsonl",
    "read_mmhs150k",
]


def detect_format(path: Path) -> Format:
    """The format a path announces: a directory holding MMHS150K_GT.json, or a .csv / .jsonl file."""
    if path.is_dir():
        if (path / GT_FILE).is_file():
            return "mmhs150k"
        raise DatasetFileError(f"{path} is a directory without {GT_FILE}; pass --format")
    if path.name == GT_FILE:
        return "mmhs150k"
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv"}:
        return "csv"
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    raise DatasetFileError(f"cannot tell the format of {path}; pass --format mmhs150k|csv|jsonl")


def read_dataset(path: Path, fmt: Format | None = None) -> Dataset:
    """The dataset at `path`; any problem with the files is a one-line DatasetFileError (a ValueError).

    The readers check what they can name (ids, paths, sizes, shapes); anything a hostile file still
    provokes in a parser (csv.Error, UnicodeError, RecursionError, AttributeError, ...) is caught here,
    so `modstream train --once` / `modstream evaluate` print one line and exit 2, never a traceback.
    """
    path = Path(path)
    try:
        return _read(path, fmt)
    except DatasetFileError:
        raise
    except _MALFORMED as exc:
        raise DatasetFileError(f"{path}: {type(exc).__name__}: {exc}") from exc


_MALFORMED = (
    OSError,
    ValueError,  # json.JSONDecodeError, UnicodeDecodeError, pydantic's ValidationError
    csv.Error,
    RecursionError,
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
)


def _read(path: Path, fmt: Format | None) -> Dataset:
    if not path.exists():
        raise DatasetFileError(f"no data at {path}")
    fmt = fmt or detect_format(path)
    if fmt == "mmhs150k":
        return read_mmhs150k(path.parent if path.name == GT_FILE else path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    raise DatasetFileError(f"unknown format {fmt!r}; known: {FORMATS}")

"""Dataset files are hostile: ids, paths and bytes are checked before anything is read.

    >>> root = dataset_root(Path("/data/MMHS150K"))
    >>> path = inside(root, root / "img_resized" / f"{checked_id(tweet_id)}.jpg")   # or DatasetFileError
    >>> data = read_capped(path, MAX_IMAGE_BYTES)          # a regular file, never more than the cap

The rules, for every file a reader or the training loop opens:

    id         [A-Za-z0-9_-]{1,128}: no separator, no "..", nothing a path can be built from
    path       resolved (symlinks followed) and still under the dataset root: no traversal, no
               absolute path, no symlink out of the root
    kind       os.stat says S_ISREG before opening (no FIFO, device, socket or directory), and the
               descriptor is opened O_NONBLOCK and checked again with fstat, so a file swapped for a
               FIFO in between can never block the reader
    size       the stat size against the cap, AND a read of at most cap + 1 bytes (a file that grows,
               or lies about its size, still costs no more than the cap)
    text       UTF-8, or DatasetFileError

Every problem is a `DatasetFileError` (a ValueError) with a one-line message naming the file; the
CLI turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_TABLE_BYTES = 2 * 1024**3  # a CSV / JSONL / MMHS150K_GT.json: far above any real one, bounds memory
MAX_LIST_BYTES = 64 * 1024**2  # a split file of ids
MAX_SIDE_BYTES = 1024**2  # one OCR json of img_txt/
MAX_IMAGE_BYTES = 20 * 1024**2  # = model.images.DEFAULT_MAX_BYTES (not imported: that pulls in torch)
MAX_MESSAGE_CHARS = 300

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_READ_CHUNK = 1024**2


class DatasetFileError(ValueError):
    """A dataset file (or an id or path inside one) that cannot be read safely; one line."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` on one line (hostile content can carry newlines and escapes), at most `limit` chars."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def checked_id(value: object) -> str:
    """`value` when it is safe to build a file name from, else DatasetFileError."""
    text = str(value)
    if not _ID.fullmatch(text):
        raise DatasetFileError(f"id {text[:40]!r} is not [A-Za-z0-9_-]{{1,128}}")
    return text


def dataset_root(path: Path) -> Path:
    """The dataset's root, resolved once (the root itself may be a symlink, e.g. onto a mount)."""
    return Path(path).resolve()


def inside(root: Path, path: Path | str) -> Path:
    """`path` (relative to `root`, or absolute) resolved; DatasetFileError unless it lies under `root`.

    `root` must be resolved already (`dataset_root`).
    """
    raw = Path(path)
    try:
        resolved = (raw if raw.is_absolute() else root / raw).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, an embedded NUL byte
        raise DatasetFileError(f"{str(path)[:200]!r} cannot be resolved: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise DatasetFileError(f"{str(path)[:200]} is outside the dataset root {root}")
    return resolved


def regular_size(path: Path) -> int:
    """The size of `path`, a regular file (symlinks followed); DatasetFileError for anything else."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise DatasetFileError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise DatasetFileError(f"{path} is not a regular file")
    return info.st_size


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes`; never blocks on a FIFO."""
    size = regular_size(path)
    if size > max_bytes:
        raise DatasetFileError(f"{path} is {size} bytes, over the {max_bytes}-byte limit")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DatasetFileError(f"{path}: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between the stat and the open
            raise DatasetFileError(f"{path} is not a regular file")
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise DatasetFileError(f"{path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if left <= 0:
        raise DatasetFileError(f"{path} grew past the {max_bytes}-byte limit while being read")
    return b"".join(chunks)


def read_text(path: Path, max_bytes: int) -> str:
    """`read_capped` decoded as UTF-8 (a BOM is dropped); DatasetFileError on invalid UTF-8."""
    data = read_capped(path, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetFileError(f"{path} is not UTF-8 (byte {exc.start}: {exc.reason})") from exc

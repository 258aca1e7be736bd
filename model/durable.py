"""Atomic (and, by default, durable) file and directory writes: the one copy of "temp, fsync, rename".

A reader of `path` sees the old content or the new one, never a torn file: the bytes go into a
temp file in the same directory (so the rename cannot cross filesystems), which replaces `path`
with one `os.replace`. With `fsync=True` (the default) the temp file is fsync'd before the rename
and the directory after it, so the new content and its name both survive a power cut; with
`fsync=False` the write is only atomic (caches and indexes that can be rebuilt). A write that
fails leaves `path` as it was and no temp file behind.

    >>> write_text(root / "CURRENT", "v20261130T150000Z-1a2b3c\\n")
    >>> write_bytes(blob_dir / sha, data)
    >>> publish_dir(staging, root / name)       # a finished directory appears in one step
    >>> replace_dir(staging, work / "state")    # ... or replaces an older one

Temp names start with "." and end with ".tmp", so listings that skip hidden files skip them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

OLD_SUFFIX = ".old"  # replace_dir: where the previous directory waits during the swap


def write_bytes(path: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` atomically; durably too unless fsync=False."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:  # "x": never write through a file someone planted there
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(target.parent)


def write_text(path: Path | str, text: str, *, fsync: bool = True, encoding: str = "utf-8") -> None:
    """`write_bytes` for text."""
    write_bytes(path, text.encode(encoding), fsync=fsync)


def publish_dir(staging: Path, final: Path, *, fsync: bool = True) -> None:
    """Rename a finished directory into place. Fails (OSError) rather than merge when `final` exists
    with content. `staging` must be in the same parent directory as `final` (one filesystem)."""
    if fsync:
        fsync_tree(staging)  # every file on disk before the name that exposes them
    os.rename(staging, final)
    if fsync:
        fsync_dir(final.parent)


def replace_dir(staging: Path, final: Path, *, fsync: bool = True) -> None:
    """Replace the directory `final` with `staging`. A directory cannot be os.replace'd onto a non-empty
    one, so the swap takes two renames: `final` -> `final.old`, then `staging` -> `final`. A crash
    between them leaves the previous complete directory at `final` + OLD_SUFFIX for a reader to fall
    back on; it is removed once the swap is done."""
    old = final.with_name(final.name + OLD_SUFFIX)
    shutil.rmtree(old, ignore_errors=True)
    if fsync:
        fsync_tree(staging)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if fsync:
        fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def fsync_tree(directory: Path) -> None:
    """fsync every file under `directory`, then each directory (deepest first) so new names persist."""
    dirs = [directory]
    for path in directory.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            dirs.append(path)
    for path in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(path)


def fsync_dir(directory: Path) -> None:
    """Persist a directory's entries (a rename or a new file in it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""A registry of model versions: one checkpoint directory per version, and a CURRENT pointer.

    root/
      v20261130T150000Z-1a2b3c/    a complete checkpoint (see model.checkpoint)
      v20261130T160000Z-4d5e6f/
      CURRENT                      the name of the version consumers should serve
      .tmp-.../                    a version being written; never listed

    >>> registry = ModelRegistry(Path("./models"))
    >>> version = registry.new_version_name()
    >>> registry.publish(lambda d: save_checkpoint(d, model, ..., version=version), version)
    >>> registry.path(registry.current())

Publishing is atomic for readers: the build writes into a hidden temp directory inside the root
(same filesystem), which is fsync'd and renamed into place in one step only once it is complete;
then CURRENT is replaced atomically and durably (model.durable). A reader sees either the old state
or the new one, never a half-written version. A build that raises leaves nothing behind.

CURRENT is input like any other: `current()` refuses (RegistryError) anything but one version name,
so a pointer such as `../../etc` never leads a reader out of the root.

Promotion is a compare-and-set. Two trainers promoting at once must not let the last writer win, so a
promoter holds `lock()` (an exclusive fcntl.flock on `root/.lock`, waited for up to a deadline), re-reads
CURRENT inside it, re-evaluates against whatever it finds there, and publishes with
`expect_current=` the version it compared with; `publish` refuses (CurrentMoved) when CURRENT is not
that version any more:

    >>> with registry.lock(timeout_s=600):
    ...     serving = registry.current()          # re-evaluate the candidate against `serving` here
    ...     registry.publish(build, version, expect_current=serving)
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from model import durable
from model.checkpoint import METADATA

CURRENT = "CURRENT"
_TMP_PREFIX = ".tmp-"
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # one path component, never "." or ".."
_MAX_CURRENT_BYTES = 256
LOCK_FILE = ".lock"
_LOCK_POLL_S = 0.05
_UNCHECKED = object()  # publish() without a compare-and-set


class RegistryError(Exception):
    """A version that does not exist, a bad name, or a publish that produced no checkpoint."""


class CurrentMoved(RegistryError):
    """CURRENT is not the version a compare-and-set publish was decided against."""


class LockTimeout(RegistryError):
    """The registry lock was not had within its deadline (another promotion holds it)."""


class ModelRegistry:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        """Complete versions, oldest first (names sort by creation time)."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if entry.is_dir() and _VALID_NAME.fullmatch(entry.name) and (entry / METADATA).is_file()
        )

    def current(self) -> str | None:
        """The version CURRENT names, or None when nothing was published (or it names a missing one).

        Raises RegistryError when CURRENT holds anything but a version name (garbage, a path such as
        `../../etc`, more than one line): a reader must never follow it out of the registry."""
        try:
            with (self.root / CURRENT).open("rb") as handle:
                raw = handle.read(_MAX_CURRENT_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(raw) > _MAX_CURRENT_BYTES:
            raise RegistryError(f"{self.root / CURRENT} is longer than any version name")
        try:
            name = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{self.root / CURRENT} is not UTF-8 text: {raw[:32]!r}") from exc
        if not name:
            return None
        _check_name(name)
        return name if (self.root / name / METADATA).is_file() else None

    def path(self, version: str) -> Path:
        _check_name(version)
        return self.root / version

    def new_version_name(self, now: datetime | None = None) -> str:
        """Sortable and unique: "v20261130T150000Z-<6 hex>"."""
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"v{stamp}-{secrets.token_hex(3)}"

    @contextmanager
    def lock(self, timeout_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
        """Hold the registry's exclusive promotion lock; LockTimeout after `timeout_s` of waiting.

        flock belongs to the open file, so two threads of one process exclude each other as two
        processes do; the kernel drops it when the holder dies, so a crashed trainer never wedges it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = clock() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                if clock() >= deadline:
                    raise LockTimeout(f"{self.root / LOCK_FILE} still held after {timeout_s:.0f}s")
                time.sleep(_LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def publish(
        self,
        build: Callable[[Path], object] | Path,
        version: str | None = None,
        *,
        make_current: bool = True,
        expect_current: object = _UNCHECKED,
    ) -> str:
        """Add a version, built by `build(temp_dir)` or copied from an existing checkpoint directory.

        With `expect_current` (a version name, or None for an empty registry) the switch is a
        compare-and-set: CurrentMoved, and nothing added, when CURRENT names another version. Call it
        holding `lock()`, or another promoter may still switch between the check and the write."""
        if expect_current is not _UNCHECKED and self.current() != expect_current:
            raise CurrentMoved(f"CURRENT is {self.current()}, not {expect_current}")
        name = version or self.new_version_name()
        _check_name(name)
        final = self.root / name
        if final.exists():
            raise RegistryError(f"version {name} already exists in {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{_TMP_PREFIX}{name}-{secrets.token_hex(4)}"
        try:
            if isinstance(build, Path):
                shutil.copytree(build, tmp)
            else:
                build(tmp)
            if not (tmp / METADATA).is_file():
                raise RegistryError(f"the build for {name} wrote no {METADATA}")
            durable.publish_dir(tmp, final)  # atomic; fails rather than merging if `final` appeared
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if make_current:
            if expect_current is not _UNCHECKED and self.current() != expect_current:
                shutil.rmtree(final, ignore_errors=True)  # built meanwhile; never served, never listed again
                raise CurrentMoved(f"CURRENT moved to {self.current()} while {name} was written")
            self.set_current(name)
        return name

    def set_current(self, version: str) -> None:
        """Point CURRENT at an existing version (publish, rollback, roll forward)."""
        if version not in self.versions():
            raise RegistryError(f"no complete version {version!r} in {self.root}")
        durable.write_text(self.root / CURRENT, version + "\n")


def _check_name(name: str) -> None:
    if not _VALID_NAME.fullmatch(name):
        raise RegistryError(f"invalid version name {name[:64]!r}")

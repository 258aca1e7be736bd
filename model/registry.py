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
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from model import durable
from model.checkpoint import METADATA

CURRENT = "CURRENT"
_TMP_PREFIX = ".tmp-"
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # one path component, never "." or ".."
_MAX_CURRENT_BYTES = 256


class RegistryError(Exception):
    """A version that does not exist, a bad name, or a publish that produced no checkpoint."""


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

    def publish(
        self, build: Callable[[Path], object] | Path, version: str | None = None, *, make_current: bool = True
    ) -> str:
        """Add a version, built by `build(temp_dir)` or copied from an existing checkpoint directory."""
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

"""The label set in force: the serving checkpoint's labels, or the defaults while no version exists.

    >>> reader = LabelSetReader(registry)
    >>> reader.label_set()
    (('NotHate', 'Racist', 'Sexist', 'Homophobe', 'Religion', 'OtherHate'), 'NotHate')

Feedback naming a label outside this set is dead-lettered, and a training trains on this set. The
registry's CURRENT pointer is re-read on every call (one small file); the checkpoint's config only when
the pointer moved.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS

log = logging.getLogger(__name__)

LabelSet = tuple[tuple[str, ...], str | None]


class Registry(Protocol):
    def current(self) -> str | None: ...
    def path(self, version: str) -> object: ...


class LabelSetReader:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._cached: tuple[str | None, LabelSet] = (None, (DEFAULT_LABELS, DEFAULT_BENIGN))

    def label_set(self) -> LabelSet:
        version = self._registry.current()
        if version is None:
            return DEFAULT_LABELS, DEFAULT_BENIGN
        if version != self._cached[0]:
            self._cached = (version, _read(self._registry.path(version)))
            log.info("label set in force (version %s): %s", version, list(self._cached[1][0]))
        return self._cached[1]


def _read(path: object) -> LabelSet:
    from model.checkpoint import read_verified_metadata  # metadata.json only; no weights loaded

    meta = read_verified_metadata(Path(str(path)))
    return tuple(meta["labels"]), meta.get("benign_label")

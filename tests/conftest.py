"""Markers by folder: tests/unit -> unit, tests/integration -> integration, tests/e2e -> e2e, and
tests/fuzz -> unit and fuzz (property tests of pure logic: no services)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the test suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(_ROOT).parts
        if parts and parts[0] in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, parts[0]))
        elif parts and parts[0] == "fuzz":
            item.add_marker(pytest.mark.unit)
            item.add_marker(pytest.mark.fuzz)

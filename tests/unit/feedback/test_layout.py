"""The layout rule: feedback/ may import trainer/ and model/, never consumer/ or review/; nothing in
trainer/, consumer/ or review/ imports feedback/; ops/ imports none of the services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def imported_packages(package: str) -> dict[str, set[str]]:
    """module path -> top-level packages it imports (lazy imports inside functions included)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tops: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tops |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = tops
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("feedback", {"consumer", "review"}),
        ("trainer", {"feedback", "consumer", "review"}),
        ("consumer", {"feedback", "trainer", "review"}),
        ("review", {"feedback", "trainer", "consumer"}),
        ("ops", {"feedback", "trainer", "consumer", "review"}),
    ],
)
def test_imports_follow_the_layout(package: str, forbidden: set[str]) -> None:
    found = {
        module: tops & forbidden for module, tops in imported_packages(package).items() if tops & forbidden
    }
    assert found == {}


def test_the_feedback_service_uses_the_trainer() -> None:
    assert any("trainer" in tops for tops in imported_packages("feedback").values())

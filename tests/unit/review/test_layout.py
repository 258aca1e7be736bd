"""review/ imports only the fetcher, the wire contract and its own modules (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

REVIEW = Path(__file__).resolve().parents[3] / "review"
FORBIDDEN = {"consumer", "trainer", "model", "modstream", "torch", "transformers"}


def test_review_never_imports_the_services_or_the_model() -> None:
    seen: dict[str, set[str]] = {}
    for path in REVIEW.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            seen.setdefault(path.name, set()).update(name.split(".")[0] for name in names)
    assert seen, "no modules found"
    bad = {module: tops & FORBIDDEN for module, tops in seen.items() if tops & FORBIDDEN}
    assert bad == {}
    assert any("fetcher" in tops for tops in seen.values())

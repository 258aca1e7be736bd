"""The demo is one package, `modstream/demo/`, whose modules import each other without a cycle.

Imports inside `if TYPE_CHECKING:` and inside functions count too: a cycle hidden there still means two
modules that cannot be read (or moved) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import modstream.demo

PACKAGE = Path(modstream.demo.__file__).parent
ROOT = PACKAGE.parents[1]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modstream.demo."):
            out.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.module == "modstream.demo":
            out |= {f"modstream.demo.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("modstream.demo.")}
    return out


def _graph() -> dict[str, set[str]]:
    modules = {f"modstream.demo.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_no_import_cycle_inside_the_demo() -> None:
    graph = _graph()
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for dep in graph[name]:
            assert state.get(dep) != "open", f"import cycle: {' -> '.join([*path, name, dep])}"
            if dep not in state:
                visit(dep, [*path, name])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])
    assert len(graph) >= 8


def test_no_demo_module_is_left_beside_the_package() -> None:
    assert not list((ROOT / "modstream").glob("demo*.py"))

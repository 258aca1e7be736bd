"""Every third-party package the code imports is declared in pyproject.toml, pinned as in the lock.

Issue #11: `tqdm` and `httpcore` were imported directly but arrived only as someone else's dependency;
an upgrade of that someone would have broken the import. Runtime packages must be runtime dependencies;
what only tests/ and scripts/ import may be a dev dependency.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ("events", "fetcher", "model", "consumer", "trainer", "feedback", "ops", "review", "modstream")
DEV = ("tests", "scripts", "deploy")
_NAME = re.compile(r"^([A-Za-z0-9_.-]+)==([^;\s]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(folders: tuple[str, ...]) -> set[str]:
    tops = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops.add(node.module.split(".")[0])
    return tops - set(sys.stdlib_module_names) - set(RUNTIME) - set(DEV)


def _distributions(tops: set[str]) -> set[str]:
    owners = md.packages_distributions()
    missing = {top for top in tops if top not in owners}
    assert not missing, f"imported but not installed: {sorted(missing)}"
    return {_canonical(owners[top][0]) for top in tops}


def _pins(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        match = _NAME.match(spec)
        assert match, f"not pinned with ==: {spec}"
        out[_canonical(match[1])] = match[2]
    return out


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_runtime_imports_are_runtime_dependencies() -> None:
    declared = _pins(_project()["dependencies"])  # type: ignore[arg-type]
    undeclared = _distributions(_imports(RUNTIME)) - set(declared)
    assert not undeclared, f"imported by the services but not in [project.dependencies]: {sorted(undeclared)}"


def test_test_and_script_imports_are_declared() -> None:
    project = _project()
    declared = _pins(project["dependencies"]) | _pins(project["optional-dependencies"]["dev"])  # type: ignore[index,arg-type]
    undeclared = _distributions(_imports(DEV)) - set(declared)
    assert not undeclared, f"imported by tests/scripts but declared nowhere: {sorted(undeclared)}"


def test_every_pin_matches_the_lock() -> None:
    lock = _pins(
        [
            line
            for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line and line[0] not in "#-"
        ]
    )
    project = _project()
    pins = _pins(project["dependencies"]) | _pins(project["optional-dependencies"]["dev"])  # type: ignore[index,arg-type]
    differ = {name: (version, lock.get(name)) for name, version in pins.items() if lock.get(name) != version}
    assert not differ, f"pyproject pin vs requirements.lock: {differ}"

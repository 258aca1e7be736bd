"""Compose's variable interpolation, enough of it to read our compose files as `docker compose` would.

No Docker engine runs on these machines, so the deploy tests resolve `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?message}`, `${VAR?message}` and `$$` themselves, from an explicit mapping
(never the test process's environment), and then read the files as plain data.

    >>> interpolate("${BIND_ADDRESS:-127.0.0.1}:9090:9090", {})
    '127.0.0.1:9090:9090'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
GPU_OVERRIDE = ROOT / "deploy" / "docker-compose.gpu.yml"

# ${NAME}, ${NAME:-d}, ${NAME-d}, ${NAME:?m}, ${NAME?m}; the default or message runs to the closing brace.
_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(LookupError):
    """A `${VAR:?message}` whose variable is unset or empty: Compose refuses the whole file."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            missing = unset_or_empty if op == ":-" else value is None
            return arg if missing else str(value)
        if op in (":?", "?"):
            missing = unset_or_empty if op == ":?" else value is None
            if missing:
                raise MissingVariable(f"{name}: {arg}")
            return str(value)
        return value or ""

    return _REFERENCE.sub(one, text)


def resolve(data: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string in a parsed compose document (keys stay as written, as in Compose)."""
    if isinstance(data, str):
        return interpolate(data, env)
    if isinstance(data, list):
        return [resolve(item, env) for item in data]
    if isinstance(data, dict):
        return {key: resolve(value, env) for key, value in data.items()}
    return data


def load_raw(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


# What an operator must put in `.env` before `docker compose up` starts at all: Grafana's admin password,
# Redis's password and the key that signs cached results (secrets have no default anywhere).
REQUIRED_ENV = {
    "GRAFANA_ADMIN_PASSWORD": "from-the-operators-env",
    "MODSTREAM_REDIS__PASSWORD": "redis-password-from-the-operators-env",
    "MODSTREAM_REDIS__SIGNING_KEY": "signing-key-from-the-operators-env",
}
# The settings among them: `${NAME:?message}` instead of `${NAME:-default}`.
REQUIRED_SETTINGS = frozenset(name for name in REQUIRED_ENV if name.startswith("MODSTREAM_"))


def load_resolved(path: Path, env: Mapping[str, str] = REQUIRED_ENV) -> dict[str, Any]:
    resolved = resolve(load_raw(path), env)
    assert isinstance(resolved, dict)
    return resolved

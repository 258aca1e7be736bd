"""A small JSON Schema (2020-12) validator for exactly the keywords docs/schemas/post and feedback use.

The `jsonschema` package is not a dependency, and these tests must not add one; so this module checks
the subset the generated input schemas use, and refuses any keyword it does not know (a schema that
grows a keyword fails loudly here instead of being half-checked):

    >>> errors({"type": "object", "required": ["post_id"]}, {})
    ['$: missing required post_id']

`format` is an annotation in 2020-12 (validators do not assert it by default), so it is accepted and
ignored, as a conforming validator would; `pattern` is an unanchored search, as in ECMA-262. The
patterns gen_docs.py writes use only character classes and `^...$`, which mean the same in Python's re.
"""

from __future__ import annotations

import re
from typing import Any

# Keywords that only describe: no effect on validity.
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "format", "examples"})
_CHECKED = frozenset(
    {
        "type",
        "properties",
        "required",
        "anyOf",
        "items",
        "additionalProperties",
        "minLength",
        "maxLength",
        "pattern",
    }
)

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


class UnknownKeyword(AssertionError):
    """The schema uses a keyword this subset does not implement."""


def errors(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Every way `value` fails `schema` (empty when it validates)."""
    unknown = set(schema) - _ANNOTATIONS - _CHECKED
    if unknown:
        raise UnknownKeyword(f"{where}: keywords outside the subset: {sorted(unknown)}")
    out: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[kind](value) for kind in kinds):
            return [f"{where}: not {schema['type']}"]
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: does not match {schema['pattern']!r}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{where}: missing required {name}")
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value:
                out += errors(sub, value[name], f"{where}.{name}")
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            for name in set(value) - set(properties):
                out += (
                    [f"{where}.{name}: not allowed"]
                    if extra is False
                    else errors(extra, value[name], f"{where}.{name}")
                )
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += errors(schema["items"], item, f"{where}[{i}]")
    if "anyOf" in schema:
        branches = [errors(sub, value, where) for sub in schema["anyOf"]]
        if all(branches):
            out.append(f"{where}: matches no anyOf branch ({'; '.join(b[0] for b in branches)})")
    return out


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    return not errors(schema, value)

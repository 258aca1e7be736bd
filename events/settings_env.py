"""Load the settings for a command, failing in one line that names the variable at fault.

    >>> settings = load_settings()        # InvalidSetting: "invalid setting MODSTREAM_METRICS__PORT=..."

Two checks that pydantic-settings does not make on its own:

- A `MODSTREAM_<SECTION>__<FIELD>` variable that names no setting is refused (a misspelt
  `MODSTREAM_KAFKA__BOOTSTRAP_SERVER` would otherwise be ignored, and the service would quietly talk to
  localhost), with the closest valid name. Names without `__` are left alone unless they are a near miss
  of a top-level name (MODSTREAM_DEVIC): other tools share the prefix without `__`
  (MODSTREAM_TEST_ONLY_KILL_STAGE, MODSTREAM_TEST_REDIS_URL, MODSTREAM_BENCH_REDIS).
- A value that fails validation is reported as the variable's name and what it must be, not as a
  pydantic traceback. Values of secret-looking fields are never echoed.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator, Mapping

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from events.exits import InvalidSetting
from events.settings import Settings

PREFIX = "MODSTREAM_"
_SECRET_PARTS = ("password", "secret", "signing_key", "users", "token")


def _names(model: type[BaseModel], stem: str) -> Iterator[tuple[str, bool]]:
    """(variable name, takes sub-keys) for every field, sections expanded."""
    for name, field in model.model_fields.items():
        var = f"{stem}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield var, False  # the whole section as JSON
            yield from _names(annotation, var + "__")
        else:
            origin = getattr(annotation, "__origin__", None)
            yield var, origin is dict


def known_variables() -> dict[str, bool]:
    return dict(_names(Settings, PREFIX))


def unknown_variable(environ: Mapping[str, str]) -> str | None:
    """The one-line complaint about the first misspelt MODSTREAM_* variable, or None."""
    known = known_variables()
    mapping_prefixes = tuple(name + "__" for name, takes_keys in known.items() if takes_keys)
    for raw in sorted(environ):
        name = raw.upper()
        if not name.startswith(PREFIX) or name in known or name.startswith(mapping_prefixes):
            continue
        if "__" in name:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.8)
        else:  # only a near miss of a top-level name (MODSTREAM_DEVIC) is a misspelt setting
            top = [known_name for known_name in known if "__" not in known_name]
            close = difflib.get_close_matches(name, top, n=1, cutoff=0.85)
            if not close:
                continue  # another tool's variable (MODSTREAM_TEST_ONLY_KILL_STAGE, MODSTREAM_BENCH_REDIS)
        hint = f"; did you mean {close[0]}?" if close else "; see docs/configuration.md"
        return f"unknown setting {raw}{hint}"
    return None


def _variable(loc: tuple[int | str, ...]) -> str:
    return PREFIX + "__".join(str(part).upper() for part in loc)


def describe_validation_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    variable = _variable(loc) if loc else "MODSTREAM_*"
    secret = any(part in str(p).lower() for p in loc for part in _SECRET_PARTS)
    given = "" if secret or first.get("type") == "missing" else f"={str(first.get('input'))[:80]!r}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid setting {variable}{given}: {first['msg']}{more}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment and .env, or InvalidSetting with one line naming the variable."""
    environ = os.environ if environ is None else environ
    complaint = unknown_variable(environ)
    if complaint is not None:
        raise InvalidSetting(complaint)
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSetting(describe_validation_error(exc)) from exc
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        raise InvalidSetting(describe_settings_error(exc, environ)) from exc


def describe_settings_error(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """pydantic-settings names only the section ("fetch"); find the variable of it that is not JSON."""
    match = re.search(r'field "(\w+)"', str(exc))
    stem = PREFIX + (match.group(1).upper() if match else "")
    for raw in sorted(environ):
        if not raw.upper().startswith(stem):
            continue
        try:
            json.loads(environ[raw])
        except ValueError:
            secret = any(part in raw.lower() for part in _SECRET_PARTS)
            given = "" if secret else f"={environ[raw][:80]!r}"
            return f"invalid setting {raw}{given}: must be JSON (a list or an object)"
    return f"invalid setting: {exc}"

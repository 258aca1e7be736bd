"""How a `modstream` command ends when something goes wrong: one line on stderr, one exit code.

    >>> with Outcome(command="produce", verbose=False, json_lines=False) as outcome:
    ...     outcome.code = run(args)
    >>> sys.exit(outcome.code)

`classify` turns an exception into (exit code, line): the operator errors of events/exits.py speak for
themselves; a file that cannot be read is a usage error that names the path; anything else is an internal
error (exit 1) named by its type and message. `--verbose` adds the traceback. In JSON mode the line is a
JSON object like every other log line (level, logger, msg, exit_code; `exc` holds the traceback when
verbose), so stderr stays machine-readable.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

from events.exits import ExitCode, OperatorError


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    if isinstance(exc, OperatorError):
        return exc.code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    if isinstance(exc, IsADirectoryError):
        return ExitCode.USAGE, f"cannot read {exc.filename}: it is a directory"
    if isinstance(exc, (FileNotFoundError, PermissionError, NotADirectoryError)):
        return ExitCode.USAGE, f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):
        return ExitCode.USAGE, f"input is not UTF-8: {exc.reason} at byte {exc.start}"
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return ExitCode.FAILED, f"internal error: {type(exc).__name__}: {first} (--verbose shows the traceback)"


def json_mode_requested() -> bool:
    """MODSTREAM_LOG__JSON_FORMAT read on its own: it must hold even when other settings are invalid."""
    value = os.environ.get("MODSTREAM_LOG__JSON_FORMAT", "").strip().lower()
    return value in {"1", "true", "yes", "on"}


def report(
    command: str, exc: BaseException, *, verbose: bool, json_lines: bool, stream: TextIO | None = None
) -> ExitCode:
    code, line = classify(exc)
    out = stream if stream is not None else sys.stderr
    trace = "".join(traceback.format_exception(exc)) if verbose else None
    if json_lines:
        entry: dict[str, object] = {
            "ts": datetime.now(UTC).isoformat(),
            "level": "ERROR",
            "logger": "modstream",
            "msg": f"{command}: {line}",
            "exit_code": int(code),
        }
        if trace is not None:
            entry["exc"] = trace
        print(json.dumps(entry), file=out, flush=True)
    else:
        if trace is not None:
            print(trace, end="", file=out, flush=True)
        print(f"modstream {command}: {line}", file=out, flush=True)
    return code


class Outcome:
    """A context that turns an escaping exception into its report and exit code (never re-raised)."""

    def __init__(self, *, command: str, verbose: bool, json_lines: bool) -> None:
        self.command = command
        self.verbose = verbose
        self.json_lines = json_lines
        self.code: int = ExitCode.OK

    def __enter__(self) -> Outcome:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or isinstance(exc, SystemExit):
            return False
        self.code = report(self.command, exc, verbose=self.verbose, json_lines=self.json_lines)
        return True

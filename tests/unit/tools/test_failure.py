"""One line per failure, one exit code per kind (modstream/failure.py), and librdkafka's rate limit."""

from __future__ import annotations

import io
import json
import logging

import pytest

from events.exits import BrokerUnreachable, ExitCode, InvalidSetting, ModelMissing
from events.kafka_log import RateLimit
from modstream.failure import classify, report


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # a traceback to format
        return caught


CASES = [
    (BrokerUnreachable("127.0.0.1:1", 5.0), ExitCode.BROKER_UNREACHABLE, "unreachable at 127.0.0.1:1"),
    (InvalidSetting("invalid setting MODSTREAM_X"), ExitCode.USAGE, "invalid setting MODSTREAM_X"),
    (ModelMissing("no model at m"), ExitCode.MODEL_MISSING, "no model at m"),
    (FileNotFoundError(2, "No such file or directory", "a.jsonl"), ExitCode.USAGE, "cannot read a.jsonl"),
    (IsADirectoryError(21, "Is a directory", "d"), ExitCode.USAGE, "cannot read d: it is a directory"),
    (PermissionError(13, "Permission denied", "p"), ExitCode.USAGE, "cannot read p: Permission denied"),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
    (RuntimeError("boom\nsecond line"), ExitCode.FAILED, "internal error: RuntimeError: boom (--verbose"),
]


@pytest.mark.parametrize(("exc", "code", "line"), CASES)
def test_classify(exc: BaseException, code: ExitCode, line: str) -> None:
    got_code, got_line = classify(exc)
    assert got_code == code and line in got_line and "\n" not in got_line


def test_report_is_one_line_plain_or_json() -> None:
    exc = _raised(ModelMissing("no model at m"))
    plain, as_json, verbose = io.StringIO(), io.StringIO(), io.StringIO()
    assert report("evaluate", exc, verbose=False, json_lines=False, stream=plain) == 4
    assert plain.getvalue() == "modstream evaluate: no model at m\n"
    report("evaluate", exc, verbose=True, json_lines=True, stream=as_json)
    (line,) = as_json.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["exit_code"] == 4 and entry["msg"] == "evaluate: no model at m"
    assert "Traceback" in entry["exc"]
    report("evaluate", exc, verbose=True, json_lines=False, stream=verbose)
    assert verbose.getvalue().startswith("Traceback") and verbose.getvalue().endswith("no model at m\n")


def _record(facility: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", level, "", 0, "%s [%s] %s", (facility, "c", "m"), None)


def test_rate_limit_lets_one_per_facility_and_level_through_per_interval() -> None:
    now = [0.0]
    limit = RateLimit(interval_s=10.0, clock=lambda: now[0])
    assert limit.filter(_record("FAIL"))
    assert not limit.filter(_record("FAIL")) and not limit.filter(_record("FAIL"))
    assert limit.filter(_record("FAIL", logging.WARNING))  # another level
    assert limit.filter(_record("REQTMOUT"))  # another facility
    now[0] = 10.0
    later = _record("FAIL")
    assert limit.filter(later) and "(2 similar held back in 10s)" in later.getMessage()

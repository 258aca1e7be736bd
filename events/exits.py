"""Exit codes of every `modstream` command, and the operator-facing errors that choose them.

One table, the same for every command (README, "Exit codes"):

    0    done
    1    the work failed (lines skipped or not delivered, not ready, unhealthy), or an internal error
    2    usage: a bad option, an unreadable input file, an invalid or unknown setting
    3    the Kafka broker did not answer within MODSTREAM_KAFKA__CONNECT_TIMEOUT_S
    4    no model: the model directory or registry holds no usable version
    130  interrupted (SIGINT) before the command could stop on its own terms

    OperatorError            one line an operator can act on; `code` is its exit code
     ├── InvalidInput        2  (a file that cannot be read, a line that cannot be parsed)
     ├── InvalidSetting      2  (names the MODSTREAM_* variable and what it must be)
     ├── BrokerUnreachable   3  (names the bootstrap address and how long it waited)
     └── ModelMissing        4

The top-level handler (modstream/failure.py) prints `str(error)` as the command's one line on stderr.
Anything else that escapes a command is an internal error (1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    BROKER_UNREACHABLE = 3
    MODEL_MISSING = 4
    INTERRUPTED = 130


class OperatorError(Exception):
    """An error whose message is the whole story for an operator (no traceback needed)."""

    code: ExitCode = ExitCode.FAILED


class InvalidInput(OperatorError):
    code = ExitCode.USAGE


class InvalidSetting(OperatorError):
    code = ExitCode.USAGE


class BrokerUnreachable(OperatorError):
    code = ExitCode.BROKER_UNREACHABLE

    def __init__(self, bootstrap: str, waited_s: float, detail: str = "") -> None:
        self.bootstrap = bootstrap
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"Kafka broker unreachable at {bootstrap}: no answer within {waited_s:g}s{suffix}; "
            "check MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"
        )


class ModelMissing(OperatorError):
    code = ExitCode.MODEL_MISSING

"""Every `modstream` command fails in one clear line (issue #11): run as an operator runs it, a subprocess.

Each case asserts the exit code (events/exits.py), exactly one line on stderr, no traceback, and that the
line names the cause. The no-broker cases point at a closed loopback port and must end within 10 s (the
broker probe waits MODSTREAM_KAFKA__CONNECT_TIMEOUT_S, 5 s by default). The elapsed times are printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]
NO_BROKER_LIMIT_S = 10.0
VALID = json.dumps({"post_id": "p1", "text": "hello"})


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODSTREAM_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "MODSTREAM_MODEL__REGISTRY": str(tmp / "registry"),
        "MODSTREAM_TRAINER__DATA_DIR": str(tmp / "trainer"),
        "MODSTREAM_DEVICE": "cpu",
        # the consumer refuses a Redis cache without one (test_consume_without_a_signing_key_...)
        "MODSTREAM_REDIS__SIGNING_KEY": "test-only-signing-key",
    }
    return env | extra


def modstream(
    argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "modstream.cli", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, time.monotonic() - started


@dataclass(frozen=True)
class Case:
    argv: list[str]
    code: int
    needles: tuple[str, ...]  # each must appear in the one stderr line; {port} and {tmp} are filled in
    env: dict[str, str] = field(default_factory=dict)
    no_broker: bool = False  # bootstrap = a closed loopback port; must end within NO_BROKER_LIMIT_S


CASES: dict[str, Case] = {
    "produce a missing file": Case(["produce", "{tmp}/nope.jsonl"], 2, ("cannot read", "nope.jsonl")),
    "produce a directory": Case(["produce", "{tmp}"], 2, ("cannot read", "directory")),
    "an invalid setting": Case(
        ["check"],
        2,
        ("MODSTREAM_METRICS__PORT", "'abc'", "valid integer"),
        {"MODSTREAM_METRICS__PORT": "abc"},
    ),
    "a misspelt setting": Case(
        ["tail"],
        2,
        ("unknown setting MODSTREAM_KAFKA__BOOTSTRAP_SERVER;", "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"),
        {"MODSTREAM_KAFKA__BOOTSTRAP_SERVER": "127.0.0.1:9092"},
    ),
    "a setting that is not JSON": Case(
        ["produce", "-"],
        2,
        ("MODSTREAM_FETCH__ALLOW_HOSTS='not json'", "must be JSON"),
        {"MODSTREAM_FETCH__ALLOW_HOSTS": "not json"},
    ),
    "evaluate a missing model": Case(
        ["evaluate", "--model", "{tmp}/no-model", "--data", "{tmp}/posts.jsonl"], 4, ("no model", "no-model")
    ),
    "dlq a bad --since-offset": Case(["dlq", "show", "--since-offset", "x:y"], 2, ("--since-offset",)),
    "produce, no broker": Case(["produce", "{tmp}/posts.jsonl"], 3, ("127.0.0.1:{port}",), no_broker=True),
    "tail, no broker": Case(["tail", "--idle-exit", "3"], 3, ("127.0.0.1:{port}",), no_broker=True),
    "dlq show, no broker": Case(["dlq", "show"], 3, ("127.0.0.1:{port}",), no_broker=True),
    "consume, no broker": Case(["consume"], 3, ("127.0.0.1:{port}",), no_broker=True),
    "train (service), no broker": Case(["train"], 3, ("127.0.0.1:{port}",), no_broker=True),
    "check, nothing listening": Case(
        ["check"], 1, ("not ready", "127.0.0.1:{port}/readyz"), {"MODSTREAM_METRICS__PORT": "{port}"}, True
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_failure_is_one_line_with_its_exit_code(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    port = free_port()  # bound, then released: nothing listens there

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path)).replace("{port}", str(port))

    (tmp_path / "posts.jsonl").write_text(VALID + "\n", encoding="utf-8")
    env = base_env(tmp_path, MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    env |= {k: fill(v) for k, v in case.env.items()}
    proc, elapsed = modstream([fill(a) for a in case.argv], env, tmp_path)
    print(f"{name}: exit {proc.returncode} in {elapsed:.2f}s: {proc.stderr.strip()}")
    assert proc.returncode == case.code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in case.needles:
        assert fill(needle) in lines[0]
    if case.no_broker:
        assert elapsed < NO_BROKER_LIMIT_S


def test_consume_without_a_signing_key_for_redis_is_one_line_naming_it(tmp_path: Path) -> None:
    env = base_env(tmp_path, MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    del env["MODSTREAM_REDIS__SIGNING_KEY"]
    proc, elapsed = modstream(["consume"], env, tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    [line] = proc.stderr.splitlines()
    assert "MODSTREAM_REDIS__SIGNING_KEY" in line and elapsed < NO_BROKER_LIMIT_S


def test_produce_reports_invalid_lines_before_the_broker_is_asked(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{VALID}\n{{not json\n{json.dumps({'post_id': 'x'})}\n", encoding="utf-8")
    env = base_env(tmp_path, MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    proc, elapsed = modstream(["produce", str(path)], env, tmp_path)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 3 and elapsed < NO_BROKER_LIMIT_S, proc.stderr
    assert lines[0].startswith("skipped line 2: not_json") and lines[1].startswith("skipped line 3: ")
    assert len(lines) == 3 and f"127.0.0.1:{port}" in lines[2] and "Traceback" not in proc.stderr


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    proc, _ = modstream(["--verbose", "produce", str(tmp_path / "nope.jsonl")], base_env(tmp_path), tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and proc.stderr.splitlines()[-1].startswith(
        "modstream produce: cannot read"
    )


def test_version_and_help(tmp_path: Path) -> None:
    version, _ = modstream(["--version"], base_env(tmp_path), tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("modstream 0.")
    helped, _ = modstream(["--help"], base_env(tmp_path), tmp_path)
    assert helped.returncode == 0
    assert "content moderation" in helped.stdout and "exit codes" in helped.stdout


def _all_json(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]  # raises on any line that is not JSON


def test_json_mode_consumer_against_no_broker_writes_only_json(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(
        tmp_path,
        MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
        MODSTREAM_LOG__JSON_FORMAT="true",
        MODSTREAM_LOG__LEVEL="DEBUG",
    )
    proc, _ = modstream(["consume"], env, tmp_path)
    assert proc.returncode == 3
    records = _all_json(proc.stdout) + _all_json(proc.stderr)
    assert len(records) >= 2  # the DEBUG line about the wait, then the failure
    assert records[-1]["exit_code"] == 3 and f"127.0.0.1:{port}" in str(records[-1]["msg"])
    # an internal error, with --verbose, is JSON too: its traceback rides in "exc"
    proc, _ = modstream(["-v", "produce", str(tmp_path)], env, tmp_path)
    (record,) = _all_json(proc.stderr)
    assert proc.returncode == 2 and "Traceback" in str(record["exc"])


LIBRDKAFKA_SCRIPT = """
import time
from confluent_kafka import Producer
from events.kafka import producer_config
from events.logs import configure_logging
from events.settings import Settings
s = Settings()
configure_logging(s.log)
p = Producer(producer_config(s.kafka))
p.produce("t", b"x")
end = time.monotonic() + 3
while time.monotonic() < end:
    p.poll(0.2)
raise RuntimeError("uncaught on purpose")
"""


def test_librdkafka_log_and_uncaught_errors_are_json_and_rate_limited(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        MODSTREAM_LOG__JSON_FORMAT="true",
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIBRDKAFKA_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = _all_json(proc.stderr)
    kafka = [r for r in records if r["logger"] == "librdkafka"]
    print(f"{len(kafka)} librdkafka records in 3 s of a refused connection")
    # librdkafka retries the connection several times a second; one record per 10 s comes through
    assert 1 <= len(kafka) <= 2 and "Connection refused" in str(kafka[0]["msg"])
    assert records[-1]["level"] == "CRITICAL" and "uncaught on purpose" in str(records[-1]["exc"])


def _sigint_after(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> tuple[int, float]:
    deadline = time.monotonic() + 60
    while not ready():
        assert time.monotonic() < deadline and proc.poll() is None, "never got ready"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=30)
    return code, time.monotonic() - started


def test_sigint_ends_consume_waiting_for_a_broker_within_2s(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        MODSTREAM_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        MODSTREAM_KAFKA__CONNECT_TIMEOUT_S="60",
        MODSTREAM_LOG__LEVEL="DEBUG",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "consume"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    code, took = _sigint_after(proc, lambda: "waiting for the Kafka broker" in stderr.readline())
    rest = stderr.read()
    print(f"consume: SIGINT -> exit {code} in {took:.2f}s")
    assert code == 130 and took < 2.0, rest
    assert rest.strip() == "modstream consume: interrupted"

"""`modstream demo --quick` end to end, as a user runs it: a subprocess, its summary lines, its children.

The demo's machine-readable lines (`DEMO <what> key=value ...`) carry the figures checked here. Every
process the demo starts inherits a marker in its environment, so the test can prove none is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _with_marker(marker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODSTREAM_")}
    return env | {"DEMO_TEST_MARKER": marker, "HF_HUB_OFFLINE": "1"}


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment holds `marker` (zombies excluded)."""
    found = []
    needle = f"DEMO_TEST_MARKER={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_gone(marker: str, timeout_s: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[2:])


@dataclass
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    leftovers: list[int]
    workdir: Path

    def line(self, what: str) -> dict[str, str]:
        lines = [line for line in self.stdout.splitlines() if line.startswith(f"DEMO {what} ")]
        assert lines, f"no 'DEMO {what}' line in:\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}"
        return _fields(lines[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    workdir = tmp_path_factory.mktemp("demo")
    marker = uuid.uuid4().hex
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "modstream.cli", "demo", "--quick", "--workdir", str(workdir)],
        cwd=ROOT,
        env=_with_marker(marker),
        capture_output=True,
        text=True,
        timeout=420,
    )
    yield DemoRun(
        proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, _wait_gone(marker), workdir
    )


def test_demo_exits_0_and_leaves_no_process(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert demo.line("done")["ok"] == "True"
    assert demo.leftovers == []


def test_every_post_has_an_outcome_and_the_odd_ones_are_handled(demo: DemoRun) -> None:
    before = demo.line("before")
    assert int(before["missing"]) == 0
    assert int(before["results"]) + int(before["dead_letters"]) == int(before["posts"])
    assert int(before["dead_letters"]) >= 1, "the malformed posts go to the dead-letter topic"
    assert int(before["cache_hits"]) >= 1, "reposts are served from the cache"
    assert float(before["throughput"]) > 0 and float(before["p99_ms"]) >= float(before["p50_ms"]) > 0


def test_predictions_are_well_above_chance(demo: DemoRun) -> None:
    for what in ("before", "after"):
        fields = demo.line(what)
        accuracy, baseline = float(fields["top1_accuracy"]), float(fields["baseline_top1"])
        assert accuracy >= 0.6 and accuracy >= baseline + 0.25, (what, fields)


def test_the_consumer_hot_swaps_to_the_retrained_version(demo: DemoRun) -> None:
    swap = demo.line("swap")
    before, after = demo.line("before"), demo.line("after")
    assert swap["from"] != swap["to"]
    assert before["versions"] == swap["from"]
    assert after["versions"] == swap["to"], "every post after the swap is scored by the new version"
    assert "consumer exited with status 0" in demo.stdout


def test_interrupt_stops_everything(demo: DemoRun, tmp_path: Path) -> None:
    """Ctrl-C while posts stream: exit 130, no process left. Reuses the trained registry (no training)."""
    shutil.copytree(demo.workdir / "models", tmp_path / "models")
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "demo", "--quick", "--workdir", str(tmp_path)],
        cwd=ROOT,
        env=_with_marker(marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Streaming" in line:
                break
        assert any("no training needed" in line for line in seen), "".join(seen)
        assert len(processes_with(marker)) >= 3, "demo, broker and consumer are running"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        assert proc.returncode == 130, "".join(seen) + rest
        assert "interrupted" in rest
        assert _wait_gone(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

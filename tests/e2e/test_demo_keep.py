"""`modstream demo --quick --keep`: the story, then the review console on top of the still-running stack.

It must print the console's URL and a one-time password that signs in, show the run's cards, refuse
anyone without the password, and on Ctrl-C stop everything (exit 130, no process left).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.e2e.test_demo import ROOT, _fields, _wait_gone, _with_marker


def test_keep_serves_the_review_console_until_ctrl_c(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "modstream.cli", "demo", "--quick", "--keep", "--workdir", str(tmp_path)],
        cwd=ROOT,
        env=_with_marker(marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 420
        review = None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("DEMO review "):
                review = _fields(line)
                break
            assert time.monotonic() < deadline, "no review line in time"
        assert review is not None, "".join(seen)[-4000:]
        assert "DEMO done" not in "".join(seen)  # --keep waits before the end of the story
        url, user, password = review["url"], review["user"], review["password"]
        assert url.startswith("http://127.0.0.1:") and len(password) >= 16

        assert httpx.get(url + "api/cards", timeout=10).status_code == 401
        assert httpx.get(url + "api/cards", auth=(user, "wrong"), timeout=10).status_code == 401
        deadline = time.monotonic() + 60
        cards: list[dict[str, object]] = []
        while not cards and time.monotonic() < deadline:
            cards = httpx.get(url + "api/cards", auth=(user, password), timeout=10).json()["cards"]
            time.sleep(0.5)
        assert cards, "the console shows the demo's results"
        assert proc.poll() is None, "still running after the story"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 130, "".join(seen)[-3000:] + rest[-3000:]
    assert _wait_gone(marker, timeout_s=20) == []

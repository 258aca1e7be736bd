"""`modstream demo --keep`: after the story, start the review console and leave everything running.

The console runs as one more child (`modstream review` on a free loopback port) with a single
moderator, `demo`, whose password is made for this run and printed once; it reads the demo's posts
and results topics, so the cards of the run are there to decide. Nothing stops until Ctrl-C (or
SIGTERM), which the demo handles as before: every child is stopped and it exits 130.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING

from modstream.demo import view
from modstream.demo.stack import wait_ready
from modstream.demo.steps import free_port

if TYPE_CHECKING:
    from rich.console import Console

    from modstream.demo.stack import Children

MODERATOR = "demo"


def keep_running(console: Console, children: Children, *, timeout_s: float = 60.0) -> None:
    """Start the review console, print how to sign in, and wait for Ctrl-C (KeyboardInterrupt)."""
    password = secrets.token_urlsafe(12)
    port = free_port()
    env = dict(os.environ) | {"MODSTREAM_REVIEW__USERS": json.dumps({MODERATOR: password})}
    view.step(console, "Keeping the stack running (--keep): the review console")
    review = children.start(
        "review",
        [sys.executable, "-m", "modstream.cli", "review", "--host", "127.0.0.1", "--port", str(port)],
        env,
    )
    url = f"http://127.0.0.1:{port}/"
    _wait_signed_in(url + "api/me", password, review, timeout_s, str(children.log_path("review")))
    view.note(console, f"review console: {url}")
    view.note(console, f"sign in as [bold]{MODERATOR}[/] with the one-time password [bold]{password}[/]")
    view.note(console, "broker, consumer and console keep running; Ctrl-C stops everything")
    print(f"DEMO review url={url} user={MODERATOR} password={password}", flush=True)
    while True:
        if review.poll() is not None:
            raise RuntimeError(f"the review console exited with {review.returncode}")
        time.sleep(0.5)


def _wait_signed_in(
    url: str, password: str, proc: subprocess.Popen[bytes], timeout_s: float, log_path: str
) -> None:
    token = base64.b64encode(f"{MODERATOR}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    wait_ready(request, proc, timeout_s, log_path)

"""Helpers for the tool tests: run the `modstream` CLI as a subprocess against the test broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from events.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read these settings (the parts the tools use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODSTREAM_")}
    env["MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    env["MODSTREAM_KAFKA__TOPIC_PARTITIONS"] = str(settings.kafka.topic_partitions)
    for name, value in settings.topics.model_dump().items():
        env[f"MODSTREAM_TOPICS__{name.upper()}"] = value
    return env


@pytest.fixture
def modstream_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(settings: Settings, *argv: str, stdin: str | None = None, timeout: float = 60):
        return subprocess.run(
            [sys.executable, "-m", "modstream.cli", *argv],
            env=settings_env(settings),
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run

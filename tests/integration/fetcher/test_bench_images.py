"""The bench's image host (scripts/bench_images.py), as the fetcher sees it: real photographs, each
after the delay, many at once on kept-alive connections; a 404 for other paths; a dripping route."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.settings import FetchSettings
from scripts.bench_images import VARIANTS, bench_image
from tests.integration.fetcher.fetching import fetch_all

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_images.py"
DELAY_S = 0.2


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--delay-ms", str(DELAY_S * 1000)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield f"127.0.0.1:{int(proc.stdout.readline().split()[1])}"
    finally:
        proc.terminate()
        proc.wait(10)


def _settings(host: str, **overrides: object) -> FetchSettings:
    return FetchSettings(**({"allow_hosts": [host], "trusted_hosts": [host]} | overrides))


def test_every_image_is_the_photograph_after_the_delay(host: str) -> None:
    indices = [*range(VARIANTS), VARIANTS + 5, 4999]
    started = time.monotonic()
    results = fetch_all(_settings(host), [f"http://{host}/i/{i}.jpg" for i in indices])
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == ["ok"] * len(indices)
    assert all(r.data == bench_image(i) for r, i in zip(results, indices, strict=True))
    assert all(r.elapsed_s >= DELAY_S for r in results)
    assert elapsed < 10 * DELAY_S  # answered concurrently, not one after another


def test_other_paths_are_not_found(host: str) -> None:
    results = fetch_all(_settings(host), [f"http://{host}/nothing", f"http://{host}/i/cat.png"])
    assert [(r.status, r.reason) for r in results] == [("failed", "http_404")] * 2


def test_the_drip_route_outlasts_the_deadline(host: str) -> None:
    settings = _settings(host, total_timeout_s=1.0, read_timeout_s=0.5, retries=0)
    [result] = fetch_all(settings, [f"http://{host}/drip/3.jpg"])
    assert (result.status, result.reason) == ("failed", "timeout")

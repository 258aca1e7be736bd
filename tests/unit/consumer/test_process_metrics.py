"""The consumer's registry carries the process collector: CPU and memory series for the dashboard."""

from __future__ import annotations

import sys

import pytest
from prometheus_client import generate_latest

from consumer.metrics import ConsumerMetrics


@pytest.mark.skipif(sys.platform != "linux", reason="prometheus_client reads /proc")
def test_process_series_are_exposed() -> None:
    text = generate_latest(ConsumerMetrics().registry).decode()
    for series in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert f"\n{series} " in text, series


def test_two_metrics_objects_in_one_process_do_not_collide() -> None:
    # Each has its own registry, so each may register the process collector.
    ConsumerMetrics()
    ConsumerMetrics()

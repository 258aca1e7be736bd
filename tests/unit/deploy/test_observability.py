"""Prometheus and Grafana provisioning: scrape targets match the services, panels query real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.metrics import ConsumerMetrics
from feedback.quality import QualityCollector, QualityWindow
from tests.unit.deploy.compose_env import COMPOSE, GPU_OVERRIDE, load_resolved

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "modstream.json"
METRIC = re.compile(r"\bmodstream_[a-z_]+")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def exposed_series() -> set[str]:
    """Every series name the consumer exposes (counters as *_total, histograms as _bucket/_sum/_count),
    and the feedback service's live precision/recall."""
    metrics = ConsumerMetrics()
    window = QualityWindow(window_s=1.0, max_judged=1, clock=lambda: 0.0, thresholds=lambda v: {})
    names = {family.name for family in QualityCollector(window).collect()}
    for family in metrics.registry.collect():
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
    # Histograms and labelled metrics without observations have no samples yet: derive their series.
    for family in metrics.registry.collect():
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_every_panel_queries_metrics_the_consumer_exposes(dashboard: dict[str, Any]) -> None:
    exposed = exposed_series()
    used = {m for panel in dashboard["panels"] for t in panel["targets"] for m in METRIC.findall(t["expr"])}
    assert used, "the dashboard queries nothing"
    assert used <= exposed, f"unknown metrics: {sorted(used - exposed)}"


@pytest.mark.parametrize(
    ("topic", "metric"),
    [
        ("throughput", "modstream_consumed_total"),
        ("latency", "modstream_end_to_end_seconds_bucket"),
        ("batch size", "modstream_batch_size_"),
        ("cache hit", "modstream_cache_lookups_total"),
        ("lag", "modstream_lag"),
        ("dead-letter", "modstream_dead_letters_total"),
        ("model version", "modstream_model_version"),
        ("precision", "modstream_feedback_precision"),
        ("recall", "modstream_feedback_recall"),
    ],
)
def test_the_promised_panels_exist(dashboard: dict[str, Any], topic: str, metric: str) -> None:
    panels = [p for p in dashboard["panels"] if topic in p["title"].lower()]
    assert panels, f"no panel about {topic}"
    assert any(metric in t["expr"] for p in panels for t in p["targets"])


def test_panels_use_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in dashboard["panels"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_loads_the_dashboard_from_the_mounted_folder() -> None:
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/modstream.yml").read_text())
    compose = load_resolved(COMPOSE)
    mounts = dict(reversed(v.split(":")[:2]) for v in compose["services"]["grafana"]["volumes"])
    path = provider["providers"][0]["options"]["path"]
    assert (ROOT / mounts[path] / DASHBOARD.name).is_file()


def test_prometheus_scrapes_every_consumer_replica_on_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    compose = load_resolved(COMPOSE)["services"]
    gpu = load_resolved(GPU_OVERRIDE)["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    port = int(compose["consumer"]["environment"]["MODSTREAM_METRICS__PORT"])
    # DNS discovery: one A record per replica, so `--scale consumer=N` needs no edit here; the GPU
    # override's one-service-per-GPU consumers are named too (a name that does not resolve yields none).
    (sd,) = jobs["consumer"]["dns_sd_configs"]
    assert sd["type"] == "A" and sd["port"] == port
    consumers = {
        name for name, s in {**compose, **gpu}.items() if s.get("command") == ["modstream", "consume"]
    }
    assert consumers >= {"consumer", "consumer-gpu1"}
    assert set(sd["names"]) >= consumers, f"not scraped: {sorted(consumers - set(sd['names']))}"


def test_only_the_scraped_services_open_their_health_server() -> None:
    """Loopback is the default (tests/unit/deploy cannot run Docker); the compose file opens the consumer's
    and the trainer's metrics server to the compose network, where Prometheus scrapes them, and publishes
    no port for either."""
    from events.settings import MetricsSettings

    assert MetricsSettings().host == "127.0.0.1"
    compose = load_resolved(COMPOSE)["services"]
    opened = {"consumer": "MODSTREAM_METRICS__HOST", "trainer": "MODSTREAM_FEEDBACK__METRICS_HOST"}
    for name, variable in opened.items():
        assert compose[name]["environment"][variable] == "0.0.0.0"
        assert "ports" not in compose[name]
    for name, service in compose.items():
        for variable in opened.values():
            if opened.get(name) != variable:
                assert variable not in (service.get("environment") or {}), name


def test_prometheus_scrapes_the_feedback_service() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    from events.settings import FeedbackSettings

    port = FeedbackSettings().metrics_port
    assert jobs["feedback"]["static_configs"][0]["targets"] == [f"trainer:{port}"]

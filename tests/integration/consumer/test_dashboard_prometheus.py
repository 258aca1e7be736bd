"""The Grafana dashboard against a real Prometheus: every query it draws returns a series.

Debian's `prometheus` (installed by `make prometheus-deps`, which .ci/run calls) runs with the project's
own scrape configuration, deploy/prometheus/prometheus.yml, its DNS-discovered targets rewritten to the
loopback address of a consumer running here, and a 1 s scrape interval. Posts stream through the
consumer while Prometheus watches: text, images, a repost (a cache hit), bad posts (dead letters) and a
slow image host (host_busy fetches). Then each query of deploy/grafana/dashboards/modstream.json goes to
Prometheus's HTTP API and must return at least one series with a finite value.

Scraped jobs are a parameter. In the `consumer+trainer` case the trainer's feedback service
(feedback/service.py, in a subprocess as its own tests run it) is scraped too, under the config's `feedback`
job: it reads the same results topic, and once the posts are scored, moderators' decisions on some of them
(their text as scored, so they pass the content check) make its live precision/recall series. In the
`consumer` case the dashboard's feedback queries (those naming `modstream_feedback_` series or
`job="feedback"`) are left out and listed.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.schemas import Feedback, Result, encode
from events.settings import Settings
from tests.image_server import ImageServer, make_jpeg, make_png
from tests.integration.consumer.conftest import (
    OutputReader,
    Outputs,
    TinyModels,
    create_topics,
    post,
    produce,
    publish_version,
    running_consumer,
)
from tests.integration.feedback.conftest import TrainerProcess

ROOT = Path(__file__).resolve().parents[3]
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "modstream.json"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
FEEDBACK_QUERY = ("modstream_feedback_", 'job="feedback"')  # drawn from the trainer's feedback service
JUDGED = 6  # moderators' decisions on scored posts: enough for precision and recall, few enough to be quick
HARMFUL = 4  # of which this many name a harmful label; the rest say the post is benign


def _need(binary: str | None, name: str) -> str:
    if binary is None:  # not a skip: CI installs it, and a silently skipped check proves nothing
        pytest.fail(f"Debian's {name} is needed: run `make prometheus-deps`")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def loopback_config(targets: dict[str, str], prometheus_port: int) -> dict[str, Any]:
    """The project's scrape configuration with each job's service discovery replaced by `targets`.

    Everything else in a job (metrics path, scheme, relabelling) stays as the project wrote it. A job of the
    project's file that is not in `targets` is an error, except the ones the caller may leave out.
    """
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    config["global"] = config.get("global", {}) | {"scrape_interval": "1s", "evaluation_interval": "1s"}
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        target = f"127.0.0.1:{prometheus_port}" if name == "prometheus" else targets.get(name)
        if target is None:
            continue
        kept = {key: value for key, value in job.items() if not key.endswith("_sd_configs")}
        jobs.append(kept | {"static_configs": [{"targets": [target]}]})
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    """`prometheus` on a loopback port with its own storage; killed when the block ends."""

    def __init__(self, workdir: Path, config: Callable[[int], dict[str, Any]]) -> None:
        self.port = _free_port()
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config(self.port)), encoding="utf-8")
        self.log_path = workdir / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                _need(PROMETHEUS, "prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        assert self.process.poll() is None, f"prometheus exited:\n{self.log_path.read_text()[-3000:]}"
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)

    def targets_up(self, jobs: set[str]) -> bool:
        active = _get_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]
        up = {t["labels"]["job"] for t in active if t["health"] == "up"}
        return up >= jobs

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = _get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], t["expr"]) for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_project_scrape_config_is_valid_for_prometheus() -> None:
    done = subprocess.run(
        [_need(PROMTOOL, "promtool"), "check", "config", str(SCRAPE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: dict[str, str]) -> Prometheus:
        server = Prometheus(tmp_path, lambda port: loopback_config(targets, port))
        started.append(server)
        _wait(server.ready, 60, "prometheus to be ready")
        return server

    yield start
    for server in started:
        server.close()


def _wave(wave: int, image_server: ImageServer) -> list[tuple[str | None, bytes | None]]:
    """Posts of every kind the dashboard draws: text, images, bad posts, a burst at a slow image host."""
    tag = f"w{wave}"
    items = [post(f"{tag}-text-{i}", text=f"a post about the weather, number {i}") for i in range(30)]
    items += [
        post(f"{tag}-img-{i}", text=f"look {i}", image_url=image_server.url(f"/a.png?{tag}{i}"))
        for i in range(10)
    ]
    items += [post(f"{tag}-jpg-{i}", image_url=image_server.url(f"/b.jpg?{tag}{i}")) for i in range(5)]
    # One slot per host, one waiter, a short slot wait (the test's settings): part of the burst is host_busy.
    items += [
        post(f"{tag}-slow-{i}", text=f"slow {i}", image_url=image_server.url(f"/slow.png?{tag}{i}"))
        for i in range(8)
    ]
    items += [
        (f"{tag}-bad-1", b'{"post_id": "no content"}'),
        (f"{tag}-bad-2", b'{"post_id": "cut", "text": '),
    ]
    return items


def _stream(
    settings: Settings, image_server: ImageServer, reader: OutputReader, prometheus: Prometheus
) -> list[tuple[str | None, bytes | None]]:
    """Two waves of posts, two scrapes apart; returns the messages produced (one output each).

    Prometheus's rate() does not assume a new series starts at zero: a labelled series first seen at its
    final value has no increase. The second wave increases every series the first one created.
    """
    image_server.add_bytes("/a.png", make_png("red", (32, 32)), "image/png")
    image_server.add_bytes("/b.jpg", make_jpeg("blue", (40, 32)), "image/jpeg")
    image_server.add_bytes("/slow.png", make_png("green", (32, 32)), "image/png", delay_s=2.0)
    produced: list[tuple[str | None, bytes | None]] = []
    for wave in (1, 2):
        items = _wave(wave, image_server)
        # The first wave's texts again: answered from the result cache in the second.
        if wave == 2:
            items += [post(f"repost-{i}", text=f"a post about the weather, number {i}") for i in range(10)]
        produce(settings, items)
        produced += items
        reader.wait_for(len(produced), timeout_s=120)
        done = time.time()
        _wait(
            lambda done=done: bool(
                prometheus.query(f"max(timestamp(modstream_consumed_total)) > {done + 2}")
            ),
            30,
            "two scrapes after the wave",
        )
    return produced


@contextlib.contextmanager
def running_feedback_service(settings: Settings, log_path: Path) -> Iterator[TrainerProcess]:
    """The trainer's feedback service in a subprocess, as its own tests run it; SIGTERM at the end, and it
    must then exit 0 (killed instead when the block fails)."""
    service = TrainerProcess(settings, log_path)
    try:
        yield service
    except BaseException:
        service.kill()
        raise
    assert service.process.poll() is None, f"the feedback service exited early:\n{service.log()[-3000:]}"
    service.terminate()
    assert service.wait(30) == 0, service.log()[-3000:]


def _judge(
    settings: Settings, produced: list[tuple[str | None, bytes | None]], outputs: Outputs
) -> tuple[list[Result], list[Result]]:
    """Moderators' decisions on JUDGED scored text posts, flagged ones first (so precision has something
    to judge): the first HARMFUL name the post's highest-scored harmful label, the rest are benign. The
    text is the one scored, so each passes the content check. Returns (judged harmful, judged benign).
    """
    texts = {key: json.loads(value)["text"] for key, value in produced if key and value and "-text-" in key}
    scored = [r for r in outputs.results if r.post_id in texts and not r.cached]
    judged = sorted(scored, key=lambda r: not r.flagged)[:JUDGED]  # stable: flagged first
    assert len(judged) == JUDGED, f"only {len(scored)} scored text posts"
    assert judged[0].flagged, "the model flagged none of the text posts: precision would be undefined"
    decisions: list[tuple[str | None, bytes | None]] = []
    for i, result in enumerate(judged):
        harmful = max((score, label) for label, score in result.scores.items() if label != "NotHate")[1]
        decision = Feedback(
            post_id=result.post_id,
            labels=[harmful] if i < HARMFUL else [],
            text=texts[result.post_id],
            moderator_id=f"moderator-{i % 3}",
        )
        decisions.append((result.post_id, encode(decision)))
    produce(settings, decisions, topic=settings.topics.feedback)
    return judged[:HARMFUL], judged[HARMFUL:]


def _check_judgement(
    prometheus: Prometheus, version: str, harmful: list[Result], benign: list[Result]
) -> None:
    """The service's judgement of this consumer's results, by its version, as Prometheus holds it. For the
    `flagged` pseudo-label a flagged harmful post is a true positive, a flagged benign one a false positive,
    an unflagged harmful one a false negative. The decisions may be ingested over several polls, so the
    figures are awaited (with a deadline), not read once."""
    tp, fp = sum(r.flagged for r in harmful), sum(r.flagged for r in benign)
    expected = {
        "modstream_feedback_precision": [(version, tp / (tp + fp))],
        "modstream_feedback_recall": [(version, tp / len(harmful))],
    }
    seen: dict[str, list[tuple[str, float]]] = {}

    def as_expected() -> bool:
        for name in expected:
            series = prometheus.query(f'{name}{{job="feedback", label="flagged"}}')
            seen[name] = [(s["metric"]["model_version"], float(s["value"][1])) for s in series]
        return seen == expected

    try:
        _wait(as_expected, 30, f"Prometheus to hold the moderators' judgement {expected}")
    finally:
        print(f"judged tp={tp} fp={fp} fn={len(harmful) - tp}; Prometheus: {seen}")


@pytest.mark.parametrize(
    "jobs",
    [
        pytest.param(("consumer",), id="consumer"),
        pytest.param(("consumer", "feedback"), id="consumer+trainer"),
    ],
)
def test_every_dashboard_query_returns_a_series(
    jobs: tuple[str, ...],
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable[[Settings], OutputReader],
    prometheus_for: Callable[[dict[str, str]], Prometheus],
    tmp_path: Path,
) -> None:
    settings = consumer_settings(
        fetch={"per_host_concurrency": 1, "max_waiters_per_host": 1, "slot_wait_s": 0.2, "retries": 0},
        # the feedback service's /metrics (served only where it runs); no retrain within the test
        feedback={"metrics_host": "127.0.0.1", "metrics_port": _free_port()},
        trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9},
    )
    create_topics(settings)
    version = publish_version(settings, tiny_models, "a")
    reader = outputs_of(settings)
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(running_consumer(settings))
        targets: dict[str, str] = {}
        if "feedback" in jobs:
            stack.enter_context(running_feedback_service(settings, tmp_path / "feedback.log"))
            targets["feedback"] = f"127.0.0.1:{settings.feedback.metrics_port}"
        _wait(lambda: service.health_port is not None, 60, "the consumer's metrics server")
        targets["consumer"] = f"127.0.0.1:{service.health_port}"
        prometheus = prometheus_for(targets)
        _wait(lambda: prometheus.targets_up(set(jobs)), 60, f"prometheus to scrape {jobs}")
        # Two scrapes before the posts, so every counter's increase falls inside the query windows.
        _wait(lambda: bool(prometheus.query("count_over_time(up[1m]) >= 2")), 30, "two scrapes")
        produced = _stream(settings, image_server, reader, prometheus)
        harmful, benign = _judge(settings, produced, reader.outputs) if "feedback" in jobs else ([], [])

        queries = dashboard_queries()
        skipped = [
            (title, expr)
            for title, expr in queries
            if "feedback" not in jobs and any(t in expr for t in FEEDBACK_QUERY)
        ]
        answers: dict[str, list[dict[str, Any]]] = {}

        skipped_exprs = {expr for _, expr in skipped}

        def every_query_has_a_finite_series() -> bool:
            for _, expr in queries:
                if expr in skipped_exprs or expr in answers:
                    continue
                series = prometheus.query(expr)
                if any(math.isfinite(float(s["value"][1])) for s in series):
                    answers[expr] = series
            return len(answers) == len(queries) - len(skipped)

        try:
            _wait(every_query_has_a_finite_series, 60, "every dashboard query to return a finite series")
        finally:
            for title, expr in queries:
                values = [(s["metric"], s["value"][1]) for s in answers.get(expr, [])]
                state = (
                    "SKIPPED (feedback not scraped)" if (title, expr) in skipped else values or "NO SERIES"
                )
                print(f"{title} | {expr} -> {state}")
        # While the consumer still runs: once its target is gone, Prometheus marks its series stale.
        throughput = float(prometheus.query("sum(rate(modstream_consumed_total[1m]))")[0]["value"][1])
        host_busy = prometheus.query('sum(modstream_fetch_seconds_count{outcome="host_busy"})')
        if harmful:
            _check_judgement(prometheus, version, harmful, benign)
    print(
        f"{len(produced)} outputs; throughput seen by Prometheus {throughput:.2f} posts/s; "
        f"skipped {len(skipped)}"
    )
    assert throughput > 0
    assert host_busy and float(host_busy[0]["value"][1]) > 0, "the slow host made no host_busy fetch"

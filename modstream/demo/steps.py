"""The steps of `modstream demo` (demo/command.py runs them in order and prints what they return)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from modstream.demo.view import note

if TYPE_CHECKING:
    from events.settings import Settings
    from modstream.demo.collect import Collector
    from modstream.demo.data import DemoPost, DemoWorld
    from modstream.demo.plan import Plan
    from modstream.demo.stack import Children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(console: Console, children: Children) -> str:
    from modstream.broker import broker_command, wait_until_ready

    external = os.environ.get("MODSTREAM_KAFKA__BOOTSTRAP_SERVERS")
    if external:
        note(console, f"kafka: {external} (from MODSTREAM_KAFKA__BOOTSTRAP_SERVERS)")
        return external
    port = free_port()
    proc = children.start("broker", broker_command("127.0.0.1", port), os.environ)
    wait_until_ready(f"127.0.0.1:{port}", proc=proc)
    note(console, f"kafka: embedded broker (tansu, in memory) on 127.0.0.1:{port}, pid {proc.pid}")
    return f"127.0.0.1:{port}"


def pick_cache(console: Console, run_id: str) -> str:
    from events.settings import RedisSettings, redact_url
    from modstream.demo.stack import redis_answers

    url = os.environ.get("MODSTREAM_REDIS__URL") or str(RedisSettings.model_fields["url"].default)
    if url.startswith("redis") and redis_answers(url):
        note(console, f"cache: Redis at {redact_url(url)} (keys under modstream-demo:{run_id}:)")
        return url
    note(console, f"cache: no Redis answers at {redact_url(url)}; using the in-process memory:// cache")
    return "memory://"


def environment(
    workdir: Path, run_id: str, bootstrap: str, redis_url: str, image_port: int, plan: Plan
) -> dict[str, str]:
    """The settings of this run, as the environment every process of the demo reads them from."""
    topic = {
        name: f"demo-{run_id}-{name.replace('_', '-')}"
        for name in ("posts", "results", "dlq", "feedback", "feedback_dlq", "model_updates")
    }
    env = {
        "MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "MODSTREAM_KAFKA__GROUP_ID": f"demo-{run_id}",
        "MODSTREAM_KAFKA__TRAINER_GROUP_ID": f"demo-{run_id}-trainer",
        "MODSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",  # a group join takes ~3 s on the embedded broker
        "MODSTREAM_KAFKA__TOPIC_PARTITIONS": "3",
        "MODSTREAM_REDIS__URL": redis_url,
        "MODSTREAM_REDIS__KEY_PREFIX": f"modstream-demo:{run_id}:",
        # cached results are signed (consumer/cache_codec.py): the operator's key, else a random one per run
        "MODSTREAM_REDIS__SIGNING_KEY": os.environ.get("MODSTREAM_REDIS__SIGNING_KEY")
        or secrets.token_hex(32),
        "MODSTREAM_MODEL__REGISTRY": str(workdir / "models"),
        "MODSTREAM_MODEL__POLL_INTERVAL_S": "5",
        "MODSTREAM_TRAINER__DATA_DIR": str(workdir / "trainer"),
        "MODSTREAM_TRAINER__PRESET": "tiny",
        "MODSTREAM_TRAINER__RETRAIN_MIN_EXAMPLES": str(plan.feedback),
        # The demo's decisions are its own ground truth (a source trusted as a whole), and some are on
        # posts it never streamed: no content check. Its moderators are eight, so none is over the cap.
        "MODSTREAM_FEEDBACK__VERIFY_CONTENT": "false",
        "MODSTREAM_FEEDBACK__METRICS_HOST": "127.0.0.1",
        "MODSTREAM_FEEDBACK__METRICS_PORT": str(free_port()),
        "MODSTREAM_FETCH__ALLOW_HOSTS": json.dumps([f"127.0.0.1:{image_port}"]),
        "MODSTREAM_METRICS__HOST": "127.0.0.1",
        "MODSTREAM_METRICS__PORT": str(free_port()),
        "MODSTREAM_LOG__LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env |= {f"MODSTREAM_TOPICS__{name.upper()}": value for name, value in topic.items()}
    return env


def topics(settings: Settings) -> None:
    from events.kafka import ensure_topics

    t = settings.topics
    ensure_topics(settings.kafka, [t.posts, t.results, t.dlq, t.feedback, t.feedback_dlq, t.model_updates])


def ensure_model(console: Console, settings: Settings, world: DemoWorld, workdir: Path, plan: Plan) -> str:
    """The serving version; trains and promotes a first one when the registry is empty."""
    from model.registry import ModelRegistry

    registry = ModelRegistry(settings.model.registry)
    current = registry.current()
    if current is not None:
        note(console, f"registry {settings.model.registry} serves {current}; no training needed")
        return current
    dataset, mislabelled = world.training_set(workdir / "history", plan.train_examples)
    note(console, f"registry is empty: training a `tiny` model on {plan.train_examples} historical posts")
    note(
        console,
        f"(the history has a blind spot: its {mislabelled} blue + 'stone' posts were labelled NotHate)",
    )
    import torch

    from trainer.run import train_and_maybe_promote

    # The tiny model trains several times faster on one intra-op thread than on two shared cores.
    torch.set_num_threads(1)
    started = time.monotonic()
    with _bar(console) as progress:
        task = progress.add_task("training", total=plan.epochs)
        outcome = train_and_maybe_promote(
            dataset,
            registry=registry,
            preset="tiny",
            work_dir=workdir / "first-training",
            settings=settings.trainer,
            device="cpu",
            progress=False,
            epochs=plan.epochs,
            on_epoch_end=lambda _epoch: progress.advance(task),
        )
    assert outcome.version is not None, outcome.reason
    metrics = outcome.candidate_metrics
    note(
        console,
        f"promoted {outcome.version} in {time.monotonic() - started:.0f}s "
        f"(held-out macro F1 {metrics.get('macro_f1', 0):.2f}, on its own mislabelled history)",
    )
    return outcome.version


def _bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("    {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def stream(
    console: Console,
    settings: Settings,
    collector: Collector,
    posts: list[DemoPost],
    base_url: str,
    sent_at: dict[str, float],
    what: str,
) -> None:
    """Publish `posts` to the posts topic and wait for one outcome each, with a live progress bar."""
    from confluent_kafka import Producer

    from events.kafka import producer_config

    producer = Producer(producer_config(settings.kafka))
    for post in posts:
        sent_at[post.post_id] = time.time()
        producer.produce(settings.topics.posts, key=post.post_id.encode(), value=post.wire(base_url))
        producer.poll(0)
    if producer.flush(30):
        raise RuntimeError("the broker did not acknowledge the demo's posts")
    with _bar(console) as progress:
        task = progress.add_task(what, total=len(posts))
        missing = collector.collect(
            {p.post_id for p in posts}, timeout_s=180, on_outcome=lambda n: progress.update(task, completed=n)
        )
    if missing:
        note(console, f"[yellow]{len(missing)} posts without an outcome after 180s[/]")


def feedback_and_retrain(
    console: Console,
    settings: Settings,
    children: Children,
    world: DemoWorld,
    seen: list[DemoPost],
    base_url: str,
    plan: Plan,
    serving: str,
) -> str | None:
    """Send moderators' decisions, run the trainer service until it has trained once; the new version."""
    from confluent_kafka import Producer

    from events.kafka import producer_config
    from model.registry import ModelRegistry

    decided = [p for p in seen if p.kind == "both"][: plan.feedback]
    decided += [world.post("both", prefix="moderated") for _ in range(plan.feedback - len(decided))]
    producer = Producer(producer_config(settings.kafka))
    for post in decided:
        producer.produce(settings.topics.feedback, key=post.post_id.encode(), value=post.feedback(base_url))
    producer.flush(30)
    blind = sum(p.in_blind_spot for p in decided)
    note(
        console,
        f"{len(decided)} moderator decisions sent to {settings.topics.feedback} "
        f"({blind} of them correct the blind spot)",
    )
    argv = [sys.executable, "-m", "modstream.demo.trainer", "--epochs", str(plan.epochs)]
    trainer = children.start("trainer", argv, os.environ)
    log_path = children.log_path("trainer")
    note(console, f"trainer service pid {trainer.pid}: store, retrain, evaluate, promote; logs in {log_path}")
    registry = ModelRegistry(settings.model.registry)
    with Progress(
        SpinnerColumn(), TextColumn("    {task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("trainer starting")
        deadline = time.monotonic() + 300
        while registry.current() == serving and trainer.poll() is None and time.monotonic() < deadline:
            status = _last_line(log_path, ("stored", "epoch", "training", "run ", "feature"))
            bar.update(task, description=status[:70] or "trainer starting")
            time.sleep(0.5)
    current = registry.current()
    promotion = _last_line(log_path, ("promotion:",))
    if current == serving:
        children.stop(trainer, grace_s=10)
        note(console, f"[red]no new version was promoted ({promotion or 'no decision'}); see {log_path}[/]")
        return None
    note(console, f"trainer promoted {current}: {promotion}")
    return current


def _last_line(path: Path, keys: tuple[str, ...]) -> str:
    """The last log line mentioning one of `keys`, without its timestamp and logger."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if any(key in line for key in keys):
            return line.split(": ", 1)[-1][:100]
    return ""


def wait_for_swap(console: Console, metrics_url: str, version: str, consumer: object) -> float | None:
    """Seconds until the consumer's metrics report `version` as serving; None after 90 s."""
    wanted = f'modstream_model_version{{version="{version}"}} 1.0'
    started = time.monotonic()
    while time.monotonic() - started < 90:
        try:
            with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=2) as response:
                if wanted in response.read().decode():
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    note(console, f"[red]the consumer did not switch to {version} within 90s[/]")
    return None

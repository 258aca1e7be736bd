"""`modstream demo`: the whole loop on one machine, offline (`make demo`).

1. Kafka: the embedded broker (tansu), unless MODSTREAM_KAFKA__BOOTSTRAP_SERVERS names one.
   Cache: the Redis at MODSTREAM_REDIS__URL if it answers, else the in-process memory:// cache.
   Images: a loopback HTTP server, allow-listed through MODSTREAM_FETCH__ALLOW_HOSTS.
2. Model: when the registry is empty, a `tiny` model is trained on historical demo data that has a
   blind spot (see modstream/demo/data.py) and promoted into the registry.
3. `modstream consume` runs as a child process; ~200 posts are streamed through it (a few text-only,
   image-only, with a dead image link, or malformed; the last ones reposts, served from the cache).
   A table of results and a summary follow, with accuracy against the demo's truth.
4. Moderators' decisions go to the feedback topic; the trainer service (a child process) stores
   them, retrains, evaluates against the serving version and promotes; the consumer hot-swaps to the
   new version without a restart, and fresh posts are scored by it.

Ctrl-C or SIGTERM at any point stops every child (each in its own process group) and exits 130.
`--quick` is the shortened run the end-to-end test uses: fewer posts, the same training. Lines
starting with `DEMO ` are a machine-readable summary.
`--keep` leaves the broker and consumer running after the story, adds the review console, prints its
URL with a one-time password, and waits for Ctrl-C (modstream/demo/keep.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from modstream.demo.plan import Plan

if TYPE_CHECKING:
    from rich.console import Console

    from modstream.demo.stack import Children


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--posts", type=int, default=200, help="posts to stream before the retrain (default 200)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a shortened run for tests (fewer posts, the same training)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep registry, logs and data here (default: a temp dir, removed)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the story, start the review console and leave everything running until Ctrl-C",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from modstream.demo.stack import Children

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: wide enough for the tables, no wrapping
        console = Console(highlight=False, width=160)
    plan = Plan.quick() if args.quick else Plan.full(args.posts)
    keep = args.workdir is not None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="modstream-demo-")).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    children = Children(workdir / "logs")

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            return _demo(console, plan, workdir, children, stack, args.seed, started, keep_running=args.keep)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: stopping the consumer, trainer and broker[/]")
        return 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.stop_all()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if keep:
            console.print(f"    work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _demo(
    console: Console,
    plan: Plan,
    workdir: Path,
    children: Children,
    stack: contextlib.ExitStack,
    seed: int,
    started: float,
    *,
    keep_running: bool = False,
) -> int:
    from events.settings import Settings
    from modstream.demo import view
    from modstream.demo.collect import Collector, summarize
    from modstream.demo.data import DemoWorld
    from modstream.demo.stack import ImageServer, wait_ready
    from modstream.demo.steps import (
        ensure_model,
        environment,
        feedback_and_retrain,
        pick_cache,
        start_broker,
        stream,
        topics,
        wait_for_swap,
    )

    run_id = uuid.uuid4().hex[:8]
    view.step(console, "Starting the pieces")
    bootstrap = start_broker(console, children)
    redis_url = pick_cache(console, run_id)
    world = DemoWorld(seed=seed)
    images = ImageServer(world.store).start()
    stack.callback(images.close)
    view.note(console, f"images: loopback server at {images.base_url} (allow-listed for the fetcher)")
    env = environment(workdir, run_id, bootstrap, redis_url, images.port, plan)
    os.environ.update(env)
    settings = Settings()
    topics(settings)

    view.step(console, "Model")
    first = ensure_model(console, settings, world, workdir, plan)

    view.step(console, "Starting the consumer (`modstream consume`)")
    consumer = children.start("consumer", [sys.executable, "-m", "modstream.cli", "consume"], os.environ)
    metrics_url = f"http://127.0.0.1:{settings.metrics.port}"
    wait_ready(f"{metrics_url}/readyz", consumer, 120, children.log_path("consumer"))
    view.note(
        console,
        f"consumer pid {consumer.pid} ready; serving {first}; logs in {children.log_path('consumer')}",
    )
    collector = Collector(settings.kafka, [settings.topics.results], settings.topics.dlq)
    stack.callback(collector.close)
    sent_at: dict[str, float] = {}
    # One post first, not counted: the consumer group join (seconds) is not the service's latency.
    warmup = [world.post("both", prefix="warmup")]
    stream(console, settings, collector, warmup, images.base_url, sent_at, "warm-up (group join)")

    view.step(console, f"Streaming {plan.posts} posts")
    posts = world.stream(plan.posts - plan.reposts)
    originals = [p for p in posts if p.kind == "both"][: plan.reposts]
    stream(console, settings, collector, posts, images.base_url, sent_at, "posts")
    reposts = [world.repost(p) for p in originals]
    stream(console, settings, collector, reposts, images.base_url, sent_at, "reposts (same content)")
    before = summarize(posts + reposts, collector.outcomes, sent_at)
    console.print(view.results_table(posts + reposts, collector.outcomes, "Results (first model)"))
    console.print(view.summary_table(before, f"Summary: {plan.posts} posts through the first model"))
    _machine_lines(view.summary_lines(before, "before"))

    view.step(console, "Moderator feedback and a retrain")
    new_version = feedback_and_retrain(
        console, settings, children, world, posts, images.base_url, plan, first
    )
    if new_version is None:
        return 1
    swap_s = wait_for_swap(console, metrics_url, new_version, consumer)
    children.stop_named("trainer", grace_s=30)  # it stops by itself after one training
    if swap_s is None:
        return 1
    view.note(
        console,
        f"consumer hot-swapped {first} -> {new_version} {swap_s:.1f}s after the promotion, without a restart",
    )
    _machine_lines([f"DEMO swap from={first} to={new_version} seconds={swap_s:.1f}"])

    view.step(console, f"Streaming {plan.after_swap} fresh posts through the new version")
    fresh = [world.post("both", prefix="fresh") for _ in range(plan.after_swap)]
    stream(console, settings, collector, fresh, images.base_url, sent_at, "fresh posts")
    after = summarize(fresh, collector.outcomes, sent_at)
    blind_before = [p for p in posts if p.in_blind_spot and p.kind == "both"]
    blind = blind_before[:6] + [p for p in fresh if p.in_blind_spot][:6]
    console.print(
        view.results_table(blind, collector.outcomes, "The blind spot (blue + 'stone'), before and after")
    )
    console.print(view.summary_table(after, "Summary: after the hot swap"))
    _machine_lines(view.summary_lines(after, "after"))

    if keep_running:  # until Ctrl-C, which stops every child as it always does
        from modstream.demo.keep import keep_running as keep

        keep(console, children)

    view.step(console, "Stopping the consumer (SIGTERM: drain, flush, commit)")
    code = children.stop(consumer, grace_s=30)
    view.note(console, f"consumer exited with status {code}")
    ok = code == 0 and before.missing == 0 and after.missing == 0 and set(after.versions) == {new_version}
    _machine_lines([f"DEMO done ok={ok} seconds={time.monotonic() - started:.1f}"])
    return 0 if ok else 1


def _machine_lines(lines: list[str]) -> None:
    """`DEMO ...` lines, unwrapped and unstyled, for scripts and tests."""
    for line in lines:
        print(line, flush=True)

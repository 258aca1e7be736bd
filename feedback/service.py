"""The trainer service (`modstream train` without --once): feedback in, durable store, retrain, promote.

    >>> run_service(Settings())                                   # until SIGTERM
    >>> run_service(settings, max_idle_s=5, stop_after_trainings=1)   # bounded runs for tests

The loop, one batch at a time:

    poll feedback AND results (group kafka.trainer_group_id, auto-commit off)
      -> results: index what was scored per post_id (feedback.scored; bounded in count and age)
      -> ingest: validate, fetch images once, check the content against the index, store (fsync'd)
      -> held: decisions whose result is not read yet are kept (feedback.held); those now scored are
         ingested again, those held too long (or beyond the bound) are dead-lettered `not_scored`
      -> dead letters to topics.feedback_dlq, wait for their acks (bounded retries; if the broker
         never takes them, that is an outage: stop with exit 1, nothing committed past them)
      -> commit the batch's offsets (synchronous)     # only now: everything above is durable
      -> verified decisions join their results in the live precision/recall window (/metrics)
      -> RetrainJob.tick(): harvest a finished training, announce it, maybe start the next

Training runs in a worker thread while this loop keeps polling and storing (see feedback.retrain), so
the consumer never exceeds max.poll.interval.ms and feedback is never held back by a long training.

SIGTERM/SIGINT: the batch in hand is stored and committed, then the service exits 0. A training still
running is abandoned; it is recorded as started, so the next start resumes it from its work_dir.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from events.kafka import ensure_topics
from events.schemas import ModelUpdate, encode, utc_now
from events.settings import Settings
from feedback.dead_letters import send_dead_letters
from feedback.held import HeldFeedback, HeldMessage
from feedback.ingest import (
    BatchOutcome,
    DeadLetter,
    FeedbackIngestor,
    FetchOutcome,
    Message,
    commit_positions,
)
from feedback.kafka_io import EventSink, FeedbackSource
from feedback.quality import QualityCollector, QualityWindow
from feedback.retrain import Outcome, RetrainJob
from feedback.scored import ScoredIndex
from feedback.store import FeedbackStore
from feedback.triggers import RetrainPolicy, RetrainTrigger
from trainer.dataset import Dataset
from trainer.labelset import LabelSetReader

log = logging.getLogger(__name__)

TrainFn = Callable[[Dataset, Path], Outcome]
PRUNE_EVERY_S = 30.0  # the scored index is pruned (count and age bounds) at most this often


def run_service(
    settings: Settings,
    *,
    max_idle_s: float | None = None,
    stop_after_trainings: int | None = None,
    poll_batch: int = 100,
    poll_timeout_s: float = 0.5,
    clock: Callable[[], float] = time.time,
    train_options: Mapping[str, Any] | None = None,
) -> int:
    """Run until SIGTERM, or until idle `max_idle_s` with no training running, or after
    `stop_after_trainings` finished trainings. `train_options` go to train_and_maybe_promote
    (e.g. `epochs`, or an `on_epoch_end` hook)."""
    from fetcher import BackgroundFetcher
    from model.images import ImageDecodeError, decode_image
    from model.registry import ModelRegistry

    log.info("trainer service starting; settings %s", settings.redacted())
    if settings.kafka.create_topics:
        topics = settings.topics
        ensure_topics(
            settings.kafka, [topics.feedback, topics.results, topics.feedback_dlq, topics.model_updates]
        )
    registry = ModelRegistry(Path(settings.model.registry))
    labels = LabelSetReader(registry)

    def check_image(data: bytes) -> str | None:
        try:
            decode_image(data, size=32)
        except ImageDecodeError as exc:
            return exc.reason
        return None

    def make_update(outcome: Outcome) -> dict[str, Any]:
        assert outcome.version is not None
        metrics = {k: float(v) for k, v in outcome.candidate_metrics.items() if isinstance(v, int | float)}
        update = ModelUpdate(
            model_version=outcome.version,
            path=str(registry.path(outcome.version)),
            metrics=metrics,
            created_at=utc_now(),
        )
        return dict(json.loads(encode(update)))

    trust = settings.feedback
    data_dir = Path(settings.trainer.data_dir)
    store = FeedbackStore.open(data_dir, now=clock())
    index = ScoredIndex.open(data_dir)
    held = HeldFeedback.open(data_dir, max_count=trust.hold_max)
    quality = QualityWindow(
        window_s=trust.quality_window_s,
        max_judged=trust.quality_max_judged,
        clock=clock,
        thresholds=_thresholds(registry),
    )
    fetcher = BackgroundFetcher(settings.fetch)
    sink = EventSink(settings)
    source = FeedbackSource(settings)
    server = _serve_metrics(settings, quality, ready=lambda: source.assigned)

    def fetch_many(urls: Sequence[str]) -> dict[str, FetchOutcome]:
        futures = {url: fetcher.submit(url) for url in urls}
        return {url: future.result() for url, future in futures.items()}

    def publish(update: dict[str, Any]) -> None:
        event = ModelUpdate.model_validate(update)
        sink.send(settings.topics.model_updates, event.model_version, encode(event))
        sink.flush()

    policy = RetrainPolicy(settings.trainer.retrain_min_examples, settings.trainer.retrain_interval_s)
    job = RetrainJob(
        store,
        RetrainTrigger(policy, clock),
        train=_default_train(settings, registry, dict(train_options or {})),
        make_update=make_update,
        publish=publish,
        label_set=labels.label_set,
        clock=clock,
        moderator_share=trust.moderator_max_share,
    )
    ingestor = FeedbackIngestor(
        store,
        fetch_many=fetch_many,
        labels=lambda: labels.label_set()[0],
        benign=lambda: labels.label_set()[1],
        check_image=check_image,
        scored=index.get if trust.verify_content else None,
        require_moderator=trust.require_moderator,
        now=clock,
    )
    results_topic = settings.topics.results
    try:
        dlq = settings.topics.feedback_dlq
        with _stop_on_signals() as stop:
            last_activity, joined, last_prune = time.monotonic(), False, 0.0
            while not stop.is_set():
                batch = source.poll(max_messages=poll_batch, timeout_s=poll_timeout_s)
                results = [m.value() for m in batch if m.topic() == results_topic]
                if results:
                    index.record_many(results, now=clock())
                decisions = [m for m in batch if m.topic() != results_topic]
                outcome = ingestor.ingest(decisions) if decisions else BatchOutcome()  # raises on an outage
                released = _settle_held(
                    ingestor, index, held, outcome, clock(), trust.hold_max_s, bool(results)
                )
                if not send_dead_letters(sink, dlq, outcome.dead_letters, sleep=stop.wait):
                    return 1  # an outage of the broker; logged; nothing committed past it
                held.release(released)
                if batch:
                    source.commit(commit_positions(batch))
                    _log_batch(len(decisions), len(results), outcome)
                    last_activity = time.monotonic()
                if results and time.monotonic() - last_prune >= PRUNE_EVERY_S:  # a COUNT is a scan
                    index.prune(
                        now=clock(), max_posts=trust.scored_max_posts, max_age_s=trust.scored_max_age_s
                    )
                    last_prune = time.monotonic()
                quality.add(outcome.judged, benign_label=labels.label_set()[1])
                if job.tick() or (source.assigned and not joined):  # idle counts from the group join
                    last_activity, joined = time.monotonic(), source.assigned
                if stop_after_trainings is not None and job.finished >= stop_after_trainings:
                    log.info("stopping after %d training(s)", job.finished)
                    break
                idle_s = time.monotonic() - last_activity
                if max_idle_s is not None and joined and not job.busy and idle_s >= max_idle_s:
                    log.info("idle for %.1fs; stopping", max_idle_s)
                    break
            if job.busy:
                log.warning("stopping during a training; it resumes at the next start")
    except Exception:
        # Nothing is lost: offsets are committed only after the store, so a restart redoes the batch.
        log.exception("trainer service failed")
        return 1
    finally:
        if server is not None:
            server.close()
        source.close()
        fetcher.close()
        sink.close()
        store.close()
        index.close()
        held.close()
    log.info("trainer service stopped")
    return 0


def _default_train(settings: Settings, registry: Any, options: dict[str, Any]) -> TrainFn:
    def train(dataset: Dataset, work_dir: Path) -> Outcome:
        from trainer.run import train_and_maybe_promote  # heavy: torch, transformers

        return train_and_maybe_promote(
            dataset,
            registry=registry,
            preset=settings.trainer.preset,
            work_dir=work_dir,
            settings=settings.trainer,
            device=settings.device,
            progress=False,
            **options,
        )

    return train


def _settle_held(
    ingestor: FeedbackIngestor,
    index: ScoredIndex,
    held: HeldFeedback,
    outcome: BatchOutcome,
    now: float,
    max_age_s: float,
    new_results: bool,
) -> list[HeldMessage]:
    """Hold what the batch could not verify yet; ingest the held ones whose result arrived; dead-letter
    the ones past the bounds. Adds to `outcome`; returns the held messages to release once the dead
    letters are acknowledged."""
    waiting, outcome.held = outcome.held, []
    refused = held.hold(waiting, now=now)
    outcome.dead_letters.extend(_not_scored(m, "the hold is full") for m in refused)
    settled: list[HeldMessage] = []
    if new_results:
        due = held.due(index.get)
        if due:
            again = ingestor.ingest(due)
            outcome.stored.update(again.stored)
            outcome.image_status.update(again.image_status)
            outcome.dead_letters.extend(again.dead_letters)
            outcome.judged.extend(again.judged)
            still = {id(m) for m, _ in again.held}  # pruned meanwhile: they wait on, or expire
            settled.extend(m for m in due if id(m) not in still)
    expired = [m for m in held.expired(now=now, max_age_s=max_age_s) if m not in settled]
    outcome.dead_letters.extend(
        _not_scored(m, f"no result for this post_id within {max_age_s:.0f}s") for m in expired
    )
    return settled + expired


def _not_scored(message: Message, why: str) -> DeadLetter:
    return DeadLetter(message, "verify", "not_scored", why)


def _thresholds(registry: Any) -> Callable[[str], dict[str, float]]:
    """model_version -> its checkpoint's thresholds (metadata only; a few versions cached)."""
    cache: dict[str, dict[str, float]] = {}

    def read(version: str) -> dict[str, float]:
        if version not in cache:
            from model.checkpoint import read_verified_metadata

            try:
                meta = read_verified_metadata(Path(registry.path(version)))
                found = {str(k): float(v) for k, v in dict(meta.get("thresholds") or {}).items()}
            except Exception:  # not in this registry (or a hostile name): the default threshold
                found = {}
            if len(cache) >= 32:
                cache.pop(next(iter(cache)))
            cache[version] = found
        return cache[version]

    return read


def _serve_metrics(settings: Settings, quality: QualityWindow, *, ready: Callable[[], bool]) -> Any:
    """/metrics (live precision/recall), /healthz, /readyz on feedback.metrics_port; None when 0."""
    if settings.feedback.metrics_port == 0:
        return None
    from prometheus_client import CollectorRegistry, generate_latest

    from ops.health import HealthServer

    registry = CollectorRegistry()
    registry.register(QualityCollector(quality))
    server = HealthServer(
        settings.feedback.metrics_host,
        settings.feedback.metrics_port,
        metrics=lambda: generate_latest(registry),
        alive=lambda: True,
        ready=ready,
    )
    server.start()
    return server


def _log_batch(n: int, results: int, outcome: BatchOutcome) -> None:
    if not n and not outcome.dead_letters and not outcome.stored:
        log.debug("%d result(s) indexed", results)
        return
    log.info(
        "feedback batch of %d (+%d results): stored %s, images %s, dead-lettered %d, held %d",
        n,
        results,
        dict(outcome.stored),
        dict(outcome.image_status),
        len(outcome.dead_letters),
        len(outcome.held),
    )


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT (only the main thread can install handlers)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing the current batch, then stopping", signum)
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""The retraining job of the trainer service: start, resume, harvest, and announce a new version.

    >>> job = RetrainJob(store, trigger, train=train_fn, make_update=make_update_fn, publish=publish_fn,
    ...                  label_set=labels_fn, clock=time.time)
    >>> job.tick()          # after every batch and idle poll: harvest a finished run, maybe start one

A training runs in a worker thread so the service keeps polling Kafka (a consumer that stops polling
for max.poll.interval.ms is thrown out of its group) and keeps storing feedback meanwhile; what arrives
during a training is simply new for the next one (its seq is above the run's snapshot).

Durable steps, in this order, so a crash anywhere loses nothing and repeats at most one step:

    1. snapshot the data set to run_dir/dataset.json     (a resumed run must see the same data)
    2. store.training_started(run)                       -> a restart sees it and resumes (same run_dir)
    3. train_and_maybe_promote(..., work_dir=run_dir/work)  (resumes from its own state in work_dir)
    4. store.training_finished(run, update=event)        -> the examples are no longer new
    5. publish the model-updates event, wait for the ack -> store.update_published()
       (a crash between 4 and 5 publishes the remembered event at the next start)

No moderator steers a retrain: of the examples new since the last training, each moderator supplies at
most `moderator_share` of those used (feedback.moderators.cap_per_moderator); the excess is recorded in
the run as deferred and stays new for the next one. The trigger counts only the examples a run would
use, so a flood from one moderator alone does not start trainings.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from feedback.dataset import load_snapshot, save_snapshot, to_dataset
from feedback.moderators import cap_per_moderator
from feedback.store import FeedbackStore, TrainingRun
from feedback.triggers import RetrainTrigger
from trainer.dataset import Dataset

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """The part of trainer.run.TrainOutcome the job reads."""

    @property
    def version(self) -> str | None: ...
    @property
    def promoted(self) -> bool: ...
    @property
    def candidate_metrics(self) -> dict[str, float]: ...
    @property
    def reason(self) -> str: ...


# (dataset, work_dir) -> outcome; the service binds registry, preset, settings and device
TrainFn = Callable[[Dataset, Path], Outcome]
# (event as JSON-able dict) -> None once the broker acknowledged it; raises otherwise
PublishFn = Callable[[dict[str, Any]], None]
# () -> (labels, benign label) of the serving model, or the defaults when there is none
LabelSetFn = Callable[[], tuple[tuple[str, ...], str | None]]
# (outcome) -> the model-updates event for a promoted version
UpdateFn = Callable[[Outcome], dict[str, Any]]


@dataclass
class _Running:
    run: TrainingRun
    run_dir: Path
    future: Future[Outcome]


class RetrainJob:
    def __init__(
        self,
        store: FeedbackStore,
        trigger: RetrainTrigger,
        *,
        train: TrainFn,
        make_update: UpdateFn,
        publish: PublishFn,
        label_set: LabelSetFn,
        clock: Callable[[], float],
        spawn: Callable[[Callable[[], None]], None] | None = None,
        moderator_share: float = 1.0,
    ) -> None:
        """`spawn` runs the training; default a daemon thread (unit tests pass a synchronous call)."""
        self._store = store
        self._spawn = spawn or _daemon_thread
        self._trigger = trigger
        self._train = train
        self._make_update = make_update
        self._publish = publish
        self._label_set = label_set
        self._clock = clock
        self._share = moderator_share
        self._capped: tuple[tuple[int, int], tuple[int, tuple[str, ...]]] | None = None
        self._running: _Running | None = None
        self.finished = 0  # trainings finished by this process (promoted or not, or failed)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def run_dir(self, run: TrainingRun) -> Path:
        return self._store.data_dir / "training" / f"run-{run.snapshot_seq:09d}"

    def tick(self) -> bool:
        """Harvest a finished training, publish what is owed, maybe start the next. True if one finished."""
        finished = self._harvest()
        self.publish_pending()
        if self._running is None:
            self._maybe_start()
        return finished

    def publish_pending(self) -> None:
        update = self._store.training_state().pending_update
        if update is not None:
            self._publish(update)
            self._store.update_published()
            log.info("published model update %s", update.get("model_version"))

    def _maybe_start(self) -> None:
        state = self._store.training_state()
        latest = self._store.latest_seq()
        usable, deferred = self._cap(state.last_trained_seq, latest)
        decision = self._trigger.decide(state, new_examples=usable)
        if decision.action == "wait":
            return
        log.info("retrain decision: %s (%s)", decision.action, decision.reason)
        if decision.action == "give_up":
            self._store.training_failed(at=self._clock())
            return
        if decision.action == "resume" and state.running is not None:
            run = replace(state.running, attempts=state.running.attempts + 1)
            run_dir = self.run_dir(run)
            snapshot = run_dir / "dataset.json"
            if snapshot.exists():
                dataset = load_snapshot(snapshot)
            else:  # died between starting the record and the snapshot: rebuild the same data
                dataset = self._build(run)
                save_snapshot(snapshot, dataset)
        else:
            labels, benign = self._label_set()
            run = TrainingRun(latest, labels, benign, self._clock(), attempts=1, deferred=deferred)
            run_dir = self.run_dir(run)
            # Earlier runs' dirs (the last one is kept for post-mortems until now) and any stale one.
            shutil.rmtree(run_dir.parent, ignore_errors=True)
            dataset = self._build(run)
            save_snapshot(run_dir / "dataset.json", dataset)
        self._store.training_started(run)
        log.info(
            "training on %d examples (up to seq %d, attempt %d) in %s",
            len(dataset.examples),
            run.snapshot_seq,
            run.attempts,
            run_dir,
        )
        future: Future[Outcome] = Future()
        self._running = _Running(run, run_dir, future)
        self._spawn(lambda: self._work(future, dataset, run_dir / "work"))

    def _cap(self, last_trained_seq: int, snapshot_seq: int) -> tuple[int, tuple[str, ...]]:
        """(how many new examples a run up to snapshot_seq would use, the post_ids it defers).
        Asked after every poll: computed again only when the store changed (a flood is a long read)."""
        key = (last_trained_seq, snapshot_seq)
        if self._capped is not None and self._capped[0] == key:
            return self._capped[1]
        new = self._store.new_since(last_trained_seq, max_seq=snapshot_seq)
        selected, deferred = cap_per_moderator(new, self._share)
        if deferred:
            log.info(
                "moderator cap %.2f: %d new example(s) used, %d deferred",
                self._share,
                len(selected),
                len(deferred),
            )
        self._capped = (key, (len(selected), tuple(deferred)))
        return self._capped[1]

    def _build(self, run: TrainingRun) -> Dataset:
        deferred = set(run.deferred)
        examples = [
            e for e in self._store.examples(max_seq=run.snapshot_seq) if e.record.post_id not in deferred
        ]
        return to_dataset(
            examples, labels=run.labels, benign_label=run.benign_label, blob_path=self._store.blob_path
        )

    def _work(self, future: Future[Outcome], dataset: Dataset, work_dir: Path) -> None:
        try:
            future.set_result(self._train(dataset, work_dir))
        except BaseException as exc:  # reported to the loop, which records the failure
            future.set_exception(exc)

    def _harvest(self) -> bool:
        running = self._running
        if running is None or not running.future.done():
            return False
        self._running = None
        self.finished += 1
        try:
            outcome = running.future.result()
        except Exception:
            log.exception("training on data up to seq %d failed; backing off", running.run.snapshot_seq)
            self._store.training_failed(at=self._clock())
            return True
        update = self._make_update(outcome) if outcome.promoted and outcome.version else None
        self._store.training_finished(running.run, at=self._clock(), update=update)
        log.info(
            "training finished: promoted=%s version=%s (%s) metrics=%s",
            outcome.promoted,
            outcome.version,
            outcome.reason,
            outcome.candidate_metrics,
        )
        return True


def _daemon_thread(work: Callable[[], None]) -> None:
    # Daemon: at SIGTERM the service exits without waiting; the run resumes at the next start.
    threading.Thread(target=work, name="trainer-run", daemon=True).start()

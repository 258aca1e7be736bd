"""`modstream consume`: the poll loop. consumer/assembly.py builds, starts and closes the parts around it.

The poll loop is the only thread that touches the Kafka consumer and the offset ledger:

    consume() ─► decode ─bad─► dead letter
                  │
                  ├─► text only: cache lookup (one batched call) ─hit─► publish cached result
                  ├─► image fetch on the background fetcher ─► cache lookup by the image bytes' sha256
                  │                    (batched on the poll loop's next turn) ─hit─► publish cached result
                  └───────────────────────────────────────────────miss─┴─► PrepWorker ─► ModelWorker ─► Outlet
    delivery reports ─► Completion queue ─► ledger.done ─► commit the watermark every commit_interval_s

Where a taken post goes next (a cached result, an image fetch, the prep worker) is consumer/router.py's;
cache lookups are keyed by what is scored (consumer/cache_lookup.py), one batched call per turn.

Backpressure (`consumer.intake_gate.IntakeGate`): intake takes only what fits under the in-flight bound
(posts taken and not acknowledged; measured posts/s x `target_latency_s`, within `min_in_flight`..
`max_in_flight`) and the image budget (`fetch.max_in_flight`: posts waiting for their image count apart,
so a slow image host cannot hold back text-only posts); at a bound it waits for acknowledgements, and held
there `pause_after_s` it pauses every assigned partition and keeps polling (heartbeats, rebalances,
max.poll.interval.ms); below `resume_below` x that, they resume.
Stop (SIGTERM, --max-messages, --idle-exit): take nothing more,
drain in-flight posts until `drain_grace_s`, flush the producer, commit, close.

Supervision (`consumer.supervisor`): on every turn the loop checks that every pipeline thread lives and
that no post has been in flight longer than `max_in_flight_age_s`. When one fails, /healthz turns 503,
the loop stops at once (a dead stage cannot drain), commits only the contiguous watermark (never past
the unfinished posts) and `run()` returns 1, so the orchestrator restarts the process.

    >>> service = ConsumerService(Settings(), max_messages=1000)
    >>> exit_code = service.run()
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from consumer.errors import DeliveryFailed, FatalError, Where, action_for, post_error
from consumer.flow import retry_delivery
from consumer.image_budget import ImageBudget
from consumer.intake_gate import IntakeGate
from consumer.ledger import OffsetLedger, TopicPartition
from consumer.metrics import ConsumerMetrics
from consumer.outlet import Completion
from consumer.router import Router
from consumer.routing import Job
from consumer.supervisor import InFlightAges, Supervisor
from events.schemas import decode_post
from events.settings import Settings

log = logging.getLogger(__name__)

# --idle-exit: before the group has assigned anything, wait at least this long for the join.
_JOIN_ALLOWANCE_S = 60.0
# A revoked partition waits at most this long for its in-flight posts before they are abandoned.
_REVOKE_DRAIN_S = 10.0


if TYPE_CHECKING:
    from consumer.assembly import Assembler, Parts


class ConsumerService:
    def __init__(
        self,
        settings: Settings,
        *,
        max_messages: int | None = None,
        idle_exit_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        assemble: Assembler | None = None,
    ) -> None:
        self.settings = settings
        self.max_messages = max_messages
        self.idle_exit_s = idle_exit_s
        self.clock = clock
        self.metrics = ConsumerMetrics()
        self.ledger = OffsetLedger()
        self.gate = IntakeGate(settings, self.metrics, clock=clock)  # how much intake may take; pausing
        self.exit_code = 0
        self._stop = threading.Event()
        self._subscribed = False
        self._ages = InFlightAges()
        self._supervisor: Supervisor | None = None  # set once the workers run
        self._fault: str | None = None  # why the pipeline is broken; set by the poll loop only
        self._assemble = assemble
        self._assignment_changed = False
        self._assigned_once = False
        self._last_loop = clock()
        self._last_activity = clock()
        self._taken = 0
        self._parts: Parts | None = None  # the assembled components, set in run()
        self._router = Router(
            lambda: self.parts, self.gate.images, self.metrics, settings.consumer.poll_batch
        )

    # -- control ----------------------------------------------------------------------------------------

    def stop(self, reason: str = "requested") -> None:
        """Stop taking posts and drain (signal-safe: only sets a flag)."""
        if not self._stop.is_set():
            log.info("stopping: %s", reason)
        self._stop.set()

    def ready(self) -> bool:
        return self._subscribed and not self._stop.is_set() and self._parts is not None and self.alive()

    @property
    def parts(self) -> Parts:
        """The assembled components, once `run` has built them: for tests and diagnostics."""
        if self._parts is None:
            raise RuntimeError("the service has not assembled its parts yet")
        return self._parts

    @property
    def health_port(self) -> int | None:
        """The port /healthz answers on (None before `run`, or when the server is off)."""
        return self._parts.health_port if self._parts is not None else None

    @property
    def fault(self) -> str | None:
        """Why the pipeline was found broken (a dead stage, a stuck post), or None."""
        return self._fault

    def alive(self) -> bool:
        """/healthz: the poll loop turns, and supervision found nothing broken."""
        if self._fault is not None:
            return False
        return self.clock() - self._last_loop < max(60.0, 2 * self.settings.consumer.drain_grace_s)

    # -- run --------------------------------------------------------------------------------------------

    def run(self) -> int:
        s = self.settings
        log.info("settings %s", json.dumps(s.redacted(), sort_keys=True))
        if self._assemble is None:
            from consumer.assembly import assemble as build
        else:
            build = self._assemble
        parts = build(s, self.metrics, clock=self.clock, hooks=self)
        self._parts = parts
        try:
            if not self._wait_for_model():
                return self.exit_code
            parts.start_workers()
            self._supervisor = Supervisor(
                parts.stages(), max_age_s=s.consumer.max_in_flight_age_s, clock=self.clock
            )
            parts.source.subscribe()
            self._subscribed = True
            self._loop()
        except FatalError as exc:
            log.error("fatal: %s", exc)
            self.exit_code = 1
        finally:
            self._shutdown()
        log.info("consumer stopped (exit %d, %d posts taken)", self.exit_code, self._taken)
        return self.exit_code

    def _wait_for_model(self) -> bool:
        """Not ready and not consuming until a model version serves."""
        manager = self.parts.manager
        if manager.current is None:
            log.info("no model version serving yet (registry %s): not ready", self.settings.model.registry)
        while manager.current is None:
            if self._stop.wait(0.2):
                return False
            self._last_loop = self.clock()
        return True

    def _loop(self) -> None:
        c = self.settings.consumer
        next_commit = self.clock() + c.commit_interval_s
        drain_deadline: float | None = None
        self._last_activity = self.clock()
        while True:
            now = self.clock()
            self._last_loop = now
            self._supervise()
            if self.max_messages is not None and self._taken >= self.max_messages:
                self.stop(f"--max-messages {self.max_messages} reached")
            if self.idle_exit_s is not None and self.ledger.in_flight() == 0:
                # idle counts from the first assignment: a slow group join is not idleness
                limit = self.idle_exit_s if self._assigned_once else max(self.idle_exit_s, _JOIN_ALLOWANCE_S)
                if now - self._last_activity >= limit:
                    self.stop(f"idle for {self.idle_exit_s}s")
            if self._stop.is_set():
                if drain_deadline is None:
                    drain_deadline = now + c.drain_grace_s
                    self._backpressure()
                if self.ledger.in_flight() == 0 or now >= drain_deadline or self._fault is not None:
                    return
            records = self._poll(c.poll_batch, c.poll_timeout_s)
            if records and not self._stop.is_set():
                self._intake(records)
            self._router.lookup_fetched()
            self.parts.sink.poll(0)
            self._handle_completions()
            self._backpressure()
            if now >= next_commit:
                next_commit = now + c.commit_interval_s
                self._commit()
                self._observe_lag()

    def _poll(self, batch: int, timeout_s: float) -> list[Any]:
        """Records to take now: at most the room under the in-flight bound. With no room, nothing is
        consumed (librdkafka keeps its prefetched messages) and the loop waits for acknowledgements
        instead; while paused, consume() still runs, to serve rebalances, and returns only records of a
        new assignment that slipped in before the pause reached it (every record consumed is taken)."""
        source, sink = self.parts.source, self.parts.sink
        want = min(batch, self.gate.room(self.ledger.in_flight()))
        if self.max_messages is not None:
            want = min(want, self.max_messages - self._taken)
        if want > 0:
            return list(source.consume(want, timeout_s))
        records = list(source.consume(1, 0)) if self.gate.flow.paused else []
        if not records:
            sink.poll(timeout_s)  # wakes on the first delivery report
        return records

    def _supervise(self) -> None:
        if self._supervisor is None or self._fault is not None:
            return
        reason = self._supervisor.fault(self._ages.oldest())
        if reason is None:
            return
        self._fault = reason
        log.error("unhealthy: %s; stopping, committing only finished work, exit 1", reason)
        self.metrics.in_flight.set(self.ledger.in_flight())
        self.exit_code = 1
        self.stop(reason)

    # -- intake -----------------------------------------------------------------------------------------

    def _intake(self, records: list[Any]) -> None:
        """Take each record (in flight from here on) and route it: every record ends in exactly one of
        dead letter, cached result, image fetch or the prep worker, and nothing a record holds raises out
        of here (errors.py: a decode failure of any kind is DEAD_LETTER, a failed lookup or fetch
        submission DEGRADE)."""
        now = self.clock()
        self._last_activity = now
        jobs = [job for rec in records if (job := self._take(rec, now)) is not None]
        self.metrics.consumed.inc(len(records))
        self.metrics.in_flight.set(self.ledger.in_flight())
        for job, cached in zip(jobs, self._router.lookup(jobs, early=True), strict=True):
            self._router.route(job, cached)

    def _take(self, rec: Any, now: float) -> Job | None:
        """The record's Job with its post, or None when the record went to the dead-letter topic."""
        self.ledger.take((rec.topic, rec.partition), rec.offset)
        self._ages.take((rec.topic, rec.partition), rec.offset, now)
        self._taken += 1
        job = Job(Where(rec.topic, rec.partition, rec.offset), rec.key, rec.value, now, rec.timestamp_s)
        job.replay = getattr(rec, "replay", ())  # fakes in unit tests may not carry it
        try:
            job.post = decode_post(rec.value)
        except Exception as exc:  # InvalidEvent, or anything the decoder did not foresee: decode/<reason>
            error = post_error(exc, stage="decode", where=job.where)
            self.parts.outlet.dead_letter(job, error)
            return None
        job.where = Where(rec.topic, rec.partition, rec.offset, job.post.post_id)
        return job

    # -- completions, commits, backpressure -------------------------------------------------------------

    def _handle_completions(self) -> None:
        completions = self.parts.outlet.completions
        while True:
            try:
                done: Completion = completions.get_nowait()
            except queue.Empty:
                break
            if done.error is not None:
                self._delivery_failed(done)
                continue
            where = done.job.where
            self._ages.done((where.topic, where.partition), where.offset)
            if not self.ledger.done((where.topic, where.partition), where.offset):
                continue  # its partition was revoked or lost meanwhile
            self.gate.completed()
            if done.stage is not None:
                self.metrics.dead_letters.labels(stage=done.stage, reason=done.reason or "").inc()
            else:
                self.metrics.published.labels(cached=str(done.cached).lower()).inc()
            if done.job.timestamp_s is not None:
                self.metrics.end_to_end.observe(max(0.0, time.time() - done.job.timestamp_s))
        self.metrics.in_flight.set(self.ledger.in_flight())

    def _delivery_failed(self, done: Completion) -> None:
        error = DeliveryFailed(done.error or "", reason="delivery", where=done.job.where)
        if retry_delivery(action_for(error), done.attempts):
            log.warning("%s; publishing again (attempt %d)", error, done.attempts + 1)
            self.metrics.delivery_retries.inc()
            self.parts.outlet.resend(done)
            return
        log.error("%s; giving up: stopping without committing past it", error)
        self.exit_code = 1
        self.stop("delivery failed")

    def _commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        offsets = self.ledger.committable() if offsets is None else offsets
        if not offsets:
            return
        if self.parts.source.commit(offsets):
            self.ledger.mark_committed(offsets)
            self.metrics.commits.labels(outcome="ok").inc()
        else:
            self.metrics.commits.labels(outcome="failed").inc()

    def _backpressure(self) -> None:
        self.gate.update(
            self.parts.source,
            in_flight=self.ledger.in_flight(),
            stopping=self._stop.is_set(),
            assignment_changed=self._assignment_changed,
        )
        self._assignment_changed = False

    @property
    def images(self) -> ImageBudget:
        """Posts waiting for their image (the gate's budget)."""
        return self.gate.images

    @property
    def peak_in_flight(self) -> int:
        """The most posts ever in flight at once (tests check the bounds)."""
        return self.gate.peak_in_flight

    def _observe_lag(self) -> None:
        source = self.parts.source
        for (topic, partition), lag in source.lag(source.assignment()).items():
            self.metrics.lag.labels(topic=topic, partition=str(partition)).set(lag)

    # -- rebalance callbacks (run on the poll thread, inside consume) -----------------------------------

    def on_assign(self, tps: list[TopicPartition]) -> None:
        log.info("assigned %s", tps)
        self._assignment_changed = True
        self._assigned_once = self._assigned_once or bool(tps)
        self._last_activity = self.clock()

    def on_revoke(self, tps: list[TopicPartition]) -> None:
        """Drain the revoked partitions' posts (bounded), commit their watermark, forget them."""
        log.info("revoked %s", tps)
        deadline = self.clock() + min(_REVOKE_DRAIN_S, self.settings.consumer.drain_grace_s)
        while any(self.ledger.in_flight(tp) for tp in tps) and self.clock() < deadline:
            self._router.lookup_fetched()
            self.parts.sink.poll(0.05)
            self._handle_completions()
        offsets = {tp: mark for tp in tps if (mark := self.ledger.revoke(tp)) is not None}
        self._commit(offsets)
        self._forget(tps)

    def on_lost(self, tps: list[TopicPartition]) -> None:
        log.warning("lost %s: their in-flight posts are abandoned, nothing committed", tps)
        for tp in tps:
            self.ledger.lose(tp)
        self._forget(tps)

    def _forget(self, tps: list[TopicPartition]) -> None:
        self._assignment_changed = True
        self._ages.forget(tps)
        for topic, partition in tps:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(topic, str(partition))

    # -- shutdown ---------------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        parts = self._parts
        if parts is None:
            return
        self._subscribed = False
        grace = self.settings.consumer.drain_grace_s
        # a broken pipeline cannot finish its queue: do not wait long for it
        parts.stop_workers(timeout_s=min(grace, 10.0) if self._fault is None else 1.0)
        remaining = parts.sink.flush(min(grace, 10.0))
        if remaining:
            log.warning("%d outputs not acknowledged at exit: their offsets stay uncommitted", remaining)
        self._handle_completions()
        if parts.source_started:
            self._commit()
        parts.close()

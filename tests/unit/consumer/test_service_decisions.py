"""The poll loop's decisions with plain stubs for its parts: delivery reports drive the ledger (a refused
output is published again, then the service stops without committing past it), and backpressure pauses
above the in-flight bound and resumes below the low mark."""

from __future__ import annotations

import queue
from types import SimpleNamespace

from consumer.errors import MAX_RETRIES, Where
from consumer.outlet import Completion
from consumer.routing import Job
from consumer.service import ConsumerService
from events.settings import Settings

TP = ("posts", 0)


class StubOutlet:
    def __init__(self) -> None:
        self.completions: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self.resent: list[int] = []

    def resend(self, completion: Completion) -> None:
        self.resent.append(completion.job.where.offset)


class StubSource:
    def __init__(self) -> None:
        self.paused: set[tuple[str, int]] = set()

    def assignment(self) -> list[tuple[str, int]]:
        return [TP, ("posts", 1)]

    def pause(self, tps: list[tuple[str, int]]) -> None:
        self.paused |= set(tps)

    def resume(self, tps: list[tuple[str, int]]) -> None:
        self.paused -= set(tps)


NOW = [0.0]  # the services' fake clock


def _service(**consumer: object) -> tuple[ConsumerService, StubOutlet, StubSource]:
    service = ConsumerService(Settings(_env_file=None, consumer=consumer), clock=lambda: NOW[0])
    outlet, source = StubOutlet(), StubSource()
    service._parts = SimpleNamespace(outlet=outlet, source=source)
    return service, outlet, source


def _done(offset: int, error: str | None = None, attempts: int = 1) -> Completion:
    job = Job(Where(*TP, offset, f"p{offset}"), None, None, consumed_at=0.0)
    return Completion(job, "results", None, b"{}", None, error=error, attempts=attempts)


def test_delivery_reports_drive_the_watermark_and_retries() -> None:
    service, outlet, _ = _service()
    for offset in range(3):
        service.ledger.take(TP, offset)
    for completion in (_done(0), _done(1, "msg_timed_out"), _done(2)):
        outlet.completions.put(completion)
    service._handle_completions()
    assert outlet.resent == [1]  # RETRY: published again
    assert service.ledger.committable() == {TP: 1}  # never past the refused output
    outlet.completions.put(_done(1, "msg_timed_out", attempts=MAX_RETRIES + 1))
    service._handle_completions()
    assert outlet.resent == [1] and service.exit_code == 1  # out of retries: STOP, exit non-zero
    assert service.ledger.committable() == {TP: 1}
    outlet.completions.put(_done(1))  # had it been acknowledged after all
    service._handle_completions()
    assert service.ledger.committable() == {TP: 3}


def test_backpressure_holds_at_the_bound_pauses_when_held_and_resumes_below_the_low_mark() -> None:
    service, _, source = _service(max_in_flight=100, resume_below=0.5, pause_after_s=1.0)
    for offset in range(101):
        service.ledger.take(TP, offset)
    service._backpressure()
    assert source.paused == set() and service.gate.flow.room(101) == 0  # held: intake takes nothing
    NOW[0] += 1.0  # held for pause_after_s: the pipeline is stuck, pause
    service._backpressure()
    assert source.paused == {TP, ("posts", 1)}
    for offset in range(51):  # 50 left: not below 50 yet
        service.ledger.done(TP, offset)
    service._backpressure()
    assert source.paused
    service.ledger.done(TP, 51)  # 49 left
    service._backpressure()
    assert source.paused == set()
    assert service.metrics.registry.get_sample_value("modstream_pauses_total") == 1

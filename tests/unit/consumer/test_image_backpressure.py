"""Backpressure with the image budget: posts waiting for their image do not count against
max_in_flight (text-only posts keep flowing), and a full image budget pauses every partition."""

from __future__ import annotations

from types import SimpleNamespace

from consumer.service import ConsumerService
from events.settings import Settings
from tests.unit.consumer.test_service_decisions import TP, StubSource

NOW = [0.0]  # the services' fake clock


def _service(max_in_flight: int, images: int) -> tuple[ConsumerService, StubSource]:
    settings = Settings(
        _env_file=None,
        consumer={"max_in_flight": max_in_flight, "resume_below": 0.5, "pause_after_s": 1.0},
        fetch={"max_in_flight": images},
    )
    service = ConsumerService(settings, clock=lambda: NOW[0])
    source = StubSource()
    service._parts = SimpleNamespace(source=source)
    return service, source


def _take(service: ConsumerService, n: int, *, image: bool) -> None:
    start = service.ledger.in_flight(TP)
    for offset in range(start, start + n):
        service.ledger.take(TP, offset)
        if image:
            service.images.started()


def test_posts_waiting_for_images_do_not_pause_text() -> None:
    service, source = _service(max_in_flight=20, images=100)
    _take(service, 60, image=True)  # three times max_in_flight, all waiting on a slow host
    _take(service, 20, image=False)  # text-only: exactly at the bound, not above
    service._backpressure()
    assert source.paused == set()
    assert (
        service.gate.flow.room(service.gate.text_in_flight(service.ledger.in_flight())) == 0
    )  # held: no room for more text
    assert service.peak_in_flight == 80  # all of them are in flight; only 20 count against the bound
    _take(service, 1, image=False)  # the 21st text post is over the bound: held, then paused
    service._backpressure()
    NOW[0] += 1.0
    service._backpressure()
    assert source.paused == {TP, ("posts", 1)}


def test_a_fetched_post_counts_against_max_in_flight_again() -> None:
    service, source = _service(max_in_flight=20, images=100)
    _take(service, 30, image=True)
    service._backpressure()
    assert source.paused == set()
    for _ in range(21):  # their images arrived (or failed): they go on to be scored, still in flight
        service.images.finished()
    service._backpressure()
    assert (
        service.gate.flow.room(service.gate.text_in_flight(service.ledger.in_flight())) == 0
    )  # over the bound: intake held
    NOW[0] += 1.0
    service._backpressure()
    assert source.paused == {TP, ("posts", 1)}


def test_a_full_image_budget_pauses_until_below_the_low_mark() -> None:
    service, source = _service(max_in_flight=1000, images=10)
    _take(service, 9, image=True)
    service._backpressure()
    assert source.paused == set()
    assert service.images.room() == 1  # intake may take one more post: it might carry an image
    _take(service, 1, image=True)  # 10 waiting: the fetch stage is saturated across hosts
    service._backpressure()
    assert source.paused == set()  # intake is held first: nothing more is taken ...
    assert service.images.room() == 0
    NOW[0] += 1.0  # ... and held for pause_after_s, the partitions pause
    service._backpressure()
    assert source.paused == {TP, ("posts", 1)}
    assert service.metrics.registry.get_sample_value("modstream_awaiting_images") == 10
    for _ in range(5):  # 5 left: not below 0.5 x 10 yet
        service.images.finished()
    service._backpressure()
    assert source.paused
    service.images.finished()  # 4 left
    service._backpressure()
    assert source.paused == set()
    assert service.metrics.registry.get_sample_value("modstream_pauses_total") == 1

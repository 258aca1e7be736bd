"""The router's cache path with plain stubs: a cached result that cannot be served is a miss, never a loss,
whether the hit came at intake or after the image arrived."""

from __future__ import annotations

import queue
from types import SimpleNamespace
from typing import Any

from consumer.errors import Where
from consumer.image_budget import ImageBudget
from consumer.metrics import ConsumerMetrics
from consumer.router import Router
from consumer.routing import Job
from events.schemas import LabelScore, Post, Result


class Outlet:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.published: list[tuple[str, bool]] = []

    def publish(self, job: Job, result: Result) -> None:
        if self.fail:
            raise RuntimeError("the outlet refused it")
        self.published.append((result.post_id, result.cached))


class Fetcher:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, url: str) -> Any:
        self.submitted.append(url)
        raise RuntimeError("not started")  # the fetch fails at once: the job goes on to prep


CACHED = Result(
    post_id="someone-else",
    labels=[LabelScore(label="Racist", score=0.9)],
    scores={"Racist": 0.9},
    flagged=True,
    model_version="v1",
    image_status="absent",
)


def router(fail: bool) -> tuple[Router, Any]:
    parts = SimpleNamespace(
        outlet=Outlet(fail), prep=SimpleNamespace(inbox=queue.SimpleQueue()), fetcher=Fetcher()
    )
    return Router(lambda: parts, ImageBudget(8), ConsumerMetrics(), poll_batch=16), parts  # type: ignore[arg-type]


def job(post_id: str, image_url: str | None = None) -> Job:
    j = Job(Where("posts", 0, 1, post_id), None, None, consumed_at=0.0)
    j.post = Post(post_id=post_id, text="hello", image_url=image_url)
    return j


def test_a_hit_is_published_as_this_posts_cached_result() -> None:
    r, parts = router(fail=False)
    r.route(job("p1"), CACHED)
    assert parts.outlet.published == [("p1", True)]
    assert parts.prep.inbox.empty()


def test_a_hit_that_cannot_be_served_at_intake_goes_on_as_a_miss() -> None:
    r, parts = router(fail=True)
    r.route(job("p1"), CACHED)  # text only: to prep
    r.route(job("p2", image_url="http://cdn.example/a.jpg"), CACHED)  # with an image: to the fetcher
    assert parts.outlet.published == []
    assert parts.fetcher.submitted == ["http://cdn.example/a.jpg"]
    assert [parts.prep.inbox.get_nowait().where.post_id for _ in range(2)] == ["p1", "p2"]
    assert r.images.waiting == 0


def test_a_hit_after_the_fetch_that_cannot_be_served_goes_to_prep() -> None:
    r, parts = router(fail=True)
    r._fetched_jobs.put(job("p3"))
    r.lookup = lambda jobs, early: [CACHED] * len(jobs)  # type: ignore[method-assign]
    r.lookup_fetched()
    assert parts.prep.inbox.get_nowait().where.post_id == "p3"

"""ResultLookup with the in-process cache: what is stored, under which keys, and what a lookup returns."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from consumer.cache import MemoryCache
from consumer.cache_codec import ResultCodec
from consumer.cache_keys import cache_key
from consumer.cache_lookup import ResultLookup
from consumer.errors import Where
from consumer.routing import Job, scored_content_id
from events.content import content_id, image_digest
from events.schemas import Post, Result

LABELS = ("NotHate", "Racist", "Sexist")
SERVING = SimpleNamespace(version="v1", labels=LABELS)
PICTURE = image_digest(b"picture")


def _job(text: str | None, url: str | None, status: str, sha: str | None = PICTURE) -> Job:
    job = Job(Where("posts", 0, 1, "p1"), b"p1", b"{}", 0.0)
    job.post = Post(post_id="p1", text=text, image_url=url)
    job.image_status = status  # type: ignore[assignment]
    job.image_sha256 = sha if url is not None else None
    return job


def _result(job: Job) -> Result:
    return Result(
        post_id="p1",
        labels=[
            {"label": "Racist", "score": 0.7},
            {"label": "Sexist", "score": 0.2},
            {"label": "NotHate", "score": 0.1},
        ],  # type: ignore[list-item]
        scores={"NotHate": 0.1, "Racist": 0.7, "Sexist": 0.2},
        flagged=True,
        model_version="v1",
        image_status=job.image_status,
        content_id=scored_content_id(job),
    )


def _lookup(hosts: tuple[str, ...] = ()) -> tuple[ResultLookup, MemoryCache]:
    cache = MemoryCache(100, 60)
    return ResultLookup(cache, ResultCodec(b"k"), prefix="p:", url_keyed_hosts=hosts), cache


@pytest.mark.parametrize("status", ["failed", "blocked"])
def test_a_result_without_its_image_is_never_stored(status: str) -> None:
    lookup, _ = _lookup()
    job = _job("text", "https://img.example/a.png", status)
    assert lookup.entries(job, _result(job)) == []


def test_an_image_result_is_stored_by_content_and_found_after_the_fetch() -> None:
    lookup, cache = _lookup()
    job = _job("text", "https://img.example/a.png", "ok")
    [(key, value)] = lookup.entries(job, _result(job))
    assert key == cache_key("p:", "v1", "text", PICTURE) and value.startswith(b"ms1:")
    cache.set_many([(key, value)])
    assert lookup.early(job, "v1") is None  # an image post waits for its bytes
    repost = _job("text", "https://mirror.example/b.png", "ok")  # same bytes, another URL
    [found] = lookup.get_many(SERVING, [lookup.fetched(repost, "v1")])
    assert found is not None and found.content_id == content_id("text", PICTURE)
    swapped = _job("text", "https://img.example/a.png", "ok", sha=image_digest(b"swapped"))
    assert lookup.get_many(SERVING, [lookup.fetched(swapped, "v1")]) == [None]


def test_a_listed_immutable_host_is_also_stored_and_found_by_url() -> None:
    lookup, cache = _lookup(("cdn.example",))
    job = _job("text", "https://cdn.example/3f9a.png", "ok")
    entries = lookup.entries(job, _result(job))
    assert len(entries) == 2 and entries[1][0].startswith("p:url:")
    cache.set_many(entries)
    early = lookup.early(_job("text", "https://cdn.example/3f9a.png", "ok", sha=None), "v1")
    assert early is not None and early[1] is None
    [found] = lookup.get_many(SERVING, [early])
    assert found is not None


def test_rejections_are_reported_with_their_reason() -> None:
    reasons: list[str] = []
    cache = MemoryCache(100, 60)
    lookup = ResultLookup(cache, ResultCodec(b"k"), prefix="p:", on_rejected=reasons.append)
    job = _job("text", None, "absent")
    key, cid = lookup.early(job, "v1") or ("", None)
    cache.set_many([(key, b'{"post_id": "forged"}')])
    assert lookup.get_many(SERVING, [(key, cid)]) == [None] and reasons == ["unsigned"]

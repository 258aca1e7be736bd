"""Which cache key a post is looked up and stored under, and which cached values may be published. Plain
logic over a ResultCache and a ResultCodec; no I/O of its own.

    >>> lookup = ResultLookup(cache, ResultCodec(key), prefix="modstream:result:", on_rejected=count)
    >>> lookup.early(job)              # at intake: text-only posts (and the opt-in URL shortcut) have a key
    >>> lookup.lookup(jobs, predictor, early=True)  # one call -> (Result or None per job, n looked up)
    >>> lookup.entries(job, result)    # after publishing: the signed (key, value) pairs to write

When a post is looked up:

    text only                 at intake, by (model version, text)
    with an image             after the fetch, by (model version, text, sha256 of the fetched bytes): a
                              picture swapped behind a URL is new content, and costs one fetch, never a
                              forward pass of the old verdict
    image failed / blocked    never: such results are not cached (consumer.routing.CACHEABLE_STATUSES)
    host in url_keyed_hosts   also at intake, by URL (opt-in; README "Cache security")

Every value read back passes `ResultCodec.open` or is a miss, counted by its reason (`on_rejected`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from consumer.cache import ResultCache
from consumer.cache_codec import ResultCodec
from consumer.cache_keys import cache_key, url_key, url_keyed
from consumer.routing import CACHEABLE_STATUSES, Job, scored_content
from events.content import content_id
from events.schemas import Result, encode


class Serving(Protocol):
    @property
    def version(self) -> str: ...
    @property
    def labels(self) -> Sequence[str]: ...


class ResultLookup:
    def __init__(
        self,
        cache: ResultCache,
        codec: ResultCodec,
        *,
        prefix: str,
        url_keyed_hosts: Sequence[str] = (),
        on_rejected: Callable[[str], None] | None = None,
    ) -> None:
        self.cache = cache
        self._codec = codec
        self._prefix = prefix
        self._url_hosts = frozenset(h.lower() for h in url_keyed_hosts)
        self._on_rejected = on_rejected

    def early(self, job: Job, version: str) -> tuple[str, str | None] | None:
        """(key, expected content_id) to look `job` up by at intake, or None (it waits for its image)."""
        post = job.post
        if post is None:
            return None
        if post.image_url is None:
            return cache_key(self._prefix, version, post.text, None), content_id(post.text, None)
        if url_keyed(post.image_url, self._url_hosts):
            return url_key(self._prefix, version, post.text, post.image_url), None
        return None

    def fetched(self, job: Job, version: str) -> tuple[str, str | None]:
        """(key, content_id) of a post whose image arrived (job.image_sha256 set, image_status "ok")."""
        text, sha = scored_content(job)
        return cache_key(self._prefix, version, text, sha), content_id(text, sha)

    def lookup(
        self, jobs: Sequence[Job], predictor: Serving, *, early: bool
    ) -> tuple[list[Result | None], int]:
        """One batched lookup of the jobs that have a key now (`early`: at intake, else: their image
        arrived): an authentic Result or None per job, and how many were looked up."""
        out: list[Result | None] = [None] * len(jobs)
        wanted: dict[int, tuple[str, str | None]] = {}
        for i, job in enumerate(jobs):
            key = self.early(job, predictor.version) if early else self.fetched(job, predictor.version)
            if key is not None:
                wanted[i] = key
        for i, result in zip(wanted, self.get_many(predictor, list(wanted.values())), strict=True):
            out[i] = result
        return out, len(wanted)

    def get_many(self, predictor: Serving, wanted: Sequence[tuple[str, str | None]]) -> list[Result | None]:
        """One batched lookup of (key, expected content_id) pairs: the authentic Result or None for each.
        Raises only what the cache raises (callers treat that as all misses)."""
        if not wanted:
            return []
        values = list(self.cache.get_many([key for key, _ in wanted]))
        if len(values) != len(wanted):  # never trust a reply that does not line up
            return [None] * len(wanted)
        out: list[Result | None] = []
        for (key, cid), raw in zip(wanted, values, strict=True):
            if raw is None:
                out.append(None)
                continue
            opened = self._codec.open(
                key, raw, labels=predictor.labels, version=predictor.version, content_id=cid
            )
            if opened.reason is not None and self._on_rejected is not None:
                self._on_rejected(opened.reason)
            out.append(opened.result)
        return out

    def entries(self, job: Job, result: Result) -> list[tuple[str, bytes]]:
        """The signed cache entries for a freshly scored `result` of `job` (none when it must not be cached).
        Keyed by the version that scored it, which may be newer than the one looked up at intake."""
        post = job.post
        if post is None or result.cached or result.image_status not in CACHEABLE_STATUSES:
            return []
        if result.content_id is None:
            return []
        value = encode(result)
        text, sha = scored_content(job)
        keys = [cache_key(self._prefix, result.model_version, text, sha)]
        if post.image_url is not None and url_keyed(post.image_url, self._url_hosts):
            keys.append(url_key(self._prefix, result.model_version, post.text, post.image_url))
        return [(key, self._codec.seal(key, value)) for key in keys]

"""The image fetcher: pooled httpx transports on one event loop, every fetch bounded and policed.

    >>> fetcher = ImageFetcher(settings.fetch, observe=lambda outcome, s: latency.labels(outcome).observe(s))
    >>> result = await fetcher.fetch("https://images.example.com/cat.jpg")
    >>> result.status, result.reason       # ("ok", None) / ("failed", "http_404") / ("blocked", "scheme")
    >>> await fetcher.aclose()

One fetch = up to `retries + 1` tries, each following up to `max_redirects` redirects by hand, all of
it inside one total deadline; waiting for a concurrency slot is backpressure, not a slow host, and
stops the deadline's clock (the wait has its own bound, `slot_wait_s`). Every hop is checked by
`check_url` (scheme, literal addresses) before it is requested and by the guarded connection layer
(resolved addresses) when it connects. The body is streamed and abandoned as soon as it passes
`max_bytes`; what arrives is accepted only if its magic bytes say it is an image. `fetch` never
raises for a problem with one URL: it says what happened in a `FetchResult` ("ok", "failed" or
"blocked", with a short reason code).

Fairness: a request to a stranger's host holds a slot of its registrable domain, then (resolved, and
pinned for the connection) a slot of the address it connects to, then a global one (`fetcher.limits`);
a busy domain or address fails fast with "host_busy" instead of queueing behind a slow host. The
platform's `trusted_hosts` bypass all of that: their own connection pool and bound, no waiter cap,
the same SSRF checks (trusted is not allow-listed).

Requests go to httpx's transports directly, not through an `httpx.AsyncClient`: the fetcher follows
redirects itself and wants no cookies, auth or proxies from the environment, and the client's
machinery for those (request merging, auth and redirect generators, a cookie jar that parses every
response) cost about a sixth of a fetch's CPU at a thousand fetches a second. No cookie is ever
stored or sent: one fetcher serves every post's URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal

import httpx

from events.settings import FetchSettings
from fetcher.hostkeys import address_key, domain_key
from fetcher.limits import FetchLimits, NoSlot
from fetcher.network import (
    BlockedAddress,
    GuardedBackend,
    GuardedTransport,
    ResolveError,
    Resolver,
    new_ssl_context,
    pinned_addresses,
    system_resolver,
)
from fetcher.policy import AllowList, check_url, url_port
from fetcher.pools import TransportPool
from fetcher.retry import backoff_delay, should_retry
from fetcher.sniff import sniff_image_type

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "blocked"]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Trusted hosts serve at a high rate: keep their connections open between bursts.
_TRUSTED_KEEPALIVE_S = 30.0


@dataclass(frozen=True)
class FetchResult:
    status: Status
    data: bytes | None  # the body, when ok
    reason: str | None  # None when ok; else a short code: "http_404", "timeout", "too_large", ...
    elapsed_s: float
    final_url: str | None = None


@dataclass(frozen=True)
class _Step:
    """What one try (or one request of it) came to; `redirect` set when it must go on."""

    status: Status
    reason: str | None = None
    data: bytes | None = None
    url: str | None = None
    redirect: str | None = None


def _failed(reason: str, url: str | None = None) -> _Step:
    return _Step("failed", reason, url=url)


def _parse(url: str | httpx.URL) -> httpx.URL | None:
    if isinstance(url, httpx.URL):
        return url
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None


class ImageFetcher:
    """Fetches images under the policy in `settings`; create and use it inside one event loop."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        observe: Callable[[str, float], None] | None = None,
        resolver: Resolver | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._observe = observe
        self._rand = rand
        self._allow = AllowList.parse(settings.allow_hosts)
        self._trusted = AllowList.parse(settings.trusted_hosts)
        self._backend = GuardedBackend(self._allow, resolver or system_resolver)
        self._limits = FetchLimits(
            total=settings.concurrency,
            per_key=settings.per_host_concurrency,
            max_waiters=settings.max_waiters_per_host,
            wait_s=settings.slot_wait_s,
        )
        self._trusted_limits = FetchLimits(
            total=settings.trusted_concurrency,
            per_key=settings.trusted_concurrency,
            max_waiters=None,
            wait_s=settings.slot_wait_s,
        )
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept": "image/*",
            "Accept-Encoding": "identity",
        }
        self._timeouts = httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.total_timeout_s,
        ).as_dict()
        self._transport = GuardedTransport(self._backend, max_connections=settings.concurrency)
        trusted_tls = new_ssl_context()  # one for all the trusted transports: see new_ssl_context
        self._trusted_pool = TransportPool(
            lambda: GuardedTransport(
                self._backend,
                max_connections=1,
                keepalive_expiry=_TRUSTED_KEEPALIVE_S,
                http2=settings.trusted_http2,
                ssl_context=trusted_tls,
            ),
            connections=settings.trusted_concurrency,
        )

    async def fetch(self, url: str) -> FetchResult:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout_at(start + self._settings.total_timeout_s) as timeout:
                step = await self._with_retries(url, timeout)
        except TimeoutError:
            step = _failed("timeout")
        except Exception:  # a bug here must not take the consumer down with it
            log.exception("image fetch of %r failed unexpectedly", url)
            step = _failed("error")
        elapsed = loop.time() - start
        if self._observe is not None:
            try:
                self._observe(step.reason or "ok", elapsed)
            except Exception:  # a metrics hook must not turn a fetch into a crash
                log.exception("fetch observer failed")
        if step.status != "ok":
            log.debug("image %s: %s (%s) after %.3fs", url, step.status, step.reason, elapsed)
        return FetchResult(step.status, step.data, step.reason, elapsed, step.url)

    async def aclose(self) -> None:
        await self._transport.aclose()
        await self._trusted_pool.aclose()

    async def _with_retries(self, url: str, timeout: asyncio.Timeout) -> _Step:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            step = await self._follow(url, timeout)
            if step.status != "failed":
                return step
            wait = backoff_delay(
                attempt, base_s=self._settings.backoff_s, cap_s=self._settings.backoff_max_s, rand=self._rand
            )
            remaining = (timeout.when() or loop.time()) - loop.time()
            if not should_retry(step.reason, attempt, self._settings.retries, wait, remaining):
                return step
            await asyncio.sleep(wait)
            attempt += 1

    async def _follow(self, url: str, timeout: asyncio.Timeout) -> _Step:
        """One try: the request and its redirects, each hop checked before it is requested."""
        current: str | httpx.URL = url
        seen: set[str] = set()
        for _ in range(self._settings.max_redirects + 1):
            hop = _parse(current)  # once: the check and the request read the same parsed URL
            refused = check_url(current if hop is None else hop, self._allow)
            if refused is not None:
                return _Step("failed" if refused == "invalid_url" else "blocked", refused, url=str(current))
            assert hop is not None  # check_url refuses what does not parse
            key = str(hop)
            if "#" in key:
                key = str(hop.copy_with(fragment=None))
            if key in seen:
                return _failed("redirect_loop", key)
            seen.add(key)
            step = await self._request(hop, timeout)
            if step.redirect is None:
                return step
            try:
                current = hop.join(step.redirect)
            except httpx.InvalidURL:
                return _failed("bad_redirect", key)
        return _failed("too_many_redirects", str(current))

    async def _request(self, url: httpx.URL, timeout: asyncio.Timeout) -> _Step:
        """One GET: a redirect to follow, or the outcome. Transport errors become reason codes.

        Slots are taken in one order (domain, address, global) so that no two requests wait on each
        other in a cycle. The name is resolved inside the domain's slot: a slow resolver for a hostile
        domain spends that domain's budget only."""
        where = str(url)
        host, port = url.raw_host.decode("ascii"), url_port(url)
        try:
            async with contextlib.AsyncExitStack() as held:
                if self._trusted.allows(host, port):
                    await self._slot(held, self._trusted_limits.hold_total(), timeout)
                    transport = held.enter_context(self._trusted_pool.pick((url.scheme, host, port)))
                    return await self._get(transport, url, where)
                await self._slot(held, self._limits.hold(domain_key(host)), timeout)
                addresses = await self._backend.checked_addresses(host, port)
                await self._slot(held, self._limits.hold(address_key(addresses[0])), timeout)
                await self._slot(held, self._limits.hold_total(), timeout)
                held.enter_context(pinned_addresses(host, port, addresses))
                return await self._get(self._transport, url, where)
        except NoSlot as exc:
            log.debug("image fetch not started: %s", exc)
            return _failed(exc.reason, where)
        except BlockedAddress as exc:
            log.info("image fetch refused: %s", exc)
            return _Step("blocked", "private_address", url=where)
        except ResolveError:
            return _failed("dns", where)
        except httpx.TimeoutException:
            return _failed("timeout", where)
        except httpx.ConnectError:
            return _failed("connect", where)
        except (httpx.ReadError, httpx.WriteError):
            return _failed("read", where)
        except httpx.ProtocolError:
            return _failed("protocol", where)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return _failed("invalid_url", where)
        except httpx.HTTPError:
            return _failed("http_error", where)

    async def _slot(
        self,
        held: contextlib.AsyncExitStack,
        slot: AbstractAsyncContextManager[None],
        timeout: asyncio.Timeout,
    ) -> None:
        """Enter `slot` on `held`. Waiting for a slot is backpressure, not slowness of the image's host:
        the deadline is stopped meanwhile (the wait has its own bound), so it measures the fetch itself."""
        loop = asyncio.get_running_loop()
        when, queued = timeout.when(), loop.time()
        timeout.reschedule(None)
        try:
            await held.enter_async_context(slot)
        finally:
            timeout.reschedule(None if when is None else when + loop.time() - queued)

    async def _get(self, transport: httpx.AsyncBaseTransport, url: httpx.URL, where: str) -> _Step:
        request = httpx.Request("GET", url, headers=self._headers, extensions={"timeout": self._timeouts})
        response = await transport.handle_async_request(request)
        try:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                return _Step("failed", redirect=location) if location else _failed("bad_redirect", where)
            if response.status_code != 200:
                return _failed(f"http_{response.status_code}", where)
            return await self._read_body(response, where)
        finally:
            await response.aclose()  # unread body: httpcore drops the connection instead of reusing it

    async def _read_body(self, response: httpx.Response, where: str) -> _Step:
        limit = self._settings.max_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):  # asked for identity: a compressed body could be a bomb
            return _failed("content_encoding", where)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _failed("too_large", where)  # refused before reading a byte
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return _failed("too_large", where)  # leaving the block drops the connection
        data = b"".join(chunks)  # one copy of the body (a growing bytearray copies it several times)
        if sniff_image_type(data) is None:
            return _failed("not_image", where)
        return _Step("ok", data=data, url=where)

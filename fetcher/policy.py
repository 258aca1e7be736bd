"""The fetch policy as plain decisions: which URLs may be fetched, which hosts are trusted.

    >>> allow = AllowList.parse(["127.0.0.1:8123", "images.internal"])
    >>> check_url("http://127.0.0.1:8123/a.png", allow) is None      # allow-listed host:port
    True
    >>> check_url("http://127.0.0.1:9999/a.png", allow)
    'private_address'
    >>> check_url("file:///etc/passwd", allow)
    'scheme'

`check_url` refuses what it can see in the URL alone (scheme, a literal private address in any
spelling) before any connection is made. Host NAMES are judged later, at the connection layer
(`fetcher.network`), against the addresses they actually resolve to, on every redirect hop.

An allow-list entry is "host" (any port) or "host:port" ("[::1]:8080" for IPv6). It names the host
as written in the URL (case-insensitive, trailing dot ignored, literal IPs in canonical form); it
exempts that host from the private-address rule only, never from the scheme rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from fetcher.addresses import IPAddress, address_class, literal_ip

SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")


def normalise_host(host: str) -> str:
    """The form hosts are compared in: lower case, no trailing dot, literal IPs canonical."""
    h = host.strip().strip("[]").lower().rstrip(".")
    ip = literal_ip(h)
    return str(ip) if ip is not None else h


@dataclass(frozen=True)
class AllowList:
    """Trusted hosts: `any_port` holds bare hosts, `with_port` holds (host, port) pairs."""

    any_port: frozenset[str] = frozenset()
    with_port: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        any_port: set[str] = set()
        with_port: set[tuple[str, int]] = set()
        for entry in entries:
            host, port = split_host_port(entry)
            if port is None:
                any_port.add(normalise_host(host))
            else:
                with_port.add((normalise_host(host), port))
        return cls(frozenset(any_port), frozenset(with_port))

    def allows(self, host: str, port: int) -> bool:
        h = normalise_host(host)
        return h in self.any_port or (h, port) in self.with_port


def split_host_port(entry: str) -> tuple[str, int | None]:
    """ "host" / "host:port" / "[v6]" / "[v6]:port" / a bare IPv6 address -> (host, port or None)."""
    e = entry.strip()
    if not e:
        raise ValueError("empty allow-list entry")
    if e.startswith("["):
        host, _, rest = e[1:].partition("]")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"bad allow-list entry {entry!r}")
        return host, _port(rest[1:], entry)
    if e.count(":") > 1:  # a bare IPv6 address has no port
        return e, None
    host, sep, port = e.partition(":")
    return host, (_port(port, entry) if sep else None)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in allow-list entry {entry!r}")
    return int(text)


def url_port(url: httpx.URL) -> int:
    return url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme, 0)


def check_url(url: str | httpx.URL, allow: AllowList) -> str | None:
    """None when the URL may be fetched so far; otherwise the reason it is refused.

    Reasons: "invalid_url", "scheme", "private_address".
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return _unparseable(str(url), allow)
    if parsed.scheme not in SCHEMES:
        return "scheme"
    if not parsed.host or not 0 < url_port(parsed) < 65536:
        return "invalid_url"
    ip = literal_ip(parsed.host)
    if ip is not None:
        return check_address(ip, parsed.host, url_port(parsed), allow)
    return None


def check_address(ip: IPAddress, host: str, port: int, allow: AllowList) -> str | None:
    """None when `host` (as the URL names it) may be reached at `ip`; else "private_address"."""
    if address_class(ip) is None or allow.allows(host, port):
        return None
    return "private_address"


def _unparseable(url: str, allow: AllowList) -> str:
    """httpx cannot fetch it anyway; still name a refused scheme or address as what it is."""
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() not in SCHEMES:
        return "scheme"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or _DEFAULT_PORTS[scheme.group(1).lower()]
    except ValueError:
        return "invalid_url"
    ip = literal_ip(host)
    if ip is not None and check_address(ip, host, port, allow):
        return "private_address"
    return "invalid_url"

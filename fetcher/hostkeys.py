"""Which budget a fetch spends: hosts keyed by registrable domain, connections by resolved address.

    >>> domain_key("a.evil.com"), domain_key("b.evil.com")      # one site, one budget
    ('evil.com', 'evil.com')
    >>> domain_key("x.evil.co.uk"), domain_key("127.0.0.1"), domain_key("localhost")
    ('evil.co.uk', '127.0.0.1', 'localhost')
    >>> address_key("127.0.0.1")
    'addr:127.0.0.1'

A hostile site owns every name under its registrable domain ("eTLD+1", per the Public Suffix List that
the pinned `publicsuffixlist` wheel ships: no download at run time), so keying the per-host limits by
host name would hand it one budget per subdomain. Literal IPs, single-label names and names that are
themselves a public suffix key as themselves. Many domains can still point at one server: the
connection layer keys that by the address it connects to; the prefix keeps the two kinds of key apart.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

from fetcher.addresses import literal_ip
from fetcher.policy import normalise_host


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # parses the list bundled in the wheel, once per process


@functools.lru_cache(maxsize=4096)
def domain_key(host: str) -> str:
    """The registrable domain of `host` (normalised), or the host itself where it has none."""
    h = normalise_host(host)
    if literal_ip(h) is not None or "." not in h:
        return h
    return _suffixes().privatesuffix(h) or h


def address_key(address: str) -> str:
    """The key of one resolved address, distinct from any domain key."""
    return f"addr:{normalise_host(address)}"

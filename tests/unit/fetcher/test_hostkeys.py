"""Which budget a host spends: its registrable domain (Public Suffix List), or itself."""

from __future__ import annotations

import pytest

from fetcher.hostkeys import address_key, domain_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("a.evil.com", "evil.com"),
        ("b.evil.com", "evil.com"),
        ("x.y.z.evil.com", "evil.com"),
        ("A.EVIL.COM.", "evil.com"),  # normalised first
        ("evil.com", "evil.com"),
        ("a.evil.co.uk", "evil.co.uk"),  # a multi-label public suffix
        ("b.c.evil.co.uk", "evil.co.uk"),
        ("good.co.uk", "good.co.uk"),
        ("co.uk", "co.uk"),  # itself a public suffix: keys as itself
        ("com", "com"),
        ("localhost", "localhost"),  # single label
        ("images", "images"),
        ("127.0.0.1", "127.0.0.1"),  # literal IPs key as themselves, never as "0.1"
        ("203.0.113.7", "203.0.113.7"),
        ("::1", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("alice.github.io", "alice.github.io"),  # private-section suffix: each user is a site
    ],
)
def test_domain_key(host: str, key: str) -> None:
    assert domain_key(host) == key


def test_subdomains_share_one_key_and_strangers_do_not() -> None:
    hosts = [f"s{i}.evil.com" for i in range(50)] + [f"s{i}.evil.co.uk" for i in range(50)]
    assert {domain_key(h) for h in hosts} == {"evil.com", "evil.co.uk"}
    assert domain_key("evil.com") != domain_key("evil.co.uk") != domain_key("notevil.com")


def test_address_keys_never_collide_with_domain_keys() -> None:
    assert address_key("127.0.0.1") == "addr:127.0.0.1"
    assert address_key("2001:DB8::1") == "addr:2001:db8::1"
    assert address_key("127.0.0.1") != domain_key("127.0.0.1")

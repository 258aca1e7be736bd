"""URL policy and allow-list decisions, as tables."""

from __future__ import annotations

import pytest

from fetcher.policy import AllowList, check_url, normalise_host, split_host_port

ALLOW = AllowList.parse(["127.0.0.1:8123", "images.internal", "[::1]:9000", "10.0.0.5"])
NONE = AllowList.parse([])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # schemes
        ("http://example.com/a.png", None),
        ("https://example.com/a.png", None),
        ("HTTPS://EXAMPLE.COM/a.png", None),
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/a.png", "scheme"),
        ("data:image/png;base64,iVBORw0KGgo=", "scheme"),
        ("gopher://example.com/_GET", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("//example.com/a.png", "scheme"),  # no scheme at all
        ("/a.png", "scheme"),
        # malformed
        ("http:///a.png", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
        ("ftp://[::1/", "scheme"),
        # literal addresses, every spelling
        ("http://127.0.0.1/", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://2130706433/", "private_address"),
        ("http://0x7f.1/", "private_address"),
        ("http://0x7f000001/", "private_address"),
        ("http://0177.0.0.1/", "private_address"),  # httpx cannot parse it; still a refused address
        ("http://127.1/", "private_address"),
        ("http://2852039166/", "private_address"),  # 169.254.169.254 in decimal
        ("http://10.1.2.3:8080/", "private_address"),
        ("http://100.64.0.1/", "private_address"),
        ("http://[::1]:8080/", "private_address"),
        ("http://[::ffff:127.0.0.1]/", "private_address"),
        ("http://[fe80::1]/", "private_address"),
        ("http://[fc00::1]/", "private_address"),
        ("http://[64:ff9b::7f00:1]/", "private_address"),
        ("http://[2002:7f00:1::]/", "private_address"),
        ("http://0.0.0.0/", "private_address"),
        ("http://224.0.0.1/", "private_address"),
        ("http://93.184.215.14/", None),
        ("http://[2606:4700::1111]/", None),
        # host names are judged at connect time, not here
        ("http://localhost/", None),
        ("http://internal.example/", None),
    ],
)
def test_check_url_without_allow_list(url: str, expected: str | None) -> None:
    assert check_url(url, NONE) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8123/a.png", None),  # host:port entry
        ("http://127.0.0.1:8124/a.png", "private_address"),  # other port
        ("http://127.0.0.1/a.png", "private_address"),  # default port is not 8123
        ("http://2130706433:8123/a.png", None),  # same address, other spelling
        ("http://[::1]:9000/", None),
        ("http://[::1]:9001/", "private_address"),
        ("http://10.0.0.5/", None),  # bare host: any port
        ("http://10.0.0.5:1234/", None),
        ("https://10.0.0.5/", None),
        ("ftp://10.0.0.5/", "scheme"),  # allow-listing never lifts the scheme rule
        ("file://127.0.0.1:8123/etc/passwd", "scheme"),
        ("http://169.254.169.254/", "private_address"),
    ],
)
def test_check_url_with_allow_list(url: str, expected: str | None) -> None:
    assert check_url(url, ALLOW) == expected


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("127.0.0.1", 8123, True),
        ("127.0.0.1", 80, False),
        ("images.internal", 80, True),
        ("IMAGES.INTERNAL.", 8443, True),  # case and trailing dot ignored
        ("other.internal", 80, False),
        ("::1", 9000, True),
        ("[::1]", 9000, True),
        ("0:0:0:0:0:0:0:1", 9000, True),  # canonical form compared
        ("localhost", 8123, False),  # names the host as written: localhost is not 127.0.0.1
    ],
)
def test_allow_list(host: str, port: int, allowed: bool) -> None:
    assert ALLOW.allows(host, port) is allowed


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("host", ("host", None)),
        ("host:8080", ("host", 8080)),
        ("127.0.0.1:8123", ("127.0.0.1", 8123)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", None)),
        ("::1", ("::1", None)),
        ("fe80::1", ("fe80::1", None)),
    ],
)
def test_split_host_port(entry: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(entry) == expected


@pytest.mark.parametrize("entry", ["", "host:", "host:abc", "host:0", "host:70000", "[::1]x"])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        AllowList.parse([entry])


@pytest.mark.parametrize(
    ("host", "expected"),
    [("Example.COM.", "example.com"), ("0x7f.1", "127.0.0.1"), ("[::1]", "::1"), ("2130706433", "127.0.0.1")],
)
def test_normalise_host(host: str, expected: str) -> None:
    assert normalise_host(host) == expected

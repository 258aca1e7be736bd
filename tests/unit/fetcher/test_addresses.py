"""Which addresses an image fetch may connect to, one row per address class and spelling."""

from __future__ import annotations

import ipaddress

import pytest

from fetcher.addresses import address_class, embedded_ipv4, literal_ip


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # public unicast: allowed
        ("93.184.215.14", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),  # mapped public v4 is public
        ("2002:808:808::1", None),  # 6to4 of a public v4
        ("64:ff9b::808:808", None),  # NAT64 of a public v4
        # IPv4 classes
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),  # CGNAT
        ("100.127.255.254", "shared"),
        ("169.254.169.254", "link_local"),  # cloud metadata
        ("169.254.0.1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),  # "this network"
        ("240.0.0.1", "private"),  # reserved 240/4 (the stdlib files it under private)
        ("255.255.255.255", "private"),  # broadcast
        ("192.0.2.10", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        # IPv6 classes
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456:789a::1", "private"),
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private"),  # documentation
        # IPv6 forms carrying a private IPv4
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link_local"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link_local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("::7f00:1", "loopback"),  # IPv4-compatible ::127.0.0.1
    ],
)
def test_address_class(address: str, expected: str | None) -> None:
    assert address_class(ipaddress.ip_address(address)) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("64:ff9b::102:304", "1.2.3.4"),
        ("2002:102:304::", "1.2.3.4"),
        ("::102:304", "1.2.3.4"),
        ("::1", None),
        ("::", None),
        ("2606:4700::1", None),
    ],
)
def test_embedded_ipv4(address: str, expected: str | None) -> None:
    inner = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(inner) if inner is not None else None) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("0x7f000001", "127.0.0.1"),  # hex
        ("0x7f.1", "127.0.0.1"),  # hex, two parts
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("017700000001", "127.0.0.1"),  # octal, one part
        ("127.1", "127.0.0.1"),  # two parts
        ("127.0.1", "127.0.0.1"),  # three parts
        ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("example.com", None),
        ("1e100.net", None),
        ("localhost", None),
        ("999.1.1.1", None),  # out of range: no resolver connects anywhere
        ("4294967296", None),
    ],
)
def test_literal_ip(host: str, expected: str | None) -> None:
    ip = literal_ip(host)
    assert (str(ip) if ip is not None else None) == expected

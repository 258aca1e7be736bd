"""Which IP addresses an image fetch may connect to: only public unicast ones.

    >>> address_class(ipaddress.ip_address("169.254.169.254"))
    'link_local'
    >>> address_class(ipaddress.ip_address("::ffff:10.0.0.1"))     # IPv4-mapped: judged as 10.0.0.1
    'private'
    >>> address_class(ipaddress.ip_address("93.184.215.14")) is None
    True
    >>> literal_ip("0x7f.1")                                       # what inet_aton makes of it
    IPv4Address('127.0.0.1')

IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64
64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address inside them, so ::ffff:127.0.0.1 and
2002:7f00:1:: are loopback. Anything the standard library does not call global is refused too
(documentation, benchmarking, 240/4, ...): the rule is an allow-list of public unicast, not a deny-list.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")
# Every form inet_aton accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_INET_ATON = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


def address_class(ip: IPAddress) -> str | None:
    """None for a public unicast address; otherwise why it is refused (a short class name)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return address_class(inner)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "reserved"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it is one of the forms that carry one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_COMPAT and int(ip) > 1:  # ::a.b.c.d (deprecated); :: and ::1 are themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=4096)
def literal_ip(host: str) -> IPAddress | None:
    """The address a URL host names literally, in any spelling a resolver would accept, else None.

    Dotted quads, IPv6 (with or without brackets or a zone), and the inet_aton forms:
    "2130706433", "0x7f.1", "0177.0.0.1", "127.1" are all 127.0.0.1.

    Cached (a pure function of the text; the addresses are immutable): a fetch asks it of the same
    host several times (the URL check, the allow-list, the trusted hosts), and a name costs two
    failed parses each time. Bounded, so a stream of distinct hostile hosts only evicts.
    """
    h = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if _INET_ATON.match(h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h.rstrip(".")))
        except OSError:
            return None  # looks numeric but out of range: no resolver will connect anywhere
    return None

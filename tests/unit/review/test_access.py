"""Basic auth and the cross-site rule, as tables."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from review.access import authenticate, cross_site_reason
from review.cli import access_problem, is_loopback

USERS = {"alice": SecretStr("s3cret"), "bob": SecretStr("pw:with:colons")}


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("alice:s3cret"), "alice"),
        (basic("bob:pw:with:colons"), "bob"),
        ("basic " + base64.b64encode(b"alice:s3cret").decode(), "alice"),
        (basic("alice:wrong"), None),
        (basic("alice:"), None),
        (basic("carol:s3cret"), None),
        (basic("alices3cret"), None),
        ("Basic !!!notbase64", None),
        ("Bearer abc", None),
        ("", None),
        (None, None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
    ],
)
def test_authenticate(header: str | None, expected: str | None) -> None:
    assert authenticate(header, USERS) == expected


def test_no_users_means_nobody() -> None:
    assert authenticate(basic("alice:s3cret"), {}) is None


SAME = {"host": "127.0.0.1:8088", "origin": "http://127.0.0.1:8088", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", {}, None),
        ("HEAD", {"origin": "http://evil.example"}, None),
        ("POST", SAME, None),
        ("POST", SAME | {"sec-fetch-site": "same-origin"}, None),
        ("POST", SAME | {"content-type": "application/json; charset=utf-8"}, None),
        ("POST", {k: v for k, v in SAME.items() if k != "origin"}, "no_origin"),
        ("POST", SAME | {"origin": "http://evil.example"}, "cross_origin"),
        ("POST", SAME | {"origin": "https://127.0.0.1:8088"}, "cross_origin"),
        ("POST", SAME | {"origin": "null"}, "cross_origin"),
        ("POST", SAME | {"sec-fetch-site": "cross-site"}, "cross_site"),
        ("POST", SAME | {"sec-fetch-site": "same-site"}, "cross_site"),
        ("POST", SAME | {"content-type": "text/plain"}, "not_json"),
        ("POST", SAME | {"content-type": "application/x-www-form-urlencoded"}, "not_json"),
        ("DELETE", SAME | {"origin": "http://evil.example"}, "cross_origin"),
    ],
)
def test_cross_site_reason(method: str, headers: dict[str, str], expected: str | None) -> None:
    assert cross_site_reason(method, headers, "http") == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "users", "no_auth", "refused"),
    [
        ("127.0.0.1", {}, True, False),
        ("0.0.0.0", {}, True, True),
        ("0.0.0.0", USERS, True, True),
        ("127.0.0.1", {}, False, True),
        ("0.0.0.0", USERS, False, False),
        ("0.0.0.0", {"a:b": SecretStr("pw")}, False, True),
        ("0.0.0.0", {"": SecretStr("pw")}, False, True),
        ("0.0.0.0", {"alice": SecretStr("")}, False, True),
    ],
)
def test_access_problem(host: str, users: dict[str, SecretStr], no_auth: bool, refused: bool) -> None:
    assert (access_problem(host, users=users, no_auth=no_auth) is not None) is refused

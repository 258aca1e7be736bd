"""Who may use the console, and which requests may change anything.

    >>> app = AccessMiddleware(inner_app, users={"alice": SecretStr("pw")})   # or users=None: --no-auth
    >>> # inside a route: request.scope["moderator_id"] == "alice"

Every route needs HTTP basic auth against `MODSTREAM_REVIEW__USERS`; the authenticated name is the
moderator_id a decision carries (it is never read from a form). A browser sends basic credentials
with any request to the console, cross-site ones included, so a state-changing request must also
show that it comes from the console's own page: its `Origin` is the console's, `Sec-Fetch-Site` (when
sent) is `same-origin`, and its body is JSON, which a cross-site form cannot send without a CORS
preflight that the console never answers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD"})
NO_AUTH_MODERATOR = "local"
_REALM = 'Basic realm="modstream review", charset="UTF-8"'


def authenticate(header: str | None, users: Mapping[str, SecretStr]) -> str | None:
    """The moderator named by a basic `Authorization` header, or None when it does not check out.

    Every configured password is compared, in constant time, so the answer's timing does not say
    which names exist.
    """
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    if not sep:
        return None
    found: str | None = None
    for user, secret in users.items():
        name_ok = hmac.compare_digest(user.encode(), name.encode())
        password_ok = hmac.compare_digest(secret.get_secret_value().encode(), password.encode())
        if name_ok and password_ok:
            found = user
    return found


def cross_site_reason(method: str, headers: Mapping[str, str], scheme: str) -> str | None:
    """Why a request may not change state (None when it may). `headers` keys are lower case."""
    if method in SAFE_METHODS:
        return None
    host = headers.get("host")
    origin = headers.get("origin")
    if not host or not origin:
        return "no_origin"
    parts = urlsplit(origin)
    if parts.scheme != scheme or parts.netloc.lower() != host.lower():
        return "cross_origin"
    if headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return "cross_site"
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return "not_json"
    return None


class AccessMiddleware:
    """Pure ASGI middleware (it never buffers a response, so the event stream passes through)."""

    def __init__(self, app: ASGIApp, *, users: Mapping[str, SecretStr] | None) -> None:
        self._app = app
        self._users = users  # None = --no-auth (loopback only, enforced by the command)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._users is None:
            moderator: str | None = NO_AUTH_MODERATOR
        else:
            moderator = authenticate(headers.get("authorization"), self._users)
        if moderator is None:
            await _plain(send, 401, b"authentication required\n", [(b"www-authenticate", _REALM.encode())])
            return
        reason = cross_site_reason(scope["method"], headers, scope.get("scheme", "http"))
        if reason is not None:
            await _plain(send, 403, f"cross-site request refused: {reason}\n".encode(), [])
            return
        scope["moderator_id"] = moderator
        await self._app(scope, receive, send)


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

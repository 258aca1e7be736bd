"""Signed cache values: what the consumer writes into the result cache, and the checks a value read back must
pass before it is published.

    >>> codec = ResultCodec(b"secret")
    >>> raw = codec.seal(key, encode(result))                    # b"ms1:" + HMAC hex + ":" + Result JSON
    >>> codec.open(key, raw, labels=("NotHate", ...), version="v3", content_id=cid)
    Opened(result=Result(...), reason=None)                       # or Opened(None, "bad_signature"), ...

Anything read back from Redis is hostile (compose's Redis may be reachable by others; a key can be
written by anyone who can reach it). So a value counts only when every check passes; each failure is a
miss with a reason (the consumer counts them, `modstream_cache_rejected_total{reason}`), and the post is
scored afresh:

    reason          the value ...
    ──────────────  ───────────────────────────────────────────────────────────────────────────────────
    unsigned        does not have the `ms1:<hmac>:` frame
    bad_signature   carries an HMAC that is not HMAC-SHA256(signing key, cache key NUL value)
    not_result      is signed but is not a valid Result (scores outside [0, 1] or NaN fail here too)
    labels          scores another label set than the serving model's, or its top 3 are not its scores'
    mismatch        names another model version or content_id than the post's key stands for

The HMAC covers the cache key as well as the value, so a correctly signed value cannot be copied onto
another key (another text, image or model version). The key comes from `MODSTREAM_REDIS__SIGNING_KEY`;
`signing_key_for` decides when one is required (module docstring of consumer/cache.py).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from events.schemas import Result
from events.settings import RedisSettings

_MAGIC = b"ms1:"
_MAC_HEX = 64  # sha256 hex
REASONS = ("unsigned", "bad_signature", "not_result", "labels", "mismatch")


class SigningKeyMissing(ValueError):
    """A shared (Redis) cache without a signing key: the consumer refuses to start."""


@dataclass(frozen=True)
class Opened:
    result: Result | None
    reason: str | None  # one of REASONS when result is None


class ResultCodec:
    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the signing key is empty")
        self._key = key

    def _mac(self, cache_key: str, value: bytes) -> bytes:
        message = cache_key.encode("utf-8") + b"\0" + value
        return hmac.new(self._key, message, hashlib.sha256).hexdigest().encode("ascii")

    def seal(self, cache_key: str, value: bytes) -> bytes:
        return _MAGIC + self._mac(cache_key, value) + b":" + value

    def open(
        self,
        cache_key: str,
        raw: bytes,
        *,
        labels: Sequence[str],
        version: str,
        content_id: str | None,
    ) -> Opened:
        """The cached Result when `raw` is authentic and fits the serving model; else why not. `content_id`
        None: not known yet (the URL shortcut looks up before the fetch), so not compared."""
        head = len(_MAGIC) + _MAC_HEX
        if not raw.startswith(_MAGIC) or len(raw) <= head or raw[head : head + 1] != b":":
            return Opened(None, "unsigned")
        mac, value = raw[len(_MAGIC) : head], raw[head + 1 :]
        if not hmac.compare_digest(mac, self._mac(cache_key, value)):
            return Opened(None, "bad_signature")
        try:
            result = Result.model_validate_json(value)
        except Exception:  # even a signed value is checked: a bug or an old format must not be published
            return Opened(None, "not_result")
        if not _fits_labels(result, labels):
            return Opened(None, "labels")
        if result.model_version != version or result.content_id is None:
            return Opened(None, "mismatch")
        if content_id is not None and result.content_id != content_id:
            return Opened(None, "mismatch")
        return Opened(result, None)


def _fits_labels(result: Result, labels: Sequence[str]) -> bool:
    if set(result.scores) != set(labels) or len(result.scores) != len(labels):
        return False
    top = [(ls.label, ls.score) for ls in result.labels]
    if len(top) != min(3, len(labels)) or any(result.scores.get(label) != score for label, score in top):
        return False
    return all(a[1] >= b[1] for a, b in itertools.pairwise(top))


def signing_key_for(settings: RedisSettings) -> bytes:
    """The key that signs this cache's values. A Redis cache is shared by whoever can reach it, so it needs
    `MODSTREAM_REDIS__SIGNING_KEY` (else SigningKeyMissing, a one-line reason to refuse to start); the
    in-process memory:// cache is reachable only by this process, so it signs with a random key of its own
    when none is set."""
    if settings.signing_key is not None and settings.signing_key.get_secret_value():
        return settings.signing_key.get_secret_value().encode("utf-8")
    if settings.url.startswith("memory://"):
        return secrets.token_bytes(32)
    raise SigningKeyMissing(
        "MODSTREAM_REDIS__SIGNING_KEY is not set: a Redis result cache needs a signing key "
        "(any long random string, the same for every consumer), or set MODSTREAM_REDIS__URL=memory://"
    )

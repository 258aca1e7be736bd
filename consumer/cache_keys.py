"""Cache keys for results: the model version and the content actually scored, hashed.

    >>> cache_key("modstream:result:", "v3", "hello", image_digest(png_bytes))
    'modstream:result:5c1d...'          # prefix + sha256 hex (64 characters)
    >>> url_key("modstream:result:", "v3", "hello", "https://cdn.example/ab12.png")
    'modstream:result:url:9e0a...'      # opt-in, for immutable URLs: MODSTREAM_REDIS__URL_KEYED_HOSTS

The key covers exactly what the result depends on: the model version (a new model never reads an old
model's results) and the content scored, as `events.content.content_id` (the text and the sha256 of the
image BYTES: a picture swapped behind a URL is new content, and a repost under another URL is the same).
Not post_id, author, time or URL. The hashed document is canonical JSON (sorted keys, fixed separators,
ASCII escapes), so equal inputs give equal keys in every process and Python version.

`url_key` is keyed by the image URL instead, for lookups before the fetch; it is right only for hosts
whose URLs name immutable content, which the operator lists explicitly (README, "Cache security").
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from events.content import content_id

# Bump when the hashed document changes shape, so old entries are never misread.
KEY_FORMAT = 2


def _hash(document: dict[str, object]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def cache_key(prefix: str, model_version: str, text: str | None, image_sha256: str | None) -> str:
    """The key of a result scored by `model_version` from `text` and the image whose bytes hash to
    `image_sha256` (None: no image was scored)."""
    cid = content_id(text, image_sha256)
    return prefix + _hash({"format": KEY_FORMAT, "model_version": model_version, "content_id": cid})


def url_key(prefix: str, model_version: str, text: str | None, image_url: str) -> str:
    """The pre-fetch key of the opt-in URL shortcut (only for hosts in `url_keyed_hosts`)."""
    document = {"format": KEY_FORMAT, "model_version": model_version, "text": text, "image_url": image_url}
    return prefix + "url:" + _hash(document)


def url_keyed(image_url: str | None, hosts: frozenset[str]) -> bool:
    """Whether `image_url`'s host (or host:port) is one the operator declared immutable."""
    if not image_url or not hosts:
        return False
    try:
        parts = urlsplit(image_url)
        host = (parts.hostname or "").lower()
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host) and (host in hosts or netloc in hosts)

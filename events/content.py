"""What was scored, as one hash: the `content_id` of a Result, and how the trainer checks feedback by it.

    >>> image_sha = image_digest(b"\\x89PNG...")          # sha256 hex of the image BYTES, not of the URL
    >>> content_id("hello", image_sha)
    '3f9c...'                                             # 64 hex characters
    >>> content_id("hello", None) != content_id("hello", image_digest(b""))
    True

The consumer computes it from the text it scored and the sha256 of the image bytes it fetched; the
feedback service recomputes it from a decision's text and the image it fetched for it, and accepts the
decision only when the two agree. Both sides must hash the same document, so this is the only place
that builds it. The document is canonical JSON (sorted keys, fixed separators, ASCII escapes) with a
format number: None (no text / no image) stays distinct from "" and from the hash of empty bytes, and
the same content gives the same id in every process and Python version. Only what was scored goes in:
not the post_id, author, time or image URL, so a repost of the same content has the same id.
"""

from __future__ import annotations

import hashlib
import json

# Bump when the hashed document changes shape; ids of different formats never compare equal.
CONTENT_FORMAT = 1


def image_digest(data: bytes) -> str:
    """sha256 hex of the image bytes as fetched (before any decoding)."""
    return hashlib.sha256(data).hexdigest()


def content_id(text: str | None, image_sha256: str | None) -> str:
    """sha256 hex of the canonical document {format, text, image}: what a model scored."""
    document = {"format": CONTENT_FORMAT, "text": text, "image_sha256": image_sha256}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()

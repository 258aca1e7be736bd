"""Cache keys for results: the model version and the post's content, hashed.

    >>> cache_key("modstream:result:", "v3", "hello", None)
    'modstream:result:5c1d...'          # prefix + sha256 hex (64 characters)

The key covers exactly what the result depends on: the model version (a new model never reads an
old model's results) and the content scored (text and image URL; not post_id, author or time, so
the same content posted twice is a hit). The hashed document is canonical JSON (sorted keys, fixed
separators, ASCII escapes), so equal inputs give equal keys in every process and Python version,
and None stays distinct from "".
"""

from __future__ import annotations

import hashlib
import json

# Bump when the hashed document changes shape, so old entries are never misread.
KEY_FORMAT = 1


def cache_key(prefix: str, model_version: str, text: str | None, image_url: str | None) -> str:
    document = {"format": KEY_FORMAT, "model_version": model_version, "text": text, "image_url": image_url}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return prefix + hashlib.sha256(canonical.encode("ascii")).hexdigest()

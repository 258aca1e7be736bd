"""Dead letters: the original bytes travel unchanged, the headers say what went wrong where; and the
reference letter that stands in for an original too large to travel.

>>> headers = dead_letter_headers(stage="decode", error_type="not_json", message="...",
...                               topic="posts", partition=0, offset=42)
>>> dict(headers)["modstream.stage"]
b'decode'

A dead letter must always be sendable, but the original plus its headers may exceed what the producer
accepts (`message.max.bytes`, events/kafka.py): a post of MAX_MESSAGE_BYTES is refused by the decoder and
its letter is that plus headers. When `letter_size` exceeds the producer's limit less LETTER_HEADROOM,
the letter becomes a *reference letter* instead:

    value    JSON {"reference": 1, "source": {"topic", "partition", "offset"}, "length", "sha256",
                   "key_length", "head"}   (head = the first REFERENCE_HEAD_BYTES, as text, invalid
                                             UTF-8 replaced)
    key      the original key, cut to REFERENCE_KEY_BYTES
    headers  the usual ones, plus modstream.truncated = "reference"

The original is still on its source topic at that offset (until retention removes it). A reference
letter cannot be replayed: `modstream dlq replay` refuses it and says where the original is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

HEADER_PREFIX = "modstream."
MAX_MESSAGE_CHARS = 1000
TRUNCATED_HEADER = HEADER_PREFIX + "truncated"
# Room left under the producer's limit for the record's framing (varints, lengths, timestamps).
LETTER_HEADROOM = 4096
REFERENCE_HEAD_BYTES = 1024
REFERENCE_KEY_BYTES = 1024


def dead_letter_headers(
    *, stage: str, error_type: str, message: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    values = {
        "stage": stage,
        "error.type": error_type,
        "error.message": message[:MAX_MESSAGE_CHARS],
        "source.topic": topic,
        "source.partition": str(partition),
        "source.offset": str(offset),
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return [(HEADER_PREFIX + name, value.encode("utf-8", "replace")) for name, value in values.items()]


def parse_dead_letter_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """The modstream.* headers of a dead letter, prefix stripped."""
    out: dict[str, str] = {}
    for name, value in headers or []:
        if name.startswith(HEADER_PREFIX) and value is not None:
            out[name.removeprefix(HEADER_PREFIX)] = value.decode("utf-8", "replace")
    return out


def letter_size(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, str | bytes | None]] | None
) -> int:
    """What the producer counts against `message.max.bytes` for one message, less its framing."""
    size = len(key or b"") + len(value or b"")
    for name, header in headers or []:
        size += len(name.encode("utf-8", "replace")) + len(header or b"")
    return size


def fits(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, str | bytes | None]] | None,
    max_message_bytes: int,
) -> bool:
    return letter_size(key, value, headers) + LETTER_HEADROOM <= max_message_bytes


def reference_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    source: tuple[str, int, int],
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the reference letter standing in for the letter (key, value, headers)."""
    original = value or b""
    topic, partition, offset = source
    body = {
        "reference": 1,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "length": len(original),
        "sha256": hashlib.sha256(original).hexdigest(),
        "key_length": len(key or b""),
        "head": original[:REFERENCE_HEAD_BYTES].decode("utf-8", "replace"),
    }
    short_key = None if key is None else key[:REFERENCE_KEY_BYTES]
    out_headers = [*headers, (TRUNCATED_HEADER, b"reference")]
    return short_key, json.dumps(body).encode("utf-8"), out_headers


def is_reference(meta: dict[str, str]) -> bool:
    """Whether parsed headers (parse_dead_letter_headers) are those of a reference letter."""
    return meta.get("truncated") == "reference"

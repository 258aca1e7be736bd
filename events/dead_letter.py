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

Replay history. `modstream dlq replay` sets two headers on each message it re-publishes:
`modstream.replay.attempts` (how many times this original has been replayed, this one included) and
`modstream.replayed_from` (dlq-topic:partition:offset). When the replayed message fails again, the
stage that dead-letters it copies both onto the new letter (`carried_headers`), so the next replay
counts on from there and refuses past its limit instead of replaying the same failure forever:

    letter (attempts 0) -replay-> post (attempts=1) -fails-> letter (attempts 1) -replay-> ... -> refused
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
REPLAY_ATTEMPTS_HEADER = HEADER_PREFIX + "replay.attempts"
REPLAYED_FROM_HEADER = HEADER_PREFIX + "replayed_from"
_CARRIED = (REPLAY_ATTEMPTS_HEADER, REPLAYED_FROM_HEADER)
_CARRIED_MAX_BYTES = 256  # a replayed_from is "topic:partition:offset"; anything longer is not ours
_MAX_ATTEMPTS_DIGITS = 6


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


def carried_headers(
    headers: Sequence[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None,
) -> list[tuple[str, bytes]]:
    """The replay-history headers of a failing message, to copy onto its new dead letter (the last value
    of each, cut to a bound: the message is hostile, the reader of the letter parses it again)."""
    found: dict[str, bytes] = {}
    for name, value in headers.items() if isinstance(headers, dict) else headers or []:
        if name in _CARRIED and value is not None:
            raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
            found[name] = raw[:_CARRIED_MAX_BYTES]
    return [(name, found[name]) for name in _CARRIED if name in found]


def replay_attempts(meta: dict[str, str]) -> int | None:
    """How many times a dead letter's original was replayed (parsed headers): 0 when never; None when
    the header is not a small decimal number (a replay must refuse what it cannot count)."""
    raw = meta.get(REPLAY_ATTEMPTS_HEADER.removeprefix(HEADER_PREFIX))
    if raw is None:
        return 0
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_ATTEMPTS_DIGITS:
        return None
    return int(text)

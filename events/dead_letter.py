"""Dead-letter headers: the original bytes travel unchanged, the headers say what went wrong where.

>>> headers = dead_letter_headers(stage="decode", error_type="not_json", message="...",
...                               topic="posts", partition=0, offset=42)
>>> dict(headers)["modstream.stage"]
b'decode'
"""

from __future__ import annotations

from datetime import UTC, datetime

HEADER_PREFIX = "modstream."
MAX_MESSAGE_CHARS = 1000


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


def parse_dead_letter_headers(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """The modstream.* headers of a dead letter, prefix stripped."""
    out: dict[str, str] = {}
    for name, value in headers or []:
        if name.startswith(HEADER_PREFIX) and value is not None:
            out[name.removeprefix(HEADER_PREFIX)] = value.decode("utf-8", "replace")
    return out

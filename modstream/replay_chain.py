"""Which dead letters were already replayed and failed again: a second replay of those only duplicates.

    >>> chain = superseded_by(read_dead_letters(settings, dlq, since), dlq)    # a first pass over the DLQ
    >>> chain.get("posts-dlq:0:12")        # (digest of the original, address of the letter its replay became)

When a replayed post fails again, its new dead letter carries `modstream.replayed_from` = the address of
the letter it was replayed from (events/dead_letter.carried_headers). Replaying that older letter again
would put a second copy of the same failure in flight, and the DLQ would double with every full
replay; only the newest letter of a chain is replayed (its attempts counter then bounds the chain).

    0:5  original          (attempts 0)   superseded by 0:9
    0:9  replayed_from 0:5 (attempts 1)   superseded by 0:14
    0:14 replayed_from 0:9 (attempts 2)   <- the one a replay sends (as attempt 3)

A letter's headers are hostile, so a later letter supersedes an earlier one only when it also holds the
same key and value (sha256): a forged letter cannot silence a letter whose bytes its author does not
know. The map is bounded (MAX_TRACKED); past it, replay falls back on the attempts counter alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modstream.dlq import DeadLetter

log = logging.getLogger(__name__)

MAX_TRACKED = 1_000_000  # ~200 bytes an entry: at most ~200 MB for a DLQ with a million replayed letters

Chain = dict[str, tuple[str, str]]  # origin address -> (digest of key+value, address of the later letter)


def address(dlq_topic: str, partition: int, offset: int) -> str:
    return f"{dlq_topic}:{partition}:{offset}"


def digest(letter: DeadLetter) -> str:
    h = hashlib.sha256()
    for part in (letter.key, letter.value):
        h.update(b"-" if part is None else b"+%d:" % len(part) + part)
    return h.hexdigest()


def superseded_by(letters: Iterable[DeadLetter], dlq_topic: str) -> Chain:
    chain: Chain = {}
    for letter in letters:
        origin = letter.meta.get("replayed_from")
        if not origin:
            continue
        if len(chain) >= MAX_TRACKED:
            log.warning(
                "more than %d replayed letters: older chains are judged by their counter only", MAX_TRACKED
            )
            break
        chain[origin[:256]] = (digest(letter), address(dlq_topic, letter.partition, letter.offset))
    return chain

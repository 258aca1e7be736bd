"""The replay-history headers: carried from a failing message onto its dead letter, read back as hostile."""

from __future__ import annotations

import pytest

from events.dead_letter import carried_headers, parse_dead_letter_headers, replay_attempts


@pytest.mark.parametrize(
    ("value", "attempts"),
    [
        (None, 0),
        ("0", 0),
        ("2", 2),
        (" 3 ", 3),
        ("-1", None),
        ("1e3", None),
        ("٣", None),
        ("9" * 7, None),
        ("", None),
    ],
)
def test_replay_attempts_is_a_small_decimal_or_unreadable(value: str | None, attempts: int | None) -> None:
    meta = {} if value is None else {"replay.attempts": value}
    assert replay_attempts(meta) == attempts


def test_only_the_replay_headers_are_carried_the_last_value_of_each_and_bounded() -> None:
    headers: list[tuple[str, str | bytes | None]] = [
        ("modstream.replay.attempts", b"1"),
        ("modstream.stage", b"forged"),
        ("modstream.replay.attempts", b"2"),
        ("modstream.replayed_from", "x" * 10_000),
        ("other", b"y"),
    ]
    carried = carried_headers(headers)
    assert [name for name, _ in carried] == ["modstream.replay.attempts", "modstream.replayed_from"]
    meta = parse_dead_letter_headers(carried)
    assert meta["replay.attempts"] == "2" and len(meta["replayed_from"]) == 256
    assert carried_headers(None) == [] and carried_headers({"modstream.replay.attempts": b"4"}) == [
        ("modstream.replay.attempts", b"4")
    ]

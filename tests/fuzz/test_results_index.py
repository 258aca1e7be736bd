"""Fuzz target (c): hostile values on the results topic through the feedback service's results index.

The feedback service reads `moderation-results` to know what was scored under each post_id (its content
check compares a decision with the published content_id), so whoever can write to that topic can send it
anything. `ScoredIndex.record_many` with a real SQLite index in a temp dir: a batch of hostile values
never raises, exactly the values that decode as a Result are indexed, and each indexed one reads back
with the content_id and scores it was published with.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from feedback.scored import ScoredIndex, parse_result
from tests.fuzz.grammar import results


@given(st.lists(results(), min_size=1, max_size=6))
def test_every_result_value_is_indexed_or_skipped(raws: list[bytes | None]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="fuzz-scored-"))
    index = ScoredIndex.open(directory)
    try:
        parsed = [parse_result(raw) for raw in raws]
        indexed = index.record_many(raws, now=0.0)
        valid = [result for result in parsed if result is not None]
        assert indexed == len(valid)
        event(f"indexed {indexed} of {len(raws)}")
        latest = {result.post_id: result for result in valid}  # a later value for a post_id replaces it
        for post_id, result in latest.items():
            stored = index.get(post_id)
            assert stored is not None
            assert stored.content_id == result.content_id and stored.scores == result.scores
    finally:
        index.close()
        shutil.rmtree(directory, ignore_errors=True)

"""Promotion as a compare-and-set: judge a staged candidate against the serving version, under the lock.

    >>> outcome = promote_if_better(staged, version=name, build=build, registry=registry, judge=judge,
    ...                             lock_timeout_s=600)

`build(directory, judgement)` writes the checkpoint (its report says what decided).
`judge(current_version)` evaluates the candidate against that version (held-out feedback and the
trusted eval set; trainer.promotion decides). It runs once without the lock (it is slow, and most
candidates lose), then, only when it says promote, the registry lock is taken and CURRENT re-read:

    judge(A) -> promote?  no: done, nothing changed
                          yes: lock; CURRENT still A?  yes: publish(expect_current=A), unlock
                                                      no (now B): judge(B) inside the lock, publish
                                                                  only if it beats B too

So a second trainer that promoted meanwhile is always compared with; the last writer no longer wins.
The judging inside the lock holds other promoters off for as long as it takes, which is what makes
the comparison and the switch one step (their wait is bounded by `lock_timeout_s`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.registry import ModelRegistry
from trainer.promotion import Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    current: str | None  # the version the candidate was compared with
    decision: Decision
    section: dict[str, Any]  # the report's "promotion" section (sets, figures, which gate decided)
    reports: dict[str, Any]  # full evaluation reports: current, eval_set_candidate, eval_set_current
    metrics: dict[str, float]  # flat figures for the model-updates event


@dataclass(frozen=True)
class GateOutcome:
    version: str | None  # published, or None
    judgement: Judgement
    rejudged: bool  # CURRENT moved between the first judging and the lock


def promote_if_better(
    *,
    version: str,
    build: Callable[[Path, Judgement], object],
    registry: ModelRegistry,
    judge: Callable[[str | None], Judgement],
    lock_timeout_s: float,
) -> GateOutcome:
    judgement = judge(registry.current())
    if not judgement.decision.promote:
        return GateOutcome(None, judgement, rejudged=False)
    with registry.lock(timeout_s=lock_timeout_s):
        now = registry.current()
        rejudged = now != judgement.current
        if rejudged:
            log.info("CURRENT moved from %s to %s meanwhile: judging again", judgement.current, now)
            judgement = judge(now)
            if not judgement.decision.promote:
                return GateOutcome(None, judgement, rejudged=True)
        final = judgement
        published = registry.publish(lambda d: build(d, final), version=version, expect_current=now)
    return GateOutcome(published, judgement, rejudged)

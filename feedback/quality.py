"""Live precision and recall: what the models flagged, as judged by moderators, over a sliding window.

    >>> window = QualityWindow(window_s=3600, max_judged=100_000, clock=time.time, thresholds=lambda v: {})
    >>> window.add(outcome.judged, benign_label="NotHate")     # verified decisions next to their results
    >>> window.counts()[("v1", "Racist")]
    Counts(tp=8, fp=2, fn=1)                  # precision 0.8, recall 8/9

Per model version and per label, over the decisions taken in the last `window_s` seconds (by the
service's clock, when it stored them):

    predicted   the result's score for the label >= that version's threshold (its checkpoint's; 0.5 when
                the version is not in the registry)
    true        the moderator's label set names the label
    tp / fp / fn   predicted and true / predicted, not true / true, not predicted

plus the pseudo-label `flagged`: the result's `flagged` against "the moderator named any label but the
benign one". Precision is tp / (tp + fp), recall tp / (tp + fn); a ratio with a zero denominator is not
exported (no data is not 0). One entry per post_id: a later decision on the same post replaces the
earlier one, so a redelivered or repeated decision is counted once. Bounded: at most `max_judged` posts
(the oldest go first) and the `max_versions` most recently judged versions are exported (a results
topic is anyone's bytes, and each version is a metric series).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from feedback.ingest import Judged

FLAGGED = "flagged"  # the pseudo-label of the binary view
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass(frozen=True)
class _Entry:
    at: float
    version: str
    predicted: frozenset[str]
    true: frozenset[str]
    labels: tuple[str, ...]  # the labels the result scored (what a label's absence means)


class QualityWindow:
    def __init__(
        self,
        *,
        window_s: float,
        max_judged: int,
        clock: Callable[[], float],
        thresholds: Callable[[str], Mapping[str, float]],
        max_versions: int = 20,
    ) -> None:
        self._window_s = window_s
        self._max = max_judged
        self._clock = clock
        self._thresholds = thresholds
        self._max_versions = max_versions
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # post_id -> entry, oldest first

    def add(self, judged: Sequence[Judged], *, benign_label: str | None) -> None:
        now = self._clock()
        for item in judged:
            scored = item.scored
            try:
                thresholds = self._thresholds(scored.model_version)
            except Exception:  # an unknown or hostile version name: the default threshold
                thresholds = {}
            predicted = {
                label
                for label, score in scored.scores.items()
                if label != benign_label and score >= thresholds.get(label, DEFAULT_THRESHOLD)
            }
            true = {label for label in item.labels if label != benign_label}
            if scored.flagged:
                predicted.add(FLAGGED)
            if true:
                true.add(FLAGGED)
            labels = (*(name for name in scored.scores if name != benign_label), FLAGGED)
            self._entries.pop(item.post_id, None)
            self._entries[item.post_id] = _Entry(
                now, scored.model_version, frozenset(predicted), frozenset(true), labels
            )
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _live(self) -> Iterator[_Entry]:
        horizon = self._clock() - self._window_s
        while self._entries:
            post_id, oldest = next(iter(self._entries.items()))
            if oldest.at >= horizon:
                break
            del self._entries[post_id]
        yield from self._entries.values()

    def counts(self) -> dict[tuple[str, str], Counts]:
        """(model_version, label) -> counts over the window, for the most recent `max_versions`."""
        tallies: dict[tuple[str, str], list[int]] = {}
        recent: OrderedDict[str, None] = OrderedDict()
        for entry in self._live():
            recent.pop(entry.version, None)
            recent[entry.version] = None
            for label in entry.labels:
                p, t = label in entry.predicted, label in entry.true
                if p or t:
                    tally = tallies.setdefault((entry.version, label), [0, 0, 0])
                    tally[0 if p and t else 1 if p else 2] += 1
        keep = set(list(recent)[-self._max_versions :])
        return {key: Counts(*tally) for key, tally in tallies.items() if key[0] in keep}


class QualityCollector(Collector):
    """Prometheus view of a QualityWindow, computed at scrape time."""

    def __init__(self, window: QualityWindow) -> None:
        self._window = window

    def collect(self) -> Iterator[GaugeMetricFamily]:
        names = ["model_version", "label"]
        precision = GaugeMetricFamily(
            "modstream_feedback_precision",
            "precision of the model's flags as judged by moderators",
            labels=names,
        )
        recall = GaugeMetricFamily(
            "modstream_feedback_recall", "recall of the model's flags as judged by moderators", labels=names
        )
        judged = GaugeMetricFamily(
            "modstream_feedback_judged", "judged outcomes in the window", labels=[*names, "outcome"]
        )
        for (version, label), counts in sorted(self._window.counts().items()):
            p, r = counts.precision(), counts.recall()
            if p is not None:
                precision.add_metric([version, label], p)
            if r is not None:
                recall.add_metric([version, label], r)
            for outcome, n in (("tp", counts.tp), ("fp", counts.fp), ("fn", counts.fn)):
                judged.add_metric([version, label, outcome], n)
        yield precision
        yield recall
        yield judged
